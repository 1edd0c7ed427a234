"""pps-gip-provider's LDIF in a real site BDII: Debian's slapd (GLUE schemas, schema checking
on) accepts every entry, refuses each one that lacks a MUST attribute, and Debian's bdii-update
publishes both modes (provider: full entries; plugin: RTE values merged into the site's own
SubCluster entry).  Everything is read back with ldap3 and checked with ldapsearch too."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from pps.glue import (
    RTE_ATTR,
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    Entry,
    ldif_entry,
    parse_ldif,
    published_tags,
)
from probes._records import VersionRecord, write_record
from probes._tagsfile import add_tags, remove_tags
from tests import bdii_helpers
from tests.bdii_helpers import (
    BdiiUpdate,
    Schema,
    Slapd,
    escape_filter_chars,
    gip_command,
    load_schema,
    normalize_dn,
    read_entries,
)

slapd = bdii_helpers.slapd  # the fixture, in this module

SITE = "INFN-PISA"
#: Long enough that the DNs and IDs are folded on their way through.
SC = "ce01.preview-subcluster.pi.infn.it"
SC_DN = f"GlueSubClusterUniqueID={SC},GlueClusterUniqueID={SC},Mds-Vo-name=resource,o=grid"
UI = "VO-dteam-PPS-glite-UI-3.2.8-0"
UI_NEXT = "VO-dteam-PPS-glite-UI-3.2.9-0"
WN_BROKEN = "VO-dteam-PPS-glite-WN-3.2.1-0"
UI_RETIRED = "VO-dteam-PPS-glite-UI-3.2.7-0"
EXPECTED_STATES = {
    "PPS-PREVIEW": STATE_VERIFIED,
    UI: STATE_VERIFIED,
    UI_NEXT: STATE_NOT_VERIFIED,
    WN_BROKEN: STATE_BROKEN,
    UI_RETIRED: STATE_PENDING_REMOVAL,
}
LIVE = ["PPS-PREVIEW", UI, UI_NEXT]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site's info dir and preview root with a tag in each GLUE 2.0 state."""
    root = tmp_path / "site"
    add_tags(root / "info", SC, "dteam", ["PPS-PREVIEW", UI, UI_NEXT])
    state = root / "preview" / ".pps" / "state"
    for component, version, status in (
        ("glite-UI", "3.2.8-0", "verified"),
        ("glite-UI", "3.2.9-0", "untested"),
        ("glite-WN", "3.2.1-0", "broken"),
        ("glite-UI", "3.2.7-0", "retired"),
    ):
        write_record(
            state / component / f"{version}.json",
            VersionRecord(
                component,
                version,
                "a" * 64,
                status,
                installed_at="2010-05-20T09:30:00Z",
                retired_at="2010-06-01T12:00:00Z" if status == "retired" else None,
                vos=("dteam",),
            ),
        )
    return root


def gip_argv(site: Path, *extra: str) -> list[str]:
    return [
        *gip_command(),
        *extra,
        "--no-site-config",
        "--site", SITE,
        "--subcluster", SC,
        "--info-dir", str(site / "info"),
        "--preview-root", str(site / "preview"),
    ]  # fmt: skip


def run_gip(site: Path, *extra: str) -> str:
    proc = subprocess.run(gip_argv(site, *extra), capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return proc.stdout


def script(site: Path, *extra: str) -> str:
    """A GIP script for bdii-update's provider or plugin directory."""
    return f"#!/bin/sh\nexec {shlex.join(gip_argv(site, *extra))}\n"


def rte_values(entries: list[Entry], dn: str = SC_DN) -> list[str]:
    (sc,) = [e for e in entries if normalize_dn(e.dn) == normalize_dn(dn)]
    return sc.get(RTE_ATTR)


def subcluster_in(url: str) -> Entry | None:
    """The SubCluster entry as slapd has it now (ldap3), None while there is none."""
    filt = f"(GlueSubClusterUniqueID={escape_filter_chars(SC)})"
    found = read_entries(url, "o=grid", filt)
    return found[0] if found else None


def states(entries: list[Entry]) -> dict[str, str]:
    return {t.tag: t.state for t in published_tags(entries).values()}


def app_envs(url: str) -> list[Entry]:
    return read_entries(url, "o=glue", "(objectClass=GLUE2ApplicationEnvironment)")


def ldapsearch_rte(server: Slapd, tag: str) -> list[Entry]:
    """The SubCluster entries ldapsearch finds for *tag* (RTE values match without case)."""
    filt = f"({RTE_ATTR}={escape_filter_chars(tag.lower())})"
    return parse_ldif(server.search("o=grid", filt, [RTE_ATTR]))


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema()


# -- the provider's output in slapd --------------------------------------------------------------


def test_slapd_with_schema_checking_accepts_every_entry_of_provider_mode(
    slapd: Slapd, site: Path, schema: Schema
) -> None:
    ldif = run_gip(site, "--publish-cluster")
    written = parse_ldif(ldif)

    slapd.add(ldif)

    grid = read_entries(slapd.url, "o=grid", "(objectClass=GlueClusterTop)")
    glue = app_envs(slapd.url)
    stored = {normalize_dn(e.dn): e for e in grid + glue}
    assert set(stored) == {normalize_dn(e.dn) for e in written}
    for e in stored.values():
        for objectclass in e.get("objectClass"):
            assert schema.must(objectclass) <= set(e.attrs), (e.dn, objectclass)
    assert rte_values(grid) == LIVE
    assert states(grid + glue) == EXPECTED_STATES
    (found,) = ldapsearch_rte(slapd, UI)
    assert normalize_dn(found.dn) == normalize_dn(SC_DN)
    assert ldapsearch_rte(slapd, WN_BROKEN) == []


def _without(entry: Entry, attr: str) -> str:
    attrs = [(k, v) for k, values in entry.attrs.items() if k != attr for v in values]
    return ldif_entry(entry.dn, attrs)


def test_slapd_refuses_each_entry_that_lacks_one_of_its_must_attributes(
    slapd: Slapd, site: Path, schema: Schema
) -> None:
    entries = parse_ldif(run_gip(site, "--publish-cluster"))
    cases = 0
    for e in (entries[0], entries[1], entries[2]):  # cluster, subcluster, one ApplicationEnv
        musts = set().union(*(schema.must(c) for c in e.get("objectClass")))
        # slapd fills in the naming attribute from the DN itself: leaving it out proves nothing.
        musts.discard(e.dn.split("=", 1)[0].lower())
        assert musts, e.dn
        for attr in sorted(musts):
            result = slapd.add(_without(e, attr), check=False)
            assert result.returncode != 0, f"slapd took {e.dn} without {attr}"
            assert "object class violation" in result.stderr.lower(), result.stderr
            cases += 1
    # the schema versions of both GLUE 1.3 entries, AppName and the manager's foreign key
    assert cases == 6


@pytest.mark.parametrize(
    ("attr", "bad"),
    [("GlueHostMainMemoryRAMSize", "16GB"), ("GlueHostNetworkAdapterInboundIP", "yes")],
    ids=["integer", "boolean"],
)
def test_slapd_checks_value_syntax_so_accepting_ours_means_the_forms_are_right(
    slapd: Slapd, site: Path, attr: str, bad: str
) -> None:
    sc = parse_ldif(run_gip(site))[0]
    sc.attrs[attr.lower()] = [bad]
    pairs = [(k, v) for k, values in sc.attrs.items() for v in values]

    result = slapd.add(ldif_entry(sc.dn, pairs), check=False)

    assert result.returncode != 0
    assert "invalid per syntax" in result.stderr, result.stderr


# -- through the real bdii-update ------------------------------------------------------------------


def test_bdii_update_publishes_provider_mode_and_follows_a_withdrawn_tag(
    slapd: Slapd, site: Path, tmp_path: Path
) -> None:
    bdii = BdiiUpdate(slapd, tmp_path / "bdii")
    bdii.add_provider("pps-gip-provider", script(site, "--publish-cluster"))

    merged = parse_ldif(_content_records(bdii.run_once()))
    assert rte_values(merged) == LIVE

    bdii.start_daemon()
    try:
        bdii.wait_for(lambda: subcluster_in(slapd.url))
        assert rte_values(read_entries(slapd.url, "o=grid")) == LIVE
        bdii.wait_for(lambda: len(app_envs(slapd.url)) == len(EXPECTED_STATES))
        assert states(app_envs(slapd.url)) == EXPECTED_STATES
        assert [normalize_dn(e.dn) for e in ldapsearch_rte(slapd, "pps-preview")] == [
            normalize_dn(SC_DN)
        ]

        remove_tags(site / "info", SC, "dteam", [UI_NEXT])

        bdii.wait_for(lambda: ldapsearch_rte(slapd, UI_NEXT) == [])
        assert rte_values(read_entries(slapd.url, "o=grid")) == ["PPS-PREVIEW", UI]
        bdii.wait_for(lambda: UI_NEXT not in states(app_envs(slapd.url)))
    finally:
        bdii.stop()
    assert "ERROR" not in bdii.log()


#: The site's own SubCluster, as YAIM's static file in bdii's ldif dir publishes it.
SITE_SUBCLUSTER = f"""\
dn: GlueClusterUniqueID={SC},Mds-Vo-name=resource,o=grid
objectClass: GlueClusterTop
objectClass: GlueCluster
GlueClusterUniqueID: {SC}

dn: {SC_DN}
objectClass: GlueClusterTop
objectClass: GlueSubCluster
objectClass: GlueHostApplicationSoftware
objectClass: GlueHostMainMemory
GlueSubClusterUniqueID: {SC}
GlueSubClusterName: the site's own name
GlueHostMainMemoryRAMSize: 8192
GlueHostApplicationSoftwareRunTimeEnvironment: LCG-2
GlueHostApplicationSoftwareRunTimeEnvironment: GLITE-3_2_0
GlueHostApplicationSoftwareRunTimeEnvironment: PPS-PREVIEW

"""


def test_bdii_update_merges_plugin_mode_into_the_sites_own_subcluster(
    slapd: Slapd, site: Path, tmp_path: Path
) -> None:
    bdii = BdiiUpdate(slapd, tmp_path / "bdii")
    (bdii.ldif_dir / "static-file-Cluster.ldif").write_text(SITE_SUBCLUSTER)
    bdii.add_plugin("pps-gip-plugin", script(site, "--mode", "plugin"))
    bdii.add_provider("pps-gip-glue2", script(site, "--glue2-only"))
    expected = ["LCG-2", "GLITE-3_2_0", "PPS-PREVIEW", UI, UI_NEXT]

    merged = parse_ldif(_content_records(bdii.run_once()))
    assert rte_values(merged) == expected  # PPS-PREVIEW once: bdii-update merged the values

    bdii.start_daemon()
    try:
        bdii.wait_for(lambda: (subcluster_in(slapd.url) or Entry("")).get(RTE_ATTR) == expected)
        sc = subcluster_in(slapd.url)
        assert sc is not None
        assert sc.first("GlueSubClusterName") == "the site's own name"  # the rest is the site's
        assert sc.first("GlueHostMainMemoryRAMSize") == "8192"
        bdii.wait_for(lambda: len(app_envs(slapd.url)) == len(EXPECTED_STATES))
        assert states(app_envs(slapd.url)) == EXPECTED_STATES
        assert len(ldapsearch_rte(slapd, UI)) == 1
        assert len(ldapsearch_rte(slapd, "LCG-2")) == 1
    finally:
        bdii.stop()
    assert "ERROR" not in bdii.log()


def test_a_plugin_cannot_add_glue2_entries_which_is_why_they_come_from_a_provider(
    slapd: Slapd, site: Path, tmp_path: Path
) -> None:
    """bdii-update hands a plugin's records for DNs no provider printed to ldapmodify as they
    are: an entry (not a change record) is refused there, every cycle."""
    bdii = BdiiUpdate(slapd, tmp_path / "bdii")
    bdii.add_plugin("glue2-as-plugin", script(site, "--glue2-only"))

    bdii.start_daemon()
    try:
        bdii.wait_for(lambda: bdii.log().count("modify operation type is missing") >= 10)
        assert app_envs(slapd.url) == []
    finally:
        bdii.stop()


def _content_records(merged: str) -> str:
    """bdii-update's one-cycle output (no blank lines between entries) as LDIF."""
    return merged.replace("\ndn: ", "\n\ndn: ")
