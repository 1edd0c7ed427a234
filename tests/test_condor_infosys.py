"""An HTCondor site read back (issue 16, "Reading them back"): what ``pps-gip-provider`` says of a
node whose probe advertises the preview in HTCondor's ``PPS_RTE`` (the pool has no GLUE of its
own: the site's GIP provider publishes the advertised tags as a gLite site's), and the same site
in ``pps infosys map`` / ``check`` with its kind, through the embedded default and a real BDII.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pps.glue import parse_ldif
from pps.names import PREVIEW_CAPABILITY
from tests.bdii_helpers import gip_command
from tests.probe_helpers import Site, add_release, make_manifest, make_site, run_probe
from tests.test_arc_probe import TAG, condor_node


def gip(site_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gip_command(), "--site-config", str(site_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def published(ldif: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(GLUE 1.3 RTE values, GLUE 2.0 (AppName, State)) of a GIP provider's output."""
    entries = parse_ldif(ldif)
    glue1 = [v for e in entries for v in e.get("GlueHostApplicationSoftwareRunTimeEnvironment")]
    glue2 = [
        (e.first("GLUE2ApplicationEnvironmentAppName"), e.first("GLUE2ApplicationEnvironmentState"))
        for e in entries
        if e.has_class("GLUE2ApplicationEnvironment")
    ]
    return glue1, glue2


def condor_site(tmp_path: Path) -> tuple[Site, Path]:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    _config, config_d = condor_node(tmp_path)
    site.write_site_file(
        publish=["condor"], vos=["dteam"], site="CONDOR-SITE",
        condor_config=str(config_d / "55-pps-rte.conf"), condor_reconfig="",
    )  # fmt: skip
    return site, config_d


def test_the_gip_provider_publishes_what_the_pool_advertises(tmp_path: Path) -> None:
    site, config_d = condor_site(tmp_path)
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    assert site.tags_text("dteam") is None  # no tags file: the snippet is all there is

    proc = gip(site.site_file)

    assert proc.returncode == 0, proc.stderr
    glue1, glue2 = published(proc.stdout)
    assert sorted(glue1) == sorted([TAG, PREVIEW_CAPABILITY])
    assert sorted(glue2) == sorted([(TAG, "installedverified"), (PREVIEW_CAPABILITY,
                                                                 "installedverified")])  # fmt: skip


def test_a_broken_version_of_a_pool_is_published_broken(tmp_path: Path) -> None:
    site, _ = condor_site(tmp_path)
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    add_release(tmp_path / "repo", make_manifest(tests=[("fails", "false")]), replace=True)
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 2

    glue1, glue2 = published(gip(site.site_file).stdout)

    assert TAG not in glue1
    assert (TAG, "installedbroken") in glue2


def test_without_its_snippet_directory_the_provider_says_so_and_goes_on(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    site.write_site_file(publish=["condor"], site="CONDOR-SITE",
                         condor_config=str(tmp_path / "no/config.d/55-pps-rte.conf"))  # fmt: skip

    proc = gip(site.site_file)

    assert proc.returncode == 0, proc.stderr
    assert "warning: not publishing HTCondor's PPS_RTE: HTCondor's configuration directory" in (
        proc.stderr
    )
    assert json.dumps(published(proc.stdout)) == json.dumps([[], []])
