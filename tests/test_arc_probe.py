"""The probe at an ARC-CE and an HTCondor node: the site file's ``publish``, through the real probe
process, the real ``arcctl`` and A-REX's information provider, and HTCondor's configuration reader.

What the site admin checks: the probe's exit code and status line, ``arcctl rte list``,
CEinfo.pl's ApplicationEnvironments, the tags file, the snippet in ``config.d`` read as HTCondor
reads it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pps.names import PREVIEW_CAPABILITY
from pps.repository import Repository
from pps.rte import condor_config
from tests import arc_helpers
from tests.arc_helpers import AppEnv, ArcSite
from tests.probe_helpers import (
    add_release,
    installed_probe,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
    status_line,
)

arc_site = arc_helpers.arc_site

NAME = "ENV/PPS/FAKE-CLIENT-1.0.0"
TAG = "VO-dteam-PPS-fake-client-1.0.0"


def arc_settings(arc: ArcSite, **more: object) -> dict[str, object]:
    return {"publish": ["tags", "arc-rte"], "arc_conf": str(arc.conf), "vos": ["dteam"], **more}


def test_a_verified_version_is_tagged_and_enabled_as_an_arc_rte(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed, "
        f"tagged for dteam, enabled as ARC RTE {NAME} |"
    )
    assert site.tags_text("dteam") == f"{TAG}\n{PREVIEW_CAPABILITY}\n"
    assert arc_site.enabled() == [NAME] and arc_site.defaults() == []
    assert arc_site.app_environments() == [
        AppEnv("ENV/PPS/FAKE-CLIENT", "1.0.0", "installednotverified")
    ]


def test_an_arc_only_site_writes_no_tags_file(tmp_path: Path, arc_site: ArcSite) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site, publish=["arc-rte"]))

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified at ce01.example.org: 2/2 tests passed, enabled as ARC RTE" in proc.stdout
    assert site.tags_text("dteam") is None
    assert arc_site.enabled() == [NAME]


def test_a_failing_test_disables_the_rte_with_the_tag(tmp_path: Path, arc_site: ArcSite) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    # the same version, a new tarball whose test fails
    add_release(tmp_path / "repo", make_manifest(tests=[("fails", "false")]), replace=True)

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 2, proc.stdout
    assert arc_site.enabled() == []
    assert arc_site.app_environments() == []
    assert site.tags_text("dteam") == f"{PREVIEW_CAPABILITY}\n"


def test_a_retired_version_loses_its_rte_and_its_script(tmp_path: Path, arc_site: ArcSite) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    repo = Repository(tmp_path / "repo")
    index = repo.load()
    index.releases = []
    repo.save(index)

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 0, proc.stdout
    assert arc_site.enabled() == []
    assert NAME not in arc_site.listing()  # the script went too
    assert site.tags_text("dteam") == f"{PREVIEW_CAPABILITY}\n"


_SLOW_TEST = "touch $PPS_PREVIEW_HOME/../started-$$ 2>/dev/null; sleep 30"


def test_a_kill_while_a_new_tarball_is_tested_leaves_the_rte_disabled(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    marker = tmp_path / "testing"
    slow = make_manifest(tests=[("slow", f"touch {marker}; sleep 30")])
    add_release(tmp_path / "repo", slow, replace=True)
    marker.parent.chmod(0o777)  # the test runs as nobody

    probe = subprocess.Popen(
        [*installed_probe(), *probe_args(site, tmp_path / "repo", vos=None)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and probe.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), probe.communicate()
        assert arc_site.enabled() == []  # disabled before the new tree was fetched
    finally:
        probe.send_signal(signal.SIGKILL)
        probe.communicate(timeout=60)

    assert arc_site.enabled() == []
    assert arc_site.app_environments() == []


def test_a_bad_publish_setting_is_one_line_unknown_and_changes_nothing(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site, publish=["tags", "cvmfs"]))

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: 'publish' entry 'cvmfs' is not a "
        "publisher (known: tags, arc-rte, condor)"
    )
    assert not site.preview_root.exists() or not (site.preview_root / "fake-client").exists()
    assert arc_site.enabled() == []


def test_without_arcctl_the_probe_says_so_in_one_line(tmp_path: Path, arc_site: ArcSite) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site, arcctl=str(tmp_path / "no-arcctl")))

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT CRITICAL - fake-client 1.0.0 verified, but it could not be announced: "
        f"arcctl ({tmp_path / 'no-arcctl'}) is not installed: install nordugrid-arc-arcctl, or "
        "take 'arc-rte' out of the site file's publish; taken back from every publisher "
        "(tags, arc-rte) |"
    )
    assert "live=0" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert arc_site.enabled() == []
    assert site.tags_text("dteam") == f"{PREVIEW_CAPABILITY}\n"  # the tag agrees with ARC


def test_an_rte_of_the_sites_own_under_pps_name_stops_the_announcement(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))
    theirs = arc_site.write_rte(NAME, "# description: the site's own\n")
    arc_site.arcctl("rte", "enable", NAME)

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 2, proc.stdout
    assert f"{theirs} was not written by pps: not changing it" in status_line(proc)
    assert theirs.read_text() == "# description: the site's own\n"
    assert arc_site.enabled() == [NAME]  # the site's, left enabled
    assert site.tags_text("dteam") == f"{PREVIEW_CAPABILITY}\n"


def test_uninstall_takes_the_rte_away(tmp_path: Path, arc_site: ArcSite) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0

    proc = subprocess.run(
        [*installed_probe(), "--site-config", str(site.site_file), "--uninstall"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout
    assert arc_site.enabled() == [] and NAME not in arc_site.listing()


# -- HTCondor


def condor_node(tmp_path: Path) -> tuple[Path, Path]:
    """(condor_config, config.d) of an execute node."""
    node = tmp_path / "condor"
    (node / "config.d").mkdir(parents=True)
    config = node / "condor_config"
    config.write_text(
        f"STARTD_ATTRS = SITE_ATTR\nSITE_ATTR = 1\nLOCAL_CONFIG_DIR = {node}/config.d\n"
    )
    return config, node / "config.d"


_AD = r"""
import json, sys, classad2, htcondor2
p = htcondor2.param
ad = classad2.ClassAd()
for name in p.get("STARTD_ATTRS", "").replace(",", " ").split():
    ad[name] = classad2.ExprTree(p[name])
req = classad2.ExprTree(htcondor2.Submit(sys.stdin.read()).get("requirements"))
print(json.dumps([req.eval(classad2.ClassAd({"Requirements": req}), ad) is True]))
"""


def job_matches(config: Path, vo: str) -> bool:
    """Whether the jobs issue's submit file for fake-client 1.0.0 and *vo* matches the node."""
    from jdl_templates.jobs import render_job

    env = {**os.environ, "CONDOR_CONFIG": str(config)}
    sub = render_job("condor", "job", vo=vo, previews=[("fake-client", "1.0.0")])
    proc = subprocess.run(
        [sys.executable, "-c", _AD], input=sub, capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return bool(json.loads(proc.stdout)[0])


def test_an_htcondor_node_advertises_the_verified_version(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    config, config_d = condor_node(tmp_path)
    site.write_site_file(
        publish=["condor"], vos=["dteam"], condor_config=str(config_d / "55-pps-rte.conf"),
        condor_reconfig=str(tmp_path / "no-condor_reconfig"),
    )  # fmt: skip

    proc = run_probe(site, tmp_path / "repo", vos=None)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = status_line(proc)
    assert line.startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed, "
        "advertised in HTCondor's PPS_RTE;"
    )
    assert f"{tmp_path / 'no-condor_reconfig'} is not installed here" in line
    assert job_matches(config, "dteam") and not job_matches(config, "ops")
    assert (config_d / "55-pps-rte.conf").read_text() == condor_config(
        [TAG, PREVIEW_CAPABILITY], str(site.preview_root)
    )
    assert site.tags_text("dteam") is None


@pytest.mark.parametrize("publish", [None, ["tags"]], ids=["default", "explicit"])
def test_a_tags_only_site_loads_no_publisher(tmp_path: Path, publish: list[str] | None) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(publish=publish)
    assert run_probe(site, tmp_path / "repo").returncode == 0  # and the site file is cached
    cmd = installed_probe()
    cmd = cmd[1:] if cmd[0] == sys.executable else cmd

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd, *probe_args(site, tmp_path / "repo")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout
    loaded = {
        line.split("|")[2].strip() for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }  # fmt: skip
    assert "probes._run" in loaded  # the list is the probe's
    assert loaded & {"probes._publish", "probes._arc_rte", "probes._condor"} == set()


# -- read back: what pps-gip-provider says of an ARC site (the embedded default's read)


def test_the_gip_provider_prints_the_arc_rtes_as_a_rex_publishes_them(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    from pps.glue import parse_ldif
    from tests.bdii_helpers import gip_command

    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site, site="ARC-SITE"))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's\n")
    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0")  # not pps's: A-REX says it, not pps

    proc = subprocess.run(
        [*gip_command(), "--site-config", str(site.site_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    apps = [
        (e.first("GLUE2ApplicationEnvironmentAppName"),
         e.first("GLUE2ApplicationEnvironmentAppVersion"),
         e.first("GLUE2ApplicationEnvironmentState"))
        for e in parse_ldif(proc.stdout) if e.has_class("GLUE2ApplicationEnvironment")
    ]  # fmt: skip
    arc = ("ENV/PPS/FAKE-CLIENT", "1.0.0", "installednotverified")
    assert arc in apps
    assert tuple(arc) in [tuple(a) for a in arc_site.app_environments()]  # A-REX says the same
    assert not [a for a in apps if a[0].startswith("ENV/SITE")]
    assert (TAG, "1.0.0", "installedverified") in apps  # and the tags file's tag, as before


def test_the_gip_provider_goes_on_without_arc_conf(tmp_path: Path) -> None:
    from tests.bdii_helpers import gip_command

    site = make_site(tmp_path)
    site.write_site_file(publish=["tags", "arc-rte"], arc_conf=str(tmp_path / "no-arc.conf"),
                         site="ARC-SITE")  # fmt: skip

    proc = subprocess.run(
        [*gip_command(), "--site-config", str(site.site_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "warning: not publishing the ARC RTEs: arc.conf" in proc.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"arc_conf": "etc/arc.conf"}, "'arc_conf' must be an absolute path, got 'etc/arc.conf'"),
        ({"arcctl": "/usr/../sbin/arcctl"}, "'arcctl' '/usr/../sbin/arcctl' must not contain"),
        ({"condor_reconfig": "condor_reconfig"}, "'condor_reconfig' must be an absolute path"),
        ({"condor_config": 5}, "'condor_config' must be an absolute path, got 5"),
        ({"publish": "arc-rte"}, "'publish' must be a non-empty list of 'tags', 'arc-rte'"),
    ],
)
def test_bad_publisher_settings_are_one_line_unknown(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**{"publish": ["tags", "arc-rte", "condor"], **values})

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {message}"
    )
    assert not site.install_dir().exists()


def test_condor_reconfig_may_be_switched_off(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    config, config_d = condor_node(tmp_path)
    site.write_site_file(publish=["tags", "condor"], condor_config=str(config_d / "55-pps.conf"),
                         condor_reconfig="")  # fmt: skip

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed, "
        "tagged for dteam,ops, advertised in HTCondor's PPS_RTE |"
    )
    assert job_matches(config, "ops")
