"""``pps infosys map``, ``pps infosys check`` and ``pps bulletin build --infosys`` through the
CLI, against a real slapd with the BDII configuration, including every bad input of issue 8:
odd names and tags, an unreachable, silent or endless server, malformed entries, too many
values."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from distributor.cli import cli
from distributor.infosys.bdii import _ldap3
from distributor.infosys.collect import collect_site_ldif
from distributor.repository.signing import init_repository
from pps.glue import Entry, ldif_line, parse_ldif
from pps.inventory import load_config
from pps.repository import Repository
from tests import bdii_helpers
from tests.bdii_helpers import Slapd, free_port
from tests.grid import Grid, write
from tests.test_cli_push import PASSING, _release
from tests.test_infosys_reader import (
    RESOURCE_GLUE2,
    SITE_GLUE1,
    SITE_GLUE2,
    TAG,
    TOP_GLUE1,
    TOP_GLUE2,
    WN,
    _dn_line,
    _load_top_bdii,
    app_env,
    subcluster,
)

slapd = bdii_helpers.slapd  # the fixtures, in this module
slapd_factory = bdii_helpers.slapd_factory

TOOL = "VO-dteam-PPS-tool-1.0"
SITES = {"ALPHA": ["dteam"], "BRAVO": ["dteam", "vo.neugrid.eu"]}


def small_grid(tmp_path: Path, infosys: str = "") -> Grid:
    """Two silver sites (directories), a repository, and *infosys* as the [infosys] table."""
    root = tmp_path / "grid"
    lines = ['[repository]\npath = "repo"\n']
    if infosys:
        lines.append(f"[infosys]\n{infosys}\n")
    for name, vos in SITES.items():
        site = root / "sites" / name
        write(site / "etc/profile.d/grid.sh", f'export SITE_NAME="{name}"\n')
        (site / "opt/glite/var/info").mkdir(parents=True)
        vo_list = ", ".join(f'"{v}"' for v in vos)
        lines.append(
            textwrap.dedent(f"""\
            [[sites]]
            name = "{name}"
            partner = "silver"
            vos = [{vo_list}]
            transport = "local"
            root = "sites/{name}"
            subcluster = "ce.{name.lower()}.test"
            """)
        )
    config = write(root / "pps.toml", "\n".join(lines))
    init_repository(Repository(root / "repo"), None)
    return Grid(root, config)


def tag_site(grid: Grid, site: str, vo: str, *tags: str) -> None:
    """Write the site's tags file for *vo* as the probe would (what its GIP provider reads)."""
    path = (
        grid.site_root(site) / "opt/glite/var/info" / f"ce.{site.lower()}.test" / vo / f"{vo}.list"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{t}\n" for t in tags))


def to_ldif(entries: list[Entry]) -> str:
    records = []
    for e in entries:
        lines = [_dn_line(e.dn)]
        for name, values in e.attrs.items():
            lines += [ldif_line(name, v) for v in values]
        records.append("\n".join(lines) + "\n")
    return "\n".join(records)


def as_top_bdii(ldif: str, site: str) -> list[Entry]:
    """A site's GIP output as a top BDII holds it: under ``Mds-Vo-name=<site>,Mds-Vo-name=local``
    and ``GLUE2DomainID=<site>,GLUE2GroupID=grid``."""
    entries = parse_ldif(ldif)
    for e in entries:
        e.dn = e.dn.replace(",Mds-Vo-name=resource,o=grid", "," + TOP_GLUE1.format(site=site))
        e.dn = e.dn.replace(",GLUE2GroupID=resource,o=glue", "," + TOP_GLUE2.format(site=site))
    return entries


def publish(server: Slapd, grid: Grid, only: tuple[str, ...] = (), edit=None) -> None:
    """Load what the sites' GIP providers print now into *server*, as a top BDII would hold it
    (*only*: these sites; *edit*: a function changing the entries first)."""
    sites = [s for s in load_config(grid.config).sites if not only or s.name in only]
    published, errors = collect_site_ldif(sites)
    assert errors == {}
    entries = [e for name, text in published.items() for e in as_top_bdii(text, name)]
    if edit is not None:
        edit(entries)
    server.add(to_ldif(entries))


def invoke(*args: str, config: Path | None = None) -> Result:
    prefix = ["--config", str(config)] if config is not None else []
    return CliRunner().invoke(cli, [*prefix, *args])


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without a pps.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------------- map
def test_map_prints_which_tag_is_live_where_from_a_bdii_without_any_inventory(
    slapd: Slapd, nowhere: Path
) -> None:
    _load_top_bdii(slapd)
    result = invoke("infosys", "map", "--glue2", "--infosys", slapd.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "TAG                            SITE         GLUE 1.3  GLUE 2.0",
        "PPS-PREVIEW                    INFN-PISA    yes       installedverified",
        f"{TAG}  CERN-PROD    yes       installedverified",
        f"{TAG}  INFN-PISA    yes       installedverified",
        f"{WN}      AURORA-LCG2  -         installedbroken",
        f"{WN}      CERN-PROD    yes       installedverified",
    ]
    # AURORA-LCG2's subcluster sits under Mds-Vo-name=resource and no inventory names it
    assert result.stderr.splitlines() == [
        "warning: skipping GlueSubClusterUniqueID=ce.aurora.test,GlueClusterUniqueID="
        "ce.aurora.test,Mds-Vo-name=resource,o=grid: it names no site (no Mds-Vo-name=<site> in "
        "the DN, and neither the inventory nor a GlueCluster entry gives the site of its "
        "subcluster)"
    ]


def test_map_without_glue2_reads_only_the_runtime_environment_values_in_one_search(
    slapd: Slapd, nowhere: Path
) -> None:
    _load_top_bdii(slapd)
    result = invoke("infosys", "map", "--infosys", slapd.url)
    data = json.loads(invoke("infosys", "map", "--infosys", slapd.url, "--json").stdout)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "TAG                            SITE",
        "PPS-PREVIEW                    INFN-PISA",
        f"{TAG}  CERN-PROD",
        f"{TAG}  INFN-PISA",
        f"{WN}      CERN-PROD",  # AURORA-LCG2's is broken: in GLUE 2.0 only, not read here
    ]
    assert data["glue2"] is False
    assert data["tags"][WN] == {"CERN-PROD": {"glue1": True, "glue2": None}}


def test_map_as_json_gives_each_site_its_glue13_presence_and_glue2_state(
    slapd: Slapd, nowhere: Path
) -> None:
    _load_top_bdii(slapd)
    result = invoke(
        "infosys", "map", "--glue2", "--infosys", slapd.url, "--json", "--tag", WN.lower()
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tags"] == {
        WN: {
            "AURORA-LCG2": {"glue1": False, "glue2": "installedbroken"},
            "CERN-PROD": {"glue1": True, "glue2": "installedverified"},
        }
    }
    assert data["bdii"] == slapd.url
    assert len(data["warnings"]) == 1


def test_map_without_a_bdii_reads_each_sites_gip_output_through_its_transport(
    tmp_path: Path,
) -> None:
    grid = small_grid(tmp_path)
    tag_site(grid, "ALPHA", "dteam", TOOL, "PPS-PREVIEW")
    tag_site(grid, "BRAVO", "vo.neugrid.eu", "VO-vo.neugrid.eu-PPS-tool-1.0")
    result = invoke("infosys", "map", "--json", config=grid.config)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tags"] == {
        "PPS-PREVIEW": {"ALPHA": {"glue1": True, "glue2": "installedverified"}},
        TOOL: {"ALPHA": {"glue1": True, "glue2": "installedverified"}},
        "VO-vo.neugrid.eu-PPS-tool-1.0": {"BRAVO": {"glue1": True, "glue2": "installedverified"}},
    }
    assert data["bdii"] is None
    assert data["sites"] == ["ALPHA", "BRAVO"]


def test_map_without_a_bdii_or_an_inventory_is_one_line_and_exit_2(nowhere: Path) -> None:
    result = invoke("infosys", "map")
    assert result.exit_code == 2
    assert result.output == (
        "Error: reading the sites' own GIP output needs the inventory (pps.toml, --config); "
        "or give --infosys ldap://HOST:PORT\n"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://bdii:2170", "it must start with ldap:// or ldaps://"),
        ("ldap://bdii:2170/o=grid", "it must name only a host and a port"),
        ("ldap://bdii:70000", "Port out of range 0-65535"),
    ],
)
def test_a_bad_bdii_url_is_one_line_and_exit_2(url: str, reason: str, nowhere: Path) -> None:
    for command in (("infosys", "map"), ("infosys", "check")):
        result = invoke(*command, "--infosys", url)
        assert result.exit_code == 2, result.output
        assert result.output == (
            f"Error: BDII URL {url!r} is not valid: {reason} (use ldap://HOST:PORT)\n"
        )


def test_a_bad_bdii_url_in_pps_toml_is_refused_by_every_command(tmp_path: Path) -> None:
    grid = small_grid(tmp_path, infosys='url = "ldap://bdii:2170/o=grid"')
    result = invoke("sites", config=grid.config)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {grid.config}: [infosys]: BDII URL 'ldap://bdii:2170/o=grid' is not valid: it "
        "must name only a host and a port (use ldap://HOST:PORT)\n"
    )


# ---------------------------------------------------------------------------- bulletin
def test_bulletin_build_with_infosys_reads_the_bdii_not_the_sites(
    slapd: Slapd, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "ALPHA", "dteam", TOOL)
    tag_site(grid, "BRAVO", "dteam", "VO-dteam-PPS-tool-1.0")
    publish(slapd, grid, only=("ALPHA",))  # the BDII has not caught up with BRAVO yet
    out = tmp_path / "bulletin"
    result = invoke(
        "bulletin", "build", "--out", str(out), "--infosys", slapd.url, config=grid.config
    )
    assert result.exit_code == 0, result.output
    entry = grid.map_json(out)["components"]["tool"]["1.0"]
    assert entry["sites"] == ["ALPHA"]
    assert entry["states"] == {"ALPHA": "live", "BRAVO": "not installed"}


def test_bulletin_build_reads_the_bdii_named_in_pps_toml(slapd: Slapd, tmp_path: Path) -> None:
    grid = small_grid(tmp_path, infosys=f'url = "{slapd.url}"')
    _release(grid)
    tag_site(grid, "BRAVO", "vo.neugrid.eu", "VO-vo.neugrid.eu-PPS-tool-1.0")
    publish(slapd, grid)
    out = tmp_path / "bulletin"
    result = invoke("bulletin", "build", "--out", str(out), "--json", config=grid.config)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == []
    entry = grid.map_json(out)["components"]["tool"]["1.0"]
    assert entry["vos"]["vo.neugrid.eu"]["sites"] == ["BRAVO"]
    assert entry["vos"]["dteam"]["sites"] == []


def test_bulletin_build_without_a_bdii_still_reads_the_sites_gip_output(tmp_path: Path) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "BRAVO", "dteam", TOOL)
    out = tmp_path / "bulletin"
    result = invoke("bulletin", "build", "--out", str(out), config=grid.config)
    assert result.exit_code == 0, result.output
    assert grid.map_json(out)["components"]["tool"]["1.0"]["sites"] == ["BRAVO"]


# ------------------------------------------------------------------------------- check
def _check(grid: Grid, server: Slapd, *extra: str) -> Result:
    return invoke("infosys", "check", "--infosys", server.url, *extra, config=grid.config)


def test_check_after_a_real_push_finds_the_bdii_in_line_with_every_site(
    slapd: Slapd, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path)
    _release(grid, tests=PASSING)
    assert grid.invoke("push", "tool", "1.0").exit_code == 0
    publish(slapd, grid)
    result = _check(grid, slapd)
    assert result.exit_code == 0, result.output
    assert result.output == f"OK: the BDII at {slapd.url} agrees with all 2 site(s)\n"


def test_check_reports_tags_the_bdii_is_missing_and_tags_it_still_has(
    slapd: Slapd, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "ALPHA", "dteam", TOOL, "PPS-PREVIEW")
    tag_site(grid, "BRAVO", "dteam", TOOL)
    publish(slapd, grid, only=("ALPHA",))
    tag_site(grid, "ALPHA", "dteam", TOOL)  # the site withdrew PPS-PREVIEW since
    result = _check(grid, slapd)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "SITE   PROBLEM  TAG                    DETAIL",
        "ALPHA  extra    PPS-PREVIEW            the BDII publishes GLUE 1.3 listed, GLUE 2.0 "
        "installedverified; the site nothing",
        f"BRAVO  missing  {TOOL}  the site publishes GLUE 1.3 listed, GLUE 2.0 "
        "installedverified; the BDII nothing",
        f"2 problem(s) at 2 of 2 site(s) (BDII {slapd.url})",
    ]


def test_check_reports_glue13_and_glue2_disagreeing_in_the_bdii(
    slapd: Slapd, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "ALPHA", "dteam", TOOL)

    def broken_in_glue2(entries: list[Entry]) -> None:
        for e in entries:
            if e.has_class("GLUE2ApplicationEnvironment"):
                e.attrs["glue2applicationenvironmentstate"] = ["installedbroken"]

    publish(slapd, grid, edit=broken_in_glue2)
    result = _check(grid, slapd, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["problems"] == [
        {
            "site": "ALPHA",
            "problem": "differs",
            "tag": TOOL,
            "detail": "the site publishes GLUE 1.3 listed, GLUE 2.0 installedverified; the BDII "
            "GLUE 1.3 listed, GLUE 2.0 installedbroken",
        },
        {
            "site": "ALPHA",
            "problem": "glue-mismatch",
            "tag": TOOL,
            "detail": "in the BDII: GLUE 1.3 lists it, GLUE 2.0 says installedbroken",
        },
    ]
    assert data["ok"] is False
    assert data["sites"] == {
        "ALPHA": {"problems": 2, "error": None},
        "BRAVO": {"problems": 0, "error": None},
    }


def test_check_reports_live_tags_of_versions_no_longer_in_preview(
    slapd: Slapd, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "ALPHA", "dteam", TOOL, "VO-dteam-PPS-tool-0.9")
    publish(slapd, grid)
    repo = Repository(grid.root / "repo")
    index = repo.load()
    index.replace(index.find("tool", "1.0").replace(withdrawn=True))
    repo.save(index)
    result = _check(grid, slapd)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[1:3] == [
        "ALPHA  stale    VO-dteam-PPS-tool-0.9  the BDII publishes it live, but the repository "
        "index has no release tool 0.9",
        f"ALPHA  stale    {TOOL}  the BDII publishes it live, but tool 1.0 was withdrawn "
        "from preview",
    ]


def test_check_names_a_site_whose_gip_provider_cannot_be_run(slapd: Slapd, tmp_path: Path) -> None:
    grid = small_grid(tmp_path)
    _release(grid)
    tag_site(grid, "BRAVO", "dteam", TOOL)
    publish(slapd, grid)
    grid.site_root("BRAVO").rename(tmp_path / "gone")
    result = _check(grid, slapd, "--json")
    assert result.exit_code == 1, result.output
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["site"] == "BRAVO" and problem["problem"] == "unreachable"
    assert problem["detail"].startswith("its GIP provider could not be run: ")


def test_check_without_a_bdii_says_it_needs_one_in_one_line(tmp_path: Path) -> None:
    grid = small_grid(tmp_path)
    result = invoke("infosys", "check", config=grid.config)
    assert result.exit_code == 2
    assert result.output == (
        "Error: pps infosys check compares the sites with a BDII: give --infosys "
        "ldap://HOST:PORT or set [infosys] url in pps.toml\n"
    )


# --------------------------------------------------------------------------- bad input
ODD_SITE = "<b>\"Q\"</b>&'x'"
UTF8_SITE = "Zürich-T2"
ODD_TAGS = ["VO-dteam-PPS-a*()\\b-1.0", "VO-dteam-PPS-esc\x1b[31m-1.0", "VO-dteam-PPS-nl\nx-1.0"]
UTF8_TAG = "VO-dteam-PPS-café-1.0"


def _load_odd_bdii(server: Slapd) -> None:
    from pps.glue import escape_dn_value

    odd, utf8 = escape_dn_value(ODD_SITE), escape_dn_value(UTF8_SITE)
    server.add(
        "\n".join(
            [
                subcluster(SITE_GLUE1.format(site=odd), "ce1", ODD_TAGS),
                *(
                    app_env(SITE_GLUE2.format(site=odd), f"urn:{i}", t)
                    for i, t in enumerate(ODD_TAGS)
                ),
                subcluster(SITE_GLUE1.format(site=utf8), "ce2", [TAG]),
                app_env(SITE_GLUE2.format(site=utf8), "urn:u", UTF8_TAG, "installedbroken"),
                app_env(RESOURCE_GLUE2, "urn:r", TAG, pps_site=ODD_SITE),
            ]
        )  # fmt: skip
    )


def test_names_and_tags_with_html_quotes_filter_characters_and_utf8_are_read_safely(
    slapd: Slapd, nowhere: Path
) -> None:
    _load_odd_bdii(slapd)
    result = invoke("infosys", "map", "--glue2", "--infosys", slapd.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tags"] == {
        ODD_TAGS[0]: {ODD_SITE: {"glue1": True, "glue2": "installedverified"}},
        UTF8_TAG: {UTF8_SITE: {"glue1": False, "glue2": "installedbroken"}},
        ODD_TAGS[1]: {ODD_SITE: {"glue1": True, "glue2": "installedverified"}},
        ODD_TAGS[2]: {ODD_SITE: {"glue1": True, "glue2": "installedverified"}},
        TAG: {
            ODD_SITE: {"glue1": False, "glue2": "installedverified"},
            UTF8_SITE: {"glue1": True, "glue2": None},
        },
    }
    table = invoke("infosys", "map", "--glue2", "--infosys", slapd.url)
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.output
    lines = table.stdout.splitlines()
    assert len(lines) == 7  # a header and one line per tag and site: no value broke a line
    assert lines[3].split() == [
        "VO-dteam-PPS-esc\\x1b[31m-1.0",
        ODD_SITE,
        "yes",
        "installedverified",
    ]
    assert lines[6].split() == ["VO-dteam-PPS-nl\\nx-1.0", ODD_SITE, "yes", "installedverified"]
    assert lines[2].split() == [UTF8_TAG, UTF8_SITE, "-", "installedbroken"]


def test_a_tag_with_filter_characters_or_utf8_given_to_map_matches_only_itself(
    slapd: Slapd, nowhere: Path
) -> None:
    _load_odd_bdii(slapd)
    for tag, site in ((ODD_TAGS[0], ODD_SITE), (UTF8_TAG.upper(), UTF8_SITE)):
        result = invoke("infosys", "map", "--glue2", "--infosys", slapd.url, "--json", "--tag", tag)
        assert result.exit_code == 0, result.output
        tags = json.loads(result.stdout)["tags"]
        assert [t.casefold() for t in tags] == [tag.casefold()]
        assert list(tags[next(iter(tags))]) == [site]


def test_malformed_entries_are_skipped_with_a_warning_naming_the_dn(
    slapd: Slapd, nowhere: Path
) -> None:
    parent = SITE_GLUE2.format(site="S1")
    slapd.add(
        "\n".join(
            [
                app_env(parent, "urn:no-state", TAG, state=None),
                app_env(RESOURCE_GLUE2, "urn:nowhere", TAG),
                subcluster(SITE_GLUE1.format(site="S1"), "ce1", [TAG]),
            ]
        )  # fmt: skip
    )
    result = invoke("infosys", "map", "--glue2", "--infosys", slapd.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == [TAG, "S1", "yes", "-"]
    assert sorted(result.stderr.splitlines()) == [
        f"warning: skipping GLUE2ApplicationEnvironmentID=urn:no-state,{parent}: it has no "
        "GLUE2ApplicationEnvironmentState",
        "warning: skipping GLUE2ApplicationEnvironmentID=urn:nowhere,GLUE2GroupID=resource,"
        "o=glue: it names no site (no GLUE2DomainID=<site> in the DN, no GLUE2EntityOtherInfo "
        "PPSSite=)",
    ]


def test_an_unreachable_bdii_is_one_line_and_exit_1(nowhere: Path) -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    result = invoke("infosys", "map", "--glue2", "--infosys", url, "--timeout", "5")
    assert result.exit_code == 1
    assert result.output == f"Error: cannot reach the BDII at {url}: connection refused\n"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"ldap://127.0.0.1:{s.getsockname()[1]}"


def test_a_bdii_that_never_answers_is_one_line_within_the_timeout(
    silent_server: str, tmp_path: Path
) -> None:
    grid = small_grid(tmp_path, infosys=f'url = "{silent_server}"\ntimeout = 1.5')
    _release(grid)
    _ldap3()  # imported once per process: not part of the read the timeout bounds
    for args in (("infosys", "map"), ("infosys", "check"), ("bulletin", "build", "--out", "b")):
        started = time.monotonic()
        result = invoke(*args, config=grid.config)
        elapsed = time.monotonic() - started
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"Error: the BDII at {silent_server} did not answer within 1.5 s "
            "([infosys] timeout, --timeout)\n"
        )
        assert elapsed < 1.5 + 1.5


def test_a_bdii_returning_more_values_than_the_limit_stops_with_one_line(
    slapd: Slapd, tmp_path: Path
) -> None:
    many = [f"VO-dteam-PPS-t-{i}" for i in range(400)]
    slapd.add(
        subcluster(SITE_GLUE1.format(site="S1"), "ce1", many)
        + "\n"
        + subcluster(SITE_GLUE1.format(site="S2"), "ce2", many[:50])
    )
    result = invoke("infosys", "map", "--glue2", "--infosys", slapd.url, "--max-values", "300")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: stopped reading the BDII at {slapd.url}: it returned more than 300 values "
        "([infosys] max_values, --max-values)\n"
    )
    grid = small_grid(tmp_path, infosys=f'url = "{slapd.url}"\nmax_values = 100')
    result = invoke("infosys", "map", config=grid.config)
    assert result.exit_code == 1
    assert "it returned more than 100 values" in result.output
    assert (
        invoke("infosys", "map", "--glue2", "--infosys", slapd.url, "--max-values", "500").exit_code
        == 0
    )


@pytest.fixture
def endless_server() -> Iterator[str]:
    """A TCP server that answers any request with one LDAP message announcing 2 GiB, then
    streams it without end: a BDII returning a million values, at its most compact."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(bytes([0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF]))
                    while not stop.is_set():
                        conn.sendall(b"\x04\x10VO-x-PPS-y-1.0-" * 4096)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    thread.join(timeout=10)


def test_a_server_streaming_one_endless_entry_is_cut_off_at_its_header(
    endless_server: str, nowhere: Path
) -> None:
    started = time.monotonic()
    result = invoke("infosys", "map", "--infosys", endless_server, "--max-values", "1000")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: stopped reading the BDII at {endless_server}: it sent one entry of 2147483647 "
        "bytes, more than 1048576 ([infosys] max_values, --max-values)\n"
    )
    assert time.monotonic() - started < 5


def test_the_infosys_commands_load_neither_jinja2_nor_paramiko() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from distributor.cli import cli\n"
        "try:\n    cli(['infosys', 'map', '--infosys', 'ldap://127.0.0.1:1', '--timeout', '1'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('jinja2', 'paramiko', 'bulletin') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
