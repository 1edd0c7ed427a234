"""pps.glue: the GLUE LDIF a site publishes (written in RFC 2849 form, with every attribute
the installed GLUE schemas make mandatory) and reading it back."""

from __future__ import annotations

import re

import pytest

from pps.errors import BadInput
from pps.glue import (
    APPENV_CLASSES,
    CLUSTER_CLASSES,
    DEFAULT_VALIDITY,
    GLUE2_STATES,
    GLUE13_SUFFIX,
    LDIF_WIDTH,
    RTE_ATTR,
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    SUBCLUSTER_CLASSES,
    PublishedTag,
    SubClusterInfo,
    app_env_id,
    escape_dn_value,
    fold,
    is_utc_timestamp,
    ldif_entry,
    ldif_line,
    parse_ldif,
    published_tags,
    write_plugin_ldif,
    write_site_ldif,
)
from tests.bdii_helpers import (
    SYNTAX_BOOLEAN,
    SYNTAX_IA5,
    SYNTAX_INTEGER,
    Schema,
    load_schema,
)


def _ldif():
    return write_site_ldif(
        site="INFN-PISA",
        cluster="ce01.pi.infn.it",
        subcluster="ce01.pi.infn.it",
        tags=[
            PublishedTag("VO-dteam-PPS-glite-UI-3.2.8-0", version="3.2.8-0"),
            PublishedTag("PPS-PREVIEW"),
            PublishedTag("VO-dteam-PPS-glite-WN-1.0", state=STATE_BROKEN, version="1.0"),
        ],
    )


def test_glue13_subcluster_entry_carries_only_live_tags():
    entries = parse_ldif(_ldif())
    sc = entries[0]
    assert sc.dn == (
        "GlueSubClusterUniqueID=ce01.pi.infn.it,GlueClusterUniqueID=ce01.pi.infn.it,"
        "Mds-Vo-name=resource,o=grid"
    )
    assert sc.get(RTE_ATTR) == ["PPS-PREVIEW", "VO-dteam-PPS-glite-UI-3.2.8-0"]


def test_glue2_has_one_application_environment_per_tag_with_its_state():
    entries = [e for e in parse_ldif(_ldif()) if e.has_class("GLUE2ApplicationEnvironment")]
    states = {e.first("GLUE2ApplicationEnvironmentAppName"): e.first(
        "GLUE2ApplicationEnvironmentState") for e in entries}  # fmt: skip
    assert states == {
        "PPS-PREVIEW": "installedverified",
        "VO-dteam-PPS-glite-UI-3.2.8-0": "installedverified",
        "VO-dteam-PPS-glite-WN-1.0": "installedbroken",
    }
    assert all(e.dn.endswith(",GLUE2GroupID=resource,o=glue") for e in entries)


def test_published_tags_reads_states_back():
    tags = published_tags(parse_ldif(_ldif()))
    assert tags["vo-dteam-pps-glite-ui-3.2.8-0"].live
    assert not tags["vo-dteam-pps-glite-wn-1.0"].live


def test_ldif_parser_unfolds_lines_decodes_base64_and_skips_comments():
    text = "# c\ndn: o=grid\nobjectClass: top\ndescription: a lon\n g value\nname:: w6lsw6k=\n"
    (e,) = parse_ldif(text)
    assert e.get("description") == ["a long value"]
    assert e.get("name") == ["élé"]


def test_values_that_ldif_cannot_carry_plainly_are_base64_encoded():
    assert ldif_line("a", " leading") == "a:: IGxlYWRpbmc="
    assert ldif_line("a", "<x>") == "a:: PHg+"
    assert ldif_line("a", "plain") == "a: plain"


def test_dn_values_are_escaped():
    assert escape_dn_value('a,b+c"d') == 'a\\,b\\+c\\"d'


@pytest.mark.parametrize(
    "text",
    ["objectClass: top\n", "dn: o=grid\nchangetype: delete\n", "dn: o=x\nphoto:< file:///etc\n",
     "dn: o=x\nno colon here\n"],
    ids=["no-dn", "change-record", "url-value", "garbage"],
)  # fmt: skip
def test_ldif_parser_refuses_what_published_information_never_needs(text):
    with pytest.raises(BadInput, match="line"):
        parse_ldif(text)


# -- the writer: LDIF form ----------------------------------------------------------------------

SITE = "INFN-PISA"
SC = "ce01.pi.infn.it"
NOW = "2010-06-01T12:00:00Z"


def _full_ldif(**kwargs) -> str:
    tags = [
        PublishedTag("VO-dteam-PPS-glite-UI-3.2.8-0", version="3.2.8-0", installed=NOW),
        PublishedTag("PPS-PREVIEW"),
        PublishedTag("VO-dteam-PPS-glite-UI-3.2.9-0", STATE_NOT_VERIFIED, "3.2.9-0"),
        PublishedTag("VO-dteam-PPS-glite-WN-1.0", state=STATE_BROKEN, version="1.0"),
        PublishedTag("VO-dteam-PPS-glite-WN-0.9", STATE_PENDING_REMOVAL, "0.9", removal=NOW),
    ]
    args = {"site": SITE, "cluster": SC, "subcluster": SC, "tags": tags, "created": NOW}
    args.update(kwargs)
    return write_site_ldif(**args)


def _physical_lines(text: str) -> list[str]:
    return text.split("\n")


def test_no_written_line_is_longer_than_76_characters_and_folds_read_back():
    long_sc = "a-very-long-subcluster-name-of-a-computing-element.some-institute.example.org"
    text = _full_ldif(subcluster=long_sc, cluster=long_sc)

    assert max(len(line) for line in _physical_lines(text)) <= LDIF_WIDTH
    assert any(line.startswith(" ") for line in _physical_lines(text))  # something was folded
    sc = next(e for e in parse_ldif(text) if e.has_class("GlueSubCluster"))
    assert sc.dn == (
        f"GlueSubClusterUniqueID={long_sc},GlueClusterUniqueID={long_sc},"
        "Mds-Vo-name=resource,o=grid"
    )
    assert sc.first("GlueChunkKey") == f"GlueClusterUniqueID={long_sc}"


def test_folding_keeps_every_character_and_continues_with_one_space():
    line = "description: " + "x" * 200
    folded = fold(line)
    parts = folded.split("\n")
    assert parts[0] == line[:76]
    assert all(p.startswith(" ") and len(p) <= 76 for p in parts[1:])
    assert parts[0] + "".join(p[1:] for p in parts[1:]) == line
    assert fold("short: line") == "short: line"


def test_entries_are_separated_by_one_blank_line_and_the_text_ends_with_one_newline():
    text = _full_ldif()
    records = text.split("\n\n")
    assert len(records) == len(parse_ldif(text))
    assert all(r.strip() and not r.startswith("\n") for r in records)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\n\n\n" not in text


def test_values_ldif_cannot_carry_plainly_are_base64_and_read_back():
    odd = SubClusterInfo(os_name=":colon first", os_release="trailing space ")
    entry = ldif_entry("o=grid", [("description", "élé"), ("os", odd.os_name)])
    assert "description:: w6lsw6k=" in entry
    assert "os:: " in entry
    (e,) = parse_ldif(entry)
    assert e.get("description") == ["élé"]
    assert e.get("os") == [":colon first"]


def test_a_dn_that_ldif_cannot_carry_plainly_or_a_value_with_dn_colon_is_refused():
    with pytest.raises(BadInput, match="plain LDIF"):
        ldif_entry("o=gr\u00efd", [])
    with pytest.raises(BadInput, match="dn:"):
        ldif_entry("o=grid", [("description", "see dn: o=x")])


def test_tags_with_dn_special_characters_get_a_percent_encoded_id_and_an_escaped_dn():
    tag = "VO-x+y,z=w"
    (app,) = [e for e in parse_ldif(_full_ldif(tags=[PublishedTag(tag)])) if e.has_class(
        "GLUE2ApplicationEnvironment")]  # fmt: skip
    assert app.first("GLUE2ApplicationEnvironmentID") == f"urn:pps:{SC}:VO-x%2By%2Cz%3Dw"
    assert app.dn.startswith(f"GLUE2ApplicationEnvironmentID=urn:pps:{SC}:VO-x%2By%2Cz%3Dw,")
    assert app.first("GLUE2ApplicationEnvironmentAppName") == tag
    assert app_env_id(SC, "VO-dteam-PPS-glite-UI-3.2.8-0") == (
        f"urn:pps:{SC}:VO-dteam-PPS-glite-UI-3.2.8-0"
    )


# -- the writer: what the schemas ask for ----------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema()


def test_every_entry_has_every_must_attribute_of_each_of_its_classes(schema: Schema):
    entries = parse_ldif(_full_ldif(cluster_entry=True))
    assert {c for e in entries for c in e.get("objectClass")} >= {
        *SUBCLUSTER_CLASSES,
        *CLUSTER_CLASSES,
        *APPENV_CLASSES,
    }
    for e in entries:
        for objectclass in e.get("objectClass"):
            assert schema.has_class(objectclass), objectclass
            missing = schema.must(objectclass) - set(e.attrs)
            assert missing == set(), f"{e.dn} ({objectclass}) lacks {sorted(missing)}"
        # ... and nothing its classes do not allow
        allowed = {"objectclass"}
        for objectclass in e.get("objectClass"):
            allowed |= _may_and_must(schema, objectclass)
        assert set(e.attrs) - allowed == set(), e.dn


def _may_and_must(schema: Schema, objectclass: str) -> set[str]:
    out: set[str] = set()
    todo = [objectclass.lower()]
    while todo:
        sup, must, may = schema.classes.get(todo.pop(), ([], [], []))
        out |= {a.lower() for a in must + may}
        todo += [s.lower() for s in sup]
    return out


#: What the SubCluster leaves out of the attributes GlueSubCluster lists: nothing a site
#: describes in its site file holds them, and no reader of RTE tags needs them.
SUBCLUSTER_LEFT_OUT = {
    "gluehostprocessorversion",
    "gluehostprocessorinstructionset",
    "gluehostprocessorotherdescription",
}


def test_the_subcluster_publishes_every_attribute_its_class_lists_but_three(schema: Schema):
    sc = next(e for e in parse_ldif(_full_ldif()) if e.has_class("GlueSubCluster"))
    listed = _may_and_must(schema, "GlueSubCluster")
    assert listed - set(sc.attrs) == SUBCLUSTER_LEFT_OUT
    for objectclass in ("GlueSchemaVersion", "GlueInformationService", "GlueKey"):
        assert _may_and_must(schema, objectclass) - {"glueforeignkey"} <= set(sc.attrs)


def test_values_have_the_form_their_syntax_and_glue_ask_for(schema: Schema):
    info = SubClusterInfo(physical_cpus=64, logical_cpus=256, ram_size=4096, inbound_ip=True)
    entries = parse_ldif(_full_ldif(info=info, cluster_entry=True))
    for e in entries:
        for attr, values in e.attrs.items():
            syntax = schema.syntax(attr)
            for v in values:
                assert v, f"{e.dn}: empty {attr}"
                if syntax == SYNTAX_INTEGER:
                    assert re.fullmatch(r"-?\d+", v), f"{attr}: {v!r} is not an integer"
                    assert abs(int(v)) < 2**31  # GLUE 1.3 Int32
                elif syntax == SYNTAX_BOOLEAN:
                    assert v in ("TRUE", "FALSE"), f"{attr}: {v!r}"
                elif syntax == SYNTAX_IA5:
                    assert v.isascii(), f"{attr}: {v!r} is not IA5"
    sc = next(e for e in entries if e.has_class("GlueSubCluster"))
    assert (sc.first("GlueSubClusterLogicalCPUs"), sc.first("GlueHostMainMemoryRAMSize")) == (
        "256",
        "4096",
    )
    assert sc.first("GlueHostNetworkAdapterInboundIP") == "TRUE"
    for app in (e for e in entries if e.has_class("GLUE2ApplicationEnvironment")):
        assert is_utc_timestamp(app.first("GLUE2EntityCreationTime"))
        assert re.fullmatch(r"\d+", app.first("GLUE2EntityValidity"))
        assert app.first("GLUE2ApplicationEnvironmentState") in GLUE2_STATES
        assert re.fullmatch(r"urn:pps:[\w.-]+:[\w.~%-]+", app.first(
            "GLUE2ApplicationEnvironmentID"))  # fmt: skip
        for removal in app.get("GLUE2ApplicationEnvironmentRemovalDate"):
            assert is_utc_timestamp(removal)


def test_glue2_entries_carry_state_version_manager_creation_time_and_validity():
    entries = parse_ldif(_full_ldif(manager_id="ce01_Manager", validity=600))
    apps = {e.first("GLUE2ApplicationEnvironmentAppName"): e for e in entries if e.has_class(
        "GLUE2ApplicationEnvironment")}  # fmt: skip
    assert {name: e.first("GLUE2ApplicationEnvironmentState") for name, e in apps.items()} == {
        "PPS-PREVIEW": "installedverified",
        "VO-dteam-PPS-glite-UI-3.2.8-0": "installedverified",
        "VO-dteam-PPS-glite-UI-3.2.9-0": "installednotverified",
        "VO-dteam-PPS-glite-WN-1.0": "installedbroken",
        "VO-dteam-PPS-glite-WN-0.9": "pendingremoval",
    }
    ui = apps["VO-dteam-PPS-glite-UI-3.2.8-0"]
    assert ui.first("GLUE2ApplicationEnvironmentAppVersion") == "3.2.8-0"
    assert ui.first("GLUE2ApplicationEnvironmentComputingManagerForeignKey") == "ce01_Manager"
    assert (ui.first("GLUE2EntityCreationTime"), ui.first("GLUE2EntityValidity")) == (NOW, "600")
    assert f"InstalledAt={NOW}" in ui.get("GLUE2EntityOtherInfo")
    assert apps["VO-dteam-PPS-glite-WN-0.9"].get("GLUE2ApplicationEnvironmentRemovalDate") == [NOW]
    assert apps["PPS-PREVIEW"].get("GLUE2ApplicationEnvironmentAppVersion") == []
    # Not-verified tags are still live in GLUE 1.3 (the probe kept the tag one more run).
    sc = next(e for e in entries if e.has_class("GlueSubCluster"))
    assert sc.get(RTE_ATTR) == [
        "PPS-PREVIEW",
        "VO-dteam-PPS-glite-UI-3.2.8-0",
        "VO-dteam-PPS-glite-UI-3.2.9-0",
    ]


def test_the_default_manager_is_the_one_a_cream_ce_of_the_subcluster_publishes():
    app = next(e for e in parse_ldif(_full_ldif()) if e.has_class("GLUE2ApplicationEnvironment"))
    assert app.first("GLUE2ApplicationEnvironmentComputingManagerForeignKey") == (
        f"{SC}_ComputingElement_Manager"
    )
    assert app.first("GLUE2EntityValidity") == str(DEFAULT_VALIDITY)


def test_one_spelling_of_a_tag_is_published_in_glue13_whatever_its_case():
    text = _full_ldif(tags=[PublishedTag("PPS-PREVIEW"), PublishedTag("pps-preview")])
    sc = next(e for e in parse_ldif(text) if e.has_class("GlueSubCluster"))
    assert len(sc.get(RTE_ATTR)) == 1


def test_glue2_only_and_the_cluster_entry_are_chosen_by_the_caller():
    only2 = parse_ldif(_full_ldif(glue13=False))
    assert only2 and all(e.dn.endswith(",GLUE2GroupID=resource,o=glue") for e in only2)
    with_cluster = parse_ldif(_full_ldif(cluster_entry=True))
    cluster = with_cluster[0]
    assert cluster.dn == f"GlueClusterUniqueID={SC},Mds-Vo-name=resource,o=grid"
    assert cluster.get("GlueForeignKey") == [f"GlueSiteUniqueID={SITE}"]
    other_parent = parse_ldif(_full_ldif(glue2_parent="GLUE2ResourceID=r,GLUE2ServiceID=s,o=glue"))
    apps = [e for e in other_parent if e.has_class("GLUE2ApplicationEnvironment")]
    assert all(e.dn.endswith(",GLUE2ResourceID=r,GLUE2ServiceID=s,o=glue") for e in apps)


def test_the_plugin_record_adds_only_the_live_tags_to_the_subcluster():
    tags = [
        PublishedTag("VO-dteam-PPS-glite-UI-3.2.8-0", version="3.2.8-0"),
        PublishedTag("VO-dteam-PPS-glite-WN-1.0", state=STATE_BROKEN, version="1.0"),
    ]
    text = write_plugin_ldif(site=SITE, cluster="cl", subcluster=SC, tags=tags)
    assert text == (
        f"# pps preview tags of site {SITE} (bdii-update plugin)\n"
        + fold(f"dn: GlueSubClusterUniqueID={SC},GlueClusterUniqueID=cl,{GLUE13_SUFFIX}")
        + "\n"
        "changetype: modify\n"
        f"add: {RTE_ATTR}\n"
        f"{RTE_ATTR}: VO-dteam-PPS-glite-UI-3.2.8-0\n"
        "-\n"
    )
    nothing_live = write_plugin_ldif(site=SITE, cluster="cl", subcluster=SC, tags=tags[1:])
    assert nothing_live == f"# pps preview tags of site {SITE} (bdii-update plugin)\n"
