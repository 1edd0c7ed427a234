"""An ARC-CE's RunTimeEnvironments read back into the version map, and a site's kind in the
inventory (issue 16, "Reading them back").

A-REX publishes a pps RTE ``ENV/PPS/GLITE-UI-3.2.8-0`` as a GLUE 2.0 ApplicationEnvironment
whose AppName and AppVersion are the name cut at its first ``-`` followed by a digit.  The reader
(:func:`pps.publication.read_entries`, behind ``pps infosys map``/``check`` and the bulletin) puts
it in the same map as the GLUE 1.3 tags, under the RTE name rejoined from the two values and
parsed by :mod:`pps.rte` (never by trusting where the publisher cut it).  The real part: the LDIF
the real A-REX information provider (ARC 6.17 ``CEinfo.pl``) writes for its LDAP infosys.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pps.errors import ConfigError
from pps.glue import parse_ldif
from pps.inventory import SITE_KINDS, load_config
from pps.publication import read_entries, rte_tag
from pps.rte import parse_rte_name, rte_name, split_rte_name
from tests import arc_helpers
from tests.arc_helpers import ArcSite

arc_site = arc_helpers.arc_site

NAME = "ENV/PPS/GLITE-UI-3.2.8-0"
TOP = "GLUE2GroupID=resource,GLUE2DomainID=ARC-SITE,GLUE2GroupID=grid,o=glue"


def app_env(app_id: str, name: str | None, version: str | None, state: str = "installednotverified",
            parent: str = TOP) -> str:  # fmt: skip
    lines = [
        f"dn: GLUE2ApplicationEnvironmentID={app_id},{parent}",
        "objectClass: GLUE2Entity",
        "objectClass: GLUE2ApplicationEnvironment",
        f"GLUE2ApplicationEnvironmentID: {app_id}",
        "GLUE2ApplicationEnvironmentComputingManagerForeignKey: urn:ogf:ComputingManager:x",
        f"GLUE2ApplicationEnvironmentState: {state}",
    ]
    if name is not None:
        lines.append(f"GLUE2ApplicationEnvironmentAppName: {name}")
    if version is not None:
        lines.append(f"GLUE2ApplicationEnvironmentAppVersion: {version}")
    return "\n".join(lines) + "\n"


def mapping(text: str, **kwargs: object) -> dict[str, dict[str, tuple[bool, str]]]:
    pub = read_entries(parse_ldif(text), **kwargs)  # type: ignore[arg-type]
    return {
        tag: {site: (t.glue1, t.state) for site, t in sites.items()}
        for tag, sites in pub.version_map().items()
    }


# -------------------------------------------------------------- the real A-REX provider


def test_the_rtes_a_rex_publishes_are_in_the_map_beside_the_glue13_tags(
    arc_site: ArcSite,
) -> None:
    arc_site.write_rte(NAME, "# description: pps preview\n")
    arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's own\n")
    arc_site.arcctl("rte", "enable", NAME)
    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0")
    ldif = arc_site.ldif()
    assert "GLUE2ApplicationEnvironmentAppName: ENV/PPS/GLITE-UI" in ldif  # A-REX's own split
    glue13 = (
        "dn: GlueSubClusterUniqueID=ce.glite.example.org,GlueClusterUniqueID=ce.glite.example.org,"
        "Mds-Vo-name=GLITE-SITE,o=grid\nobjectClass: GlueSubCluster\n"
        "GlueHostApplicationSoftwareRunTimeEnvironment: VO-dteam-PPS-glite-UI-3.2.8-0\n"
    )

    pub = read_entries(parse_ldif(ldif), source_site="ARC-SITE")
    read_entries(parse_ldif(glue13), publication=pub)

    found = {
        t: {s: (x.glue1, x.state) for s, x in at.items()} for t, at in pub.version_map().items()
    }
    assert found == {
        NAME: {"ARC-SITE": (False, "installednotverified")},
        "VO-dteam-PPS-glite-UI-3.2.8-0": {"GLITE-SITE": (True, "")},
    }
    assert pub.warnings == []


def test_a_disabled_rte_is_not_in_the_map(arc_site: ArcSite) -> None:
    arc_site.write_rte(NAME, "# description: pps preview\n")
    arc_site.arcctl("rte", "enable", NAME)
    arc_site.arcctl("rte", "disable", NAME)

    assert mapping(arc_site.ldif(), source_site="ARC-SITE") == {}


# ------------------------------------------------------------------- what is read, exactly


def test_the_site_of_an_arc_entry_in_a_top_bdii_is_its_domain() -> None:
    text = app_env("urn:1", "ENV/PPS/GLITE-UI", "3.2.8-0")
    assert mapping(text) == {NAME: {"ARC-SITE": (False, "installednotverified")}}


@pytest.mark.parametrize(
    ("name", "version", "tag"),
    [
        ("ENV/PPS/GLITE-UI", "3.2.8-0", NAME),
        # no AppVersion: the whole RTE name in AppName (an ARC 0.x publisher, or by hand)
        ("ENV/PPS/GLITE-UI-3.2.8-0", None, NAME),
        ("ENV/PPS/GLITE-UI-3.2.8-0", "", NAME),
        # cut elsewhere than A-REX cuts: the name rejoined is the RTE a job asks for
        ("ENV/PPS/GLITE-UI-3.2", "8-0", "ENV/PPS/GLITE-UI-3.2-8-0"),
        # spelt in lower case: kept as published (GLUE strings compare case-insensitively)
        ("env/pps/glite-ui", "3.2.8-0", "env/pps/glite-ui-3.2.8-0"),
    ],
)
def test_the_rte_name_is_rejoined_from_appname_and_appversion(
    name: str, version: str | None, tag: str
) -> None:
    assert mapping(app_env("urn:1", name, version)) == {
        tag: {"ARC-SITE": (False, "installednotverified")}
    }


def test_an_rte_under_env_pps_that_names_no_preview_is_skipped_with_a_warning() -> None:
    text = app_env("urn:1", "ENV/PPS/ROOT", None) + "\n" + app_env("urn:2", NAME, None)
    pub = read_entries(parse_ldif(text))
    assert list(pub.version_map()) == [NAME]
    assert pub.warnings == [
        f"skipping GLUE2ApplicationEnvironmentID=urn:1,{TOP}: its RTE 'ENV/PPS/ROOT' is under "
        "ENV/PPS/ but names no preview version (ENV/PPS/<COMPONENT>-<VERSION>)"
    ]


def test_other_rtes_are_not_previews_and_are_skipped_silently() -> None:
    text = "\n".join(
        app_env(f"urn:{i}", n, v)
        for i, (n, v) in enumerate(
            [("ENV/PROXY", None), ("ENV/SITE/TOOLS", "1.0"), ("APPS/PPS/X", "1")]
        )  # fmt: skip
    )
    pub = read_entries(parse_ldif(text))
    assert pub.version_map() == {} and pub.warnings == []


def test_an_rte_at_two_ces_of_a_site_keeps_its_best_state() -> None:
    text = app_env("urn:1", "ENV/PPS/GLITE-UI", "3.2.8-0", "installedbroken") + "\n"
    text += app_env("urn:2", "ENV/PPS/GLITE-UI", "3.2.8-0", "installednotverified")
    assert mapping(text) == {NAME: {"ARC-SITE": (False, "installednotverified")}}


# ---------------------------------------------------------------------- outside values

_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(rest=_text, version=st.one_of(st.none(), _text), prefix=st.sampled_from(
    ["ENV/PPS/", "env/pps/", "Env/Pps/"]))  # fmt: skip
def test_whatever_a_server_says_under_env_pps_is_read_or_skipped_never_misread(
    rest: str, version: str | None, prefix: str
) -> None:
    name = (prefix + rest).strip()
    tag = rte_tag(name, version.strip() if version is not None else None)
    if tag is not None:
        ref = parse_rte_name(tag)
        assert ref is not None  # the name a job asks for is a preview's
        assert rte_name(ref.component, ref.version) == tag.upper()
    ldif = app_env("urn:1", name or None, version)
    try:
        entries = parse_ldif(ldif)
    except ValueError:
        return  # not LDIF at all ("dn:" in a value and the like): the LDIF reader's line
    pub = read_entries(entries)
    assert list(pub.version_map()) == ([tag] if tag is not None else [])


_component = st.from_regex(r"[A-Za-z][A-Za-z0-9_.+]{0,10}(-[A-Za-z][A-Za-z0-9_.+]{0,5}){0,2}",
                           fullmatch=True)  # fmt: skip
_version = st.from_regex(r"[0-9][A-Za-z0-9_.+]{0,8}(-[A-Za-z0-9_.+]{1,4}){0,2}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(component=_component, version=_version)
def test_every_name_pps_enables_comes_back_as_itself_from_a_rex_split(
    component: str, version: str
) -> None:
    try:
        name = rte_name(component, version)
    except ValueError:
        return  # no RTE name (pps.rte's grammar): the probe never enables one
    app_name, app_version = split_rte_name(name)
    assert mapping(app_env("urn:1", app_name, app_version)) == {
        name: {"ARC-SITE": (False, "installednotverified")}
    }


# ------------------------------------------------------------------- kind in the inventory

SITE = """
[repository]
path = "repo"
[[sites]]
name = "S1"
partner = "gold"
vos = ["dteam"]
transport = "local"
root = "sites/S1"
subcluster = "ce.s1.example.org"
"""


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "pps.toml"
    path.write_text(SITE + extra)
    return path


def test_a_site_is_a_glite_site_unless_the_inventory_says_otherwise(tmp_path: Path) -> None:
    assert load_config(config(tmp_path)).site("S1").kind == "glite"
    assert SITE_KINDS == ("glite", "arc", "condor")


@pytest.mark.parametrize("kind", ["glite", "arc", "condor"])
def test_every_kind_is_taken(tmp_path: Path, kind: str) -> None:
    assert load_config(config(tmp_path, f'kind = "{kind}"\n')).site("S1").kind == kind


@pytest.mark.parametrize("value", ['"ARC"', '"cream"', '""', "5", '["arc"]', '"arc "'])
def test_a_bad_kind_is_one_line_naming_the_site(tmp_path: Path, value: str) -> None:
    path = config(tmp_path, f"kind = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: site 'S1': 'kind' must be one of glite, arc, condor, got ")
