"""A mixed grid read back (issue 16, "Reading them back"): a gLite site, an ARC-CE and an HTCondor
pool, pushed to through the real probe, seen by ``pps infosys map`` and ``pps infosys check``
through the embedded default (each site's own ``pps-gip-provider``) and through a real BDII
(slapd with the GLUE schemas) holding, for the ARC-CE, the LDIF the real A-REX information
provider (ARC 6.17 ``CEinfo.pl``) writes, as a top BDII holds it.  And ``pps nagios-config`` for
ARC and HTCondor sites.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import Result

from distributor.infosys.bdii import arc_filter, glue2_filter
from distributor.repository.signing import init_repository
from pps.glue import parse_ldif
from pps.repository import Repository
from tests import arc_helpers, bdii_helpers
from tests.arc_helpers import ArcSite
from tests.bdii_helpers import Slapd, gip_command
from tests.grid import Grid, write
from tests.probe_helpers import add_release, make_manifest, make_site, run_probe
from tests.test_arc_probe import arc_settings
from tests.test_cli_infosys import publish, to_ldif
from tests.test_cli_push import PASSING, _release

arc_site = arc_helpers.arc_site
slapd = bdii_helpers.slapd

RTE = "ENV/PPS/TOOL-1.0"
TOOL = "VO-dteam-PPS-tool-1.0"
GLITE, ARC, CONDOR = "GLITE-SITE", "ARC-SITE", "CONDOR-SITE"
KINDS = {GLITE: "glite", ARC: "arc", CONDOR: "condor"}
TOP_GLUE2 = "GLUE2GroupID=resource,GLUE2DomainID={site},GLUE2GroupID=grid,o=glue"


def mixed_grid(tmp_path: Path, arc: ArcSite) -> Grid:
    """Three local sites, one of each kind; the ARC and HTCondor ones have their site files."""
    root = tmp_path / "grid"
    lines = ['[repository]\npath = "repo"\n']
    for name, kind in KINDS.items():
        site = root / "sites" / name
        write(site / "etc/profile.d/grid.sh", f'export SITE_NAME="{name}"\n')
        (site / "opt/glite/var/info").mkdir(parents=True)
        lines.append(
            textwrap.dedent(f"""\
            [[sites]]
            name = "{name}"
            partner = "silver"
            vos = ["dteam"]
            transport = "local"
            root = "sites/{name}"
            subcluster = "ce.{name.lower()}.test"
            """)
            + ("" if kind == "glite" else f'kind = "{kind}"\n')
        )
        paths = {
            "site": name, "vos": ["dteam"], "subcluster": f"ce.{name.lower()}.test",
            "preview_root": str(site / "opt/pps/preview"),
            "info_dir": str(site / "opt/glite/var/info"), "profile_d": str(site / "etc/profile.d"),
        }  # fmt: skip
        if kind == "arc":
            paths.update(publish=["arc-rte"], arc_conf=str(arc.conf))
        elif kind == "condor":
            (site / "etc/condor/config.d").mkdir(parents=True)
            snippet = site / "etc/condor/config.d/55-pps-rte.conf"
            paths.update(publish=["condor"], condor_reconfig="", condor_config=str(snippet))
        if kind != "glite":
            text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in paths.items())
            write(site / "etc/pps/site.toml", text)
    config = write(root / "pps.toml", "\n".join(lines))
    init_repository(Repository(root / "repo"), None)
    return Grid(root, config)


def pushed_grid(tmp_path: Path, arc: ArcSite) -> Grid:
    grid = mixed_grid(tmp_path, arc)
    _release(grid, tests=PASSING)
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code == 0, result.output
    assert arc.enabled() == [RTE]
    return grid


def load_arc(server: Slapd, arc: ArcSite, site: str = ARC) -> None:
    """What A-REX publishes now, as a top BDII holds it (under the site's GLUE2DomainID)."""
    entries = parse_ldif(arc.ldif())
    for e in entries:
        assert e.dn.endswith(",o=glue"), e.dn
        e.dn = e.dn[: -len("o=glue")] + TOP_GLUE2.format(site=site)
    server.add(to_ldif(entries))


def map_json(grid: Grid, *args: str) -> dict:
    result = grid.invoke("infosys", "map", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


LIVE = {"glue1": True, "glue2": "installedverified"}
ARC_LIVE = {"glue1": False, "glue2": "installednotverified"}


# ------------------------------------------------------------------ the embedded default


def test_the_embedded_default_shows_each_kind_with_its_version(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    grid = pushed_grid(tmp_path, arc_site)

    data = map_json(grid)

    assert data["tags"] == {
        RTE: {ARC: ARC_LIVE},
        "PPS-PREVIEW": {CONDOR: LIVE, GLITE: LIVE},
        TOOL: {CONDOR: LIVE, GLITE: LIVE},
    }
    assert data["site_kinds"] == KINDS
    assert data["site_errors"] == {} and data["warnings"] == []


def test_the_text_map_names_the_kind_of_arc_and_htcondor_sites(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    grid = pushed_grid(tmp_path, arc_site)

    out = grid.ok("infosys", "map", "--tag", RTE.lower())

    assert out.splitlines() == [
        "TAG               SITE            GLUE 1.3  GLUE 2.0",
        f"{RTE}  {ARC} (arc)  -         installednotverified",
    ]


def test_a_broken_version_at_an_arc_only_site_is_no_tag_of_it(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    """A-REX publishes a disabled RTE nowhere: the site's provider says no VO tag for it."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(**arc_settings(arc_site, publish=["arc-rte"], site=ARC))
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 0
    add_release(tmp_path / "repo", make_manifest(tests=[("fails", "false")]), replace=True)
    assert run_probe(site, tmp_path / "repo", vos=None).returncode == 2

    proc = subprocess.run(
        [*gip_command(), "--site-config", str(site.site_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    apps = [e for e in parse_ldif(proc.stdout) if e.has_class("GLUE2ApplicationEnvironment")]
    assert apps == []


# ------------------------------------------------------------------------- a real BDII


def test_a_bdii_with_a_rex_s_entries_shows_the_arc_site_with_and_without_glue2(
    tmp_path: Path, arc_site: ArcSite, slapd: Slapd
) -> None:
    grid = pushed_grid(tmp_path, arc_site)
    publish(slapd, grid, only=(GLITE, CONDOR))
    load_arc(slapd, arc_site)

    full = map_json(grid, "--infosys", slapd.url, "--glue2")
    glue13 = map_json(grid, "--infosys", slapd.url)
    one = map_json(grid, "--infosys", slapd.url, "--tag", RTE)

    assert full["tags"] == {
        RTE: {ARC: ARC_LIVE},
        "PPS-PREVIEW": {CONDOR: LIVE, GLITE: LIVE},
        TOOL: {CONDOR: LIVE, GLITE: LIVE},
    }
    # without --glue2 only GLUE 1.3 is read for gLite sites; an ARC-CE has GLUE 2.0 alone
    assert glue13["tags"][RTE] == {ARC: ARC_LIVE}
    assert glue13["tags"][TOOL] == {CONDOR: {"glue1": True, "glue2": None},
                                    GLITE: {"glue1": True, "glue2": None}}  # fmt: skip
    assert one["tags"] == {RTE: {ARC: ARC_LIVE}}
    assert full["site_kinds"] == KINDS and full["warnings"] == []


def test_check_finds_the_bdii_in_line_with_every_kind_of_site(
    tmp_path: Path, arc_site: ArcSite, slapd: Slapd
) -> None:
    grid = pushed_grid(tmp_path, arc_site)
    publish(slapd, grid, only=(GLITE, CONDOR))
    load_arc(slapd, arc_site)

    result = grid.invoke("infosys", "check", "--infosys", slapd.url)

    assert result.exit_code == 0, result.output
    assert result.output == f"OK: the BDII at {slapd.url} agrees with all 3 site(s)\n"


def test_check_reports_an_rte_missing_from_the_bdii(
    tmp_path: Path, arc_site: ArcSite, slapd: Slapd
) -> None:
    grid = pushed_grid(tmp_path, arc_site)
    publish(slapd, grid, only=(GLITE, CONDOR))  # A-REX's entries never reached the BDII

    data = json.loads(grid.invoke("infosys", "check", "--infosys", slapd.url, "--json").stdout)

    assert data["problems"] == [
        {
            "site": ARC, "problem": "missing", "tag": RTE,
            "detail": "the site publishes GLUE 1.3 not listed, GLUE 2.0 installednotverified; "
            "the BDII nothing",
        }
    ]  # fmt: skip


def test_check_reports_an_rte_of_no_preview_as_stale(
    tmp_path: Path, arc_site: ArcSite, slapd: Slapd
) -> None:
    grid = pushed_grid(tmp_path, arc_site)
    other = "ENV/PPS/OTHER-2.0"
    arc_site.write_rte(other, "# description: an old preview\n")
    arc_site.arcctl("rte", "enable", other)
    publish(slapd, grid, only=(GLITE, CONDOR))
    load_arc(slapd, arc_site)

    result = grid.invoke("infosys", "check", "--infosys", slapd.url, "--json")

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["problems"] == [
        {
            "site": ARC, "problem": "stale", "tag": other,
            "detail": "the BDII publishes it live, but the repository index has no release "
            "OTHER 2.0",
        }
    ]  # fmt: skip


def test_the_bdii_search_of_rtes_asks_for_both_spellings_of_env_pps() -> None:
    wanted = arc_filter()
    assert "(GLUE2ApplicationEnvironmentAppName=ENV/PPS/*)" in wanted
    assert "(GLUE2ApplicationEnvironmentAppName=env/pps/*)" in wanted
    assert "(!(GLUE2ApplicationEnvironmentAppName=ENV/PPS/*))" in glue2_filter()  # read once


# ------------------------------------------------------------------------ nagios-config


def _nagios(grid: Grid, *args: str) -> Result:
    return grid.invoke("nagios-config", *args)


@pytest.mark.parametrize("kind", ["arc", "condor"])
def test_nagios_config_refuses_an_arc_or_htcondor_site_without_its_site_file(
    tmp_path: Path, arc_site: ArcSite, kind: str
) -> None:
    grid = mixed_grid(tmp_path, arc_site)
    _release(grid, tests=PASSING)
    name = ARC if kind == "arc" else CONDOR
    what = "an ARC-CE site" if kind == "arc" else "an HTCondor site"

    result = _nagios(grid, "--site", name, "--site-file", "absent")

    assert result.exit_code == 2
    assert result.output.splitlines()[-1].endswith(
        f"site {name} is {what}: its probe reads 'publish' and the "
        f"{'arc_conf' if kind == 'arc' else 'condor_config'} from its site file "
        "/etc/pps/site.toml: write that file at the site, or give --site-file present"
    )
    assert len(result.output.splitlines()) == 1


def test_nagios_config_gives_arc_and_htcondor_sites_their_site_file_and_kind(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    grid = mixed_grid(tmp_path, arc_site)
    _release(grid, tests=PASSING)

    result = _nagios(grid, "--publication", "--bdii", "ldap://bdii.example.org:2170")

    assert result.exit_code == 0, result.output
    blocks = [b for b in result.output.split("define host")[1:] if "host_name" in b]
    hosts = {b.split("host_name", 1)[1].split()[0]: b for b in blocks}
    values = {
        name: dict(line.split(None, 1) for line in b.splitlines()[1:] if line.startswith("    "))
        for name, b in hosts.items()
    }
    for name in (ARC, CONDOR):
        site_file = grid.site_root(name) / "etc/pps/site.toml"
        assert values[name]["_PPS_SITE"] == f"--site-config {site_file}"
    assert values[ARC]["alias"] == f"{ARC} (silver partner, ARC-CE)"
    assert values[CONDOR]["alias"] == f"{CONDOR} (silver partner, HTCondor pool)"
    assert values[GLITE]["alias"] == f"{GLITE} (silver partner)"
    # check_preview_publication reads tags files: an ARC-CE's RTEs are pps infosys check's
    services = result.output.split("define service")[1:]
    publication = sorted(b.split("host_name")[1].split()[0] for b in services
                         if "pps publication" in b and "host_name" in b)  # fmt: skip
    assert publication == [CONDOR, GLITE]
    comments = " ".join(line[2:] for line in result.output.splitlines() if line.startswith("# "))
    assert "ARC-CE sites have no 'pps publication' service: A-REX publishes" in comments
