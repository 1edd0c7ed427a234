"""The reader of published information: which site each GLUE entry belongs to, for every DN
shape a BDII or a GIP provider gives, and the same map from a real slapd as from its LDIF."""

from __future__ import annotations

import base64

import pytest

from distributor.infosys.bdii import BdiiReader, InfosysError, read_bdii
from pps.errors import BadInput
from pps.glue import (
    STATE_BROKEN,
    PublishedTag,
    escape_dn_value,
    ldif_line,
    parse_ldif,
    write_site_ldif,
)
from pps.publication import parse_ldap_url, read_entries, split_dn
from tests import bdii_helpers
from tests.bdii_helpers import Slapd

slapd = bdii_helpers.slapd  # the fixtures, in this module
slapd_factory = bdii_helpers.slapd_factory

TAG = "VO-dteam-PPS-glite-UI-3.2.8-0"
WN = "VO-dteam-PPS-glite-WN-1.0"

TOP_GLUE1 = "Mds-Vo-name=resource,Mds-Vo-name={site},Mds-Vo-name=local,o=grid"
SITE_GLUE1 = "Mds-Vo-name={site},o=grid"
RESOURCE_GLUE1 = "Mds-Vo-name=resource,o=grid"
TOP_GLUE2 = "GLUE2GroupID=resource,GLUE2DomainID={site},GLUE2GroupID=grid,o=glue"
SITE_GLUE2 = "GLUE2GroupID=resource,GLUE2DomainID={site},o=glue"
RESOURCE_GLUE2 = "GLUE2GroupID=resource,o=glue"


def _dn_line(dn: str) -> str:
    if dn.isascii() and dn.isprintable():
        return f"dn: {dn}"
    return f"dn:: {base64.b64encode(dn.encode()).decode()}"


def subcluster(
    parent: str, sub: str, tags: list[str], cluster: str | None = None, chunk: bool = True
) -> str:
    """A GLUE 1.3 SubCluster entry with *tags* under ``GlueClusterUniqueID=...,<parent>``."""
    cluster = cluster or sub
    dn = (
        f"GlueSubClusterUniqueID={escape_dn_value(sub)},"
        f"GlueClusterUniqueID={escape_dn_value(cluster)},{parent}"
    )
    lines = [
        _dn_line(dn),
        "objectClass: GlueClusterTop",
        "objectClass: GlueSubCluster",
        "objectClass: GlueHostApplicationSoftware",
        "objectClass: GlueKey",
        ldif_line("GlueSubClusterUniqueID", sub),
    ]
    if chunk:
        lines.append(ldif_line("GlueChunkKey", f"GlueClusterUniqueID={cluster}"))
    lines += [ldif_line("GlueHostApplicationSoftwareRunTimeEnvironment", t) for t in tags]
    return "\n".join(lines) + "\n"


def cluster_entry(parent: str, cluster: str, site: str) -> str:
    """A GLUE 1.3 Cluster entry whose foreign key names *site*."""
    return "\n".join([
        _dn_line(f"GlueClusterUniqueID={escape_dn_value(cluster)},{parent}"),
        "objectClass: GlueClusterTop",
        "objectClass: GlueCluster",
        "objectClass: GlueKey",
        ldif_line("GlueClusterUniqueID", cluster),
        ldif_line("GlueForeignKey", f"GlueSiteUniqueID={site}"),
    ]) + "\n"  # fmt: skip


def app_env(
    parent: str,
    app_id: str,
    name: str | None,
    state: str | None = "installedverified",
    pps_site: str | None = None,
) -> str:
    """A GLUE 2.0 ApplicationEnvironment entry; None leaves the attribute out."""
    lines = [
        _dn_line(f"GLUE2ApplicationEnvironmentID={escape_dn_value(app_id)},{parent}"),
        "objectClass: GLUE2Entity",
        "objectClass: GLUE2ApplicationEnvironment",
        ldif_line("GLUE2ApplicationEnvironmentID", app_id),
        "GLUE2ApplicationEnvironmentComputingManagerForeignKey: ce_Manager",
    ]
    if name is not None:
        lines.append(ldif_line("GLUE2ApplicationEnvironmentAppName", name))
    if state is not None:
        lines.append(ldif_line("GLUE2ApplicationEnvironmentState", state))
    if pps_site is not None:
        lines.append(ldif_line("GLUE2EntityOtherInfo", f"PPSSite={pps_site}"))
    return "\n".join(lines) + "\n"


def site_ldif(site: str, tags: list[str], glue1: str, glue2: str, sub: str = "") -> str:
    """One site's subcluster and one GLUE 2.0 entry per tag, under the given parents."""
    sub = sub or f"ce.{site.lower()}.test"
    dn_site = escape_dn_value(site)
    records = [subcluster(glue1.format(site=dn_site), sub, tags)]
    records += [
        app_env(glue2.format(site=dn_site), f"urn:pps:{sub}:{t}", t, pps_site=None) for t in tags
    ]
    return "\n".join(records)


def mapping(text: str, **kwargs) -> dict:
    """``{tag: {site: (glue1, state)}}`` read from LDIF *text*."""
    pub = read_entries(parse_ldif(text), **kwargs)
    return {
        tag: {site: (st.glue1, st.state) for site, st in sites.items()}
        for tag, sites in pub.version_map().items()
    }


def test_a_top_bdii_names_the_site_in_the_dn_of_both_schemas():
    text = site_ldif("INFN-PISA", [TAG], TOP_GLUE1, TOP_GLUE2)
    assert mapping(text) == {TAG: {"INFN-PISA": (True, "installedverified")}}


def test_a_site_bdii_names_the_site_right_under_the_suffix():
    text = site_ldif("CERN-PROD", [TAG, "PPS-PREVIEW"], SITE_GLUE1, SITE_GLUE2)
    assert mapping(text) == {
        "PPS-PREVIEW": {"CERN-PROD": (True, "installedverified")},
        TAG: {"CERN-PROD": (True, "installedverified")},
    }


def test_a_resource_bdii_takes_the_glue13_site_from_the_inventory_and_glue2_from_ppssite():
    text = (
        subcluster(RESOURCE_GLUE1, "ce01.pi.infn.it", [TAG])
        + "\n"
        + app_env(RESOURCE_GLUE2, "urn:x", TAG, pps_site="INFN-PISA")
    )
    assert mapping(text, inventory={"ce01.pi.infn.it": "INFN-PISA"}) == {
        TAG: {"INFN-PISA": (True, "installedverified")}
    }


def test_a_resource_bdii_takes_the_site_from_the_glue_cluster_foreign_key():
    text = "\n".join([
        cluster_entry(RESOURCE_GLUE1, "cluster01", "UKI-LT2-QMUL"),
        subcluster(RESOURCE_GLUE1, "sc01", [TAG], cluster="cluster01"),
    ])  # fmt: skip
    assert mapping(text) == {TAG: {"UKI-LT2-QMUL": (True, "")}}


def test_an_entry_that_names_no_site_is_skipped_with_a_warning_naming_its_dn():
    text = "\n".join([
        subcluster(RESOURCE_GLUE1, "lost.example.org", [TAG]),
        app_env(RESOURCE_GLUE2, "urn:lost", WN),
        site_ldif("INFN-PISA", [TAG], TOP_GLUE1, TOP_GLUE2),
    ])  # fmt: skip
    pub = read_entries(parse_ldif(text))
    assert list(pub.version_map()) == [TAG]
    assert pub.warnings == [
        "skipping GlueSubClusterUniqueID=lost.example.org,GlueClusterUniqueID=lost.example.org,"
        "Mds-Vo-name=resource,o=grid: it names no site (no Mds-Vo-name=<site> in the DN, and "
        "neither the inventory nor a GlueCluster entry gives the site of its subcluster)",
        "skipping GLUE2ApplicationEnvironmentID=urn:lost,GLUE2GroupID=resource,o=glue: it names "
        "no site (no GLUE2DomainID=<site> in the DN, no GLUE2EntityOtherInfo PPSSite=)",
    ]


def test_glue2_entries_without_app_name_or_state_are_skipped_with_a_warning():
    parent = SITE_GLUE2.format(site="INFN-PISA")
    text = "\n".join([
        app_env(parent, "urn:no-state", TAG, state=None),
        app_env(parent, "urn:no-name", None),
        app_env(parent, "urn:ok", WN, state="installedbroken"),
    ])  # fmt: skip
    pub = read_entries(parse_ldif(text))
    assert mapping(text) == {WN: {"INFN-PISA": (False, "installedbroken")}}
    assert pub.warnings == [
        f"skipping GLUE2ApplicationEnvironmentID=urn:no-state,{parent}: it has no "
        "GLUE2ApplicationEnvironmentState",
        f"skipping GLUE2ApplicationEnvironmentID=urn:no-name,{parent}: it has no "
        "GLUE2ApplicationEnvironmentAppName",
    ]


def test_site_names_and_tags_compare_case_insensitively_and_keep_the_first_spelling():
    text = "\n".join([
        subcluster(TOP_GLUE1.format(site="INFN-PISA"), "ce01", [TAG]),
        app_env(TOP_GLUE2.format(site="infn-pisa"), "urn:1", TAG.lower()),
    ])  # fmt: skip
    assert mapping(text) == {TAG: {"INFN-PISA": (True, "installedverified")}}


def test_only_preview_tags_are_read():
    text = site_ldif(
        "INFN-PISA", ["VO-atlas-offline-17.2.0", "GLITE-3_2_0", TAG], SITE_GLUE1, SITE_GLUE2
    )
    assert list(mapping(text)) == [TAG]


def test_a_sites_own_gip_output_is_that_sites_whatever_its_dns_say():
    text = write_site_ldif(
        site="INFN-PISA",
        cluster="ce01.pi.infn.it",
        subcluster="ce01.pi.infn.it",
        tags=[PublishedTag(TAG), PublishedTag(WN, state=STATE_BROKEN)],
    )
    assert mapping(text, source_site="INFN-PISA") == {
        TAG: {"INFN-PISA": (True, "installedverified")},
        WN: {"INFN-PISA": (False, "installedbroken")},
    }


def test_a_site_that_answered_with_no_tags_is_known_with_none():
    pub = read_entries([], source_site="BOREAL-T2")
    found = pub.site("boreal-t2")
    assert found is not None and found.name == "BOREAL-T2" and found.tags == {}


def test_dn_values_are_unescaped_in_every_rfc_4514_form():
    assert split_dn(r"Mds-Vo-name=a\,b\2Cc\<\3E,o=grid") == [
        ("mds-vo-name", "a,b,c<>"),
        ("o", "grid"),
    ]
    assert split_dn(r"GLUE2DomainID=Z\C3\BCrich + cn=x, o=glue") == [
        ("glue2domainid", "Zürich"),
        ("cn", "x"),
        ("o", "glue"),
    ]
    assert split_dn('Mds-Vo-name="a,b",o=grid') == [("mds-vo-name", "a,b"), ("o", "grid")]


def test_a_dn_that_does_not_parse_is_skipped_with_a_warning():
    text = "dn: nonsense\nGlueHostApplicationSoftwareRunTimeEnvironment: " + TAG + "\n"
    pub = read_entries(parse_ldif(text))
    assert pub.sites == {}
    assert pub.warnings == [
        "skipping an entry: DN 'nonsense' is not valid: 'nonsense' is no type=value"
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ldap://bdii.example.org:2170", "ldap://bdii.example.org:2170"),
        ("LDAP://bdii.example.org", "ldap://bdii.example.org:389"),
        ("ldaps://bdii.example.org/", "ldaps://bdii.example.org:636"),
        ("ldap://[::1]:2170", "ldap://[::1]:2170"),
    ],
)
def test_a_bdii_url_is_host_and_port(url, expected):
    assert parse_ldap_url(url).url == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://bdii:2170", "it must start with ldap:// or ldaps://"),
        ("ldap://bdii:2170/o=grid", "it must name only a host and a port"),
        ("ldap://bdii:2170??sub", "it must name only a host and a port"),
        ("ldap://me:pw@bdii:2170", "it must not carry a user or password"),
        ("ldap://:2170", "it names no host"),
        ("ldap://bdii:99999", "Port out of range 0-65535"),
        ("ldap://bdii:0", "port 0 is not a TCP port"),
        ("ldap://bdii:http", "Port could not be cast to integer value as 'http'"),
        ("ldap://bd ii:2170", "it holds spaces, control or non-ASCII characters"),
    ],
)
def test_a_bad_bdii_url_is_refused_naming_it(url, message):
    with pytest.raises(BadInput) as e:
        parse_ldap_url(url)
    assert str(e.value) == f"BDII URL {url!r} is not valid: {message} (use ldap://HOST:PORT)"


# ------------------------------------------------------------------ against a real slapd
def _load_top_bdii(server: Slapd) -> str:
    text = "\n".join([
        site_ldif("INFN-PISA", [TAG, "PPS-PREVIEW"], TOP_GLUE1, TOP_GLUE2),
        site_ldif("CERN-PROD", [TAG, WN], SITE_GLUE1, SITE_GLUE2),
        subcluster(RESOURCE_GLUE1, "ce.aurora.test", [WN]),
        app_env(RESOURCE_GLUE2, "urn:aurora:wn", WN, "installedbroken", pps_site="AURORA-LCG2"),
    ])  # fmt: skip
    server.add(text)
    return text


def test_the_bdii_and_its_ldif_give_the_same_map(slapd: Slapd) -> None:
    text = _load_top_bdii(slapd)
    inventory = {"ce.aurora.test": "AURORA-LCG2"}
    from_bdii = read_bdii(slapd.url, inventory=inventory)
    from_ldif = read_entries(parse_ldif(text), inventory=inventory)
    assert from_bdii.map_json() == from_ldif.map_json()
    assert from_bdii.map_json()["tags"][WN] == {
        "AURORA-LCG2": {"glue1": True, "glue2": "installedbroken"},
        "CERN-PROD": {"glue1": True, "glue2": "installedverified"},
    }
    assert from_bdii.warnings == []


def test_a_small_page_size_still_reads_every_entry(slapd: Slapd) -> None:
    _load_top_bdii(slapd)
    whole = read_bdii(slapd.url, inventory={"ce.aurora.test": "AURORA-LCG2"})
    paged = read_bdii(slapd.url, inventory={"ce.aurora.test": "AURORA-LCG2"}, page_size=2)
    assert paged.map_json() == whole.map_json()


def test_a_resource_bdii_is_resolved_through_glue_cluster_entries_with_odd_ids(
    slapd: Slapd,
) -> None:
    odd = "cl*(uster)\\01"
    slapd.add(
        cluster_entry(RESOURCE_GLUE1, odd, "UKI-LT2-QMUL")
        + "\n"
        + subcluster(RESOURCE_GLUE1, "sc01", [TAG], cluster=odd)
        + "\n"
        + cluster_entry(RESOURCE_GLUE1, "cl", "DECOY")
    )
    pub = read_bdii(slapd.url)
    assert pub.map_json()["tags"] == {TAG: {"UKI-LT2-QMUL": {"glue1": True, "glue2": None}}}


def test_a_tag_with_filter_metacharacters_matches_only_itself(slapd: Slapd) -> None:
    star = "VO-dteam-PPS-a*-1.0"
    parent1 = SITE_GLUE1.format(site="S1")
    parent2 = SITE_GLUE2.format(site="S1")
    slapd.add(
        subcluster(parent1, "ce1", [star, "VO-dteam-PPS-abc-1.0"])
        + "\n"
        + app_env(parent2, "urn:1", star)
        + "\n"
        + app_env(parent2, "urn:2", "VO-dteam-PPS-abc-1.0")
    )
    pub = read_bdii(slapd.url, tag=star.upper())
    assert list(pub.version_map()) == [star]
    assert pub.version_map()[star]["S1"].glue1
    assert pub.version_map()[star]["S1"].state == "installedverified"


def test_a_bdii_without_glue2_is_read_through_glue13_alone(slapd_factory) -> None:
    server = slapd_factory(seed=False)
    server.add(subcluster(SITE_GLUE1.format(site="S1"), "ce1", [TAG]))
    assert read_bdii(server.url).map_json()["tags"] == {TAG: {"S1": {"glue1": True, "glue2": None}}}


def test_reading_more_values_than_the_limit_stops_with_one_line(slapd: Slapd) -> None:
    slapd.add(
        subcluster(SITE_GLUE1.format(site="S1"), "ce1", [f"VO-x-PPS-t-{i}" for i in range(30)])
    )
    with pytest.raises(InfosysError) as e:
        read_bdii(slapd.url, max_values=20)
    assert str(e.value) == (
        f"stopped reading the BDII at {slapd.url}: it returned more than 20 values "
        "([infosys] max_values, --max-values)"
    )


def test_a_reader_outside_its_context_is_a_programming_error(slapd: Slapd) -> None:
    # an explicit check, not an assert: it holds under python -O too
    with pytest.raises(RuntimeError, match="use BdiiReader as a context"):
        BdiiReader(slapd.url).search("o=grid", "(objectClass=*)", ["cn"])


# ------------------------------------------------------------------ the fast paths
def _mixed_publication(glue2: bool):
    """Sites with odd names, one tag spelt two ways, and (*glue2*) GLUE 2.0 states."""
    text = "\n".join([
        site_ldif("Zürich-T2", [TAG, "PPS-PREVIEW"], TOP_GLUE1, TOP_GLUE2),
        site_ldif('CERN "PROD"', [TAG.upper(), WN], SITE_GLUE1, SITE_GLUE2),
        site_ldif("alpha", [WN.lower(), "VO-dteam-PPS-é-1"], SITE_GLUE1, SITE_GLUE2),
        subcluster(TOP_GLUE1.format(site="Zürich-T2"), "ce2", ["VO-ops-PPS-x-1", TAG.lower()]),
        subcluster(RESOURCE_GLUE1, "lost", [TAG]),  # a warning
    ])  # fmt: skip
    entries = parse_ldif(text)
    if not glue2:
        entries = [e for e in entries if "glue2applicationenvironmentappname" not in e.attrs]
    return entries


@pytest.mark.parametrize("glue2", [False, True], ids=["glue13", "both"])
@pytest.mark.parametrize(
    "extra",
    [None, {"bdii": "ldap://b:2170", "glue2": False, "site_errors": {"S": "x", "A": "é"}},
     {"aaa": [1, {"z": None, "a": 2}], "sites": ["replaced"]}, {"tags": "replaced"}],
    ids=["none", "cli", "overrides", "tags"],
)  # fmt: skip
def test_the_map_as_json_text_is_what_json_gives(glue2, extra) -> None:
    import json

    entries = _mixed_publication(glue2)
    expected = json.dumps({**read_entries(entries).map_json(), **(extra or {})}, sort_keys=True)
    assert read_entries(entries).map_json_text(extra) == expected
    kept = read_entries(entries)
    kept.keep_only(TAG.lower())
    assert json.loads(kept.map_json_text())["tags"] == kept.map_json()["tags"] != {}


def test_glue13_tags_are_read_as_is_pps_tag_says_keeping_the_first_spelling() -> None:
    from pps.glue import Entry
    from pps.publication import is_pps_tag

    values = ["VO-a-PPS-b", "vo-a-pps-B", "vo-pps-x", "vo--pps-", "PPS-PREVIEW", "pps-preview ",
              "VO-x-PPſ-y", "GLITE-3_2_0", "", "Pps-Preview", "VO-ß-PPS-1",
              "VO-SS-PPS-1"]  # fmt: skip
    for i in range(len(values)):
        rte = values[i:] + values[:i]
        dn = "GlueSubClusterUniqueID=x,Mds-Vo-name=S,o=grid"
        pub = read_entries([Entry(dn, {"gluehostapplicationsoftwareruntimeenvironment": rte})])
        expected: dict[str, str] = {}
        for t in rte:
            if is_pps_tag(t):
                expected.setdefault(t.casefold(), t)
        found = pub.site("S")
        assert found is not None
        assert [(k, t.tag, t.glue1) for k, t in found.tags.items()] == [
            (k, t, True) for k, t in expected.items()
        ]


@pytest.mark.parametrize(
    "dn",
    ["Mds-Vo-name=S,o=grid", " mds-vo-name = S , Mds-Vo-name=local,o=grid", "o=grid", "",
     "Mds-Vo-name=resource,o=grid", "Mds-Vo-name=A,Mds-Vo-name=B,o=grid", "Mds-Vo-name= ,o=grid",
     "MDS-VO-NAME=Local,o=grid", "Mds-Vo-name=a=b,o=grid", "x,o=grid", "=S,o=grid",
     "Mds-Vo-name=S,,o=grid", "GLUE2DomainID=D,o=glue"],
)  # fmt: skip
def test_a_plain_dn_gives_the_site_split_dn_gives(dn) -> None:
    from pps.publication import _plain_site, site_in_dn

    for attribute in ("mds-vo-name", "glue2domainid"):
        try:
            expected = site_in_dn(split_dn(dn), attribute)
        except BadInput as e:
            with pytest.raises(BadInput) as got:
                _plain_site(dn, attribute)
            assert str(got.value) == str(e)
        else:
            assert _plain_site(dn, attribute) == expected


def test_values_that_are_not_utf8_are_read_with_the_bad_bytes_escaped() -> None:
    from distributor.infosys.bdii import _DecodeEveryValue, _ldap3

    _ldap3()
    from ldap3.protocol.formatters.standard import format_attribute_values

    values = [b"VO-x-PPS-caf\xc3\xa9", b"VO-x-PPS-\xff-1", b""]
    assert format_attribute_values(None, "AnyName", values, _DecodeEveryValue()) == [
        "VO-x-PPS-café",
        "VO-x-PPS-\\xff-1",
        "",
    ]


def test_a_top_bdii_is_read_without_the_ids_a_resource_bdii_needs(slapd: Slapd) -> None:
    slapd.add(subcluster(TOP_GLUE1.format(site="S1"), "ce1", [TAG]))
    pub = read_bdii(slapd.url, glue2=False)
    top = pub.site("S1")
    assert top is not None
    assert [list(e.attrs) for e in top.entries] == [
        ["gluehostapplicationsoftwareruntimeenvironment"]
    ]
    slapd.add(subcluster(RESOURCE_GLUE1, "ce2", [WN]))
    pub = read_bdii(slapd.url, glue2=False, inventory={"ce2": "S2"})
    assert sorted(pub.version_map()) == sorted([TAG, WN])
    resource = pub.site("S2")
    assert resource is not None and resource.entries[0].get("GlueChunkKey") == [
        "GlueClusterUniqueID=ce2"
    ]


def test_the_bounds_of_a_resource_bdii_read_count_the_search_with_the_ids_alone(
    slapd: Slapd,
) -> None:
    # the entry, its 30 tags, its subcluster ID and chunk key: 33 values
    slapd.add(subcluster(RESOURCE_GLUE1, "ce1", [f"VO-x-PPS-t-{i}" for i in range(30)]))
    pub = read_bdii(slapd.url, glue2=False, max_values=33, inventory={"ce1": "S1"})
    assert len(pub.version_map()) == 30
    with pytest.raises(InfosysError, match="more than 32 values"):
        read_bdii(slapd.url, glue2=False, max_values=32, inventory={"ce1": "S1"})
