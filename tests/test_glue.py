from __future__ import annotations

import pytest

from pps.errors import BadInput
from pps.glue import (
    RTE_ATTR,
    STATE_BROKEN,
    PublishedTag,
    escape_dn_value,
    ldif_line,
    parse_ldif,
    published_tags,
    write_site_ldif,
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
