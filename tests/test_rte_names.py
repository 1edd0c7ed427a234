"""pps.rte: ARC RTE names and their split, the HTCondor PPS_RTE attribute and its snippet.

The split is checked against ARC's own (``Arc::Software`` through Debian's python3-nordugrid-arc)
and the HTCondor side against the htcondor wheel (``classad2`` for ``stringListIMember``, the
wheel's config reader for the snippet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import classad2
import htcondor2  # noqa: F401  (registers HTCondor's ClassAd functions: stringListIMember)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pps import rte
from pps.errors import BadInput
from pps.names import PREVIEW_CAPABILITY, release_tag_key, version_tag
from tests.realparts import require

LONG = "3." + "9" * 90
NAMES = [
    # component, version, RTE name, AppName, AppVersion
    ("glite-UI", "3.2.8-0", "ENV/PPS/GLITE-UI-3.2.8-0", "ENV/PPS/GLITE-UI", "3.2.8-0"),
    ("arc_client", "6.17", "ENV/PPS/ARC_CLIENT-6.17", "ENV/PPS/ARC_CLIENT", "6.17"),
    ("emi.ui.x", "10.0.1rc2", "ENV/PPS/EMI.UI.X-10.0.1RC2", "ENV/PPS/EMI.UI.X", "10.0.1RC2"),
    ("a-", "1", "ENV/PPS/A--1", "ENV/PPS/A-", "1"),
    ("x", "1-2.0", "ENV/PPS/X-1-2.0", "ENV/PPS/X", "1-2.0"),
    ("fts-cli", LONG, "ENV/PPS/FTS-CLI-" + LONG, "ENV/PPS/FTS-CLI", LONG),
]  # fmt: skip
AMBIGUOUS = [
    ("root-6x", "1.0", "component 'root-6x' has '-6' in it"),
    ("x-1", "2.0", "component 'x-1' has '-1' in it"),
    ("glite-UI", "rc1", "version 'rc1' does not start with a digit"),
    ("glite-UI", "v3.2", "version 'v3.2' does not start with a digit"),
]


@pytest.mark.parametrize(("component", "version", "name", "app", "appv"), NAMES)
def test_rte_name_is_env_pps_upper_case_and_splits_back(
    component: str, version: str, name: str, app: str, appv: str
) -> None:
    assert rte.rte_name(component, version) == name
    assert rte.split_rte_name(name) == (app, appv)
    ref = rte.parse_rte_name(name)
    assert ref == rte.RteRef(component.upper(), version.upper())
    assert rte.parse_app_environment(app, appv) == ref
    assert ref is not None
    assert release_tag_key(ref.component, ref.version) == release_tag_key(component, version)


@pytest.mark.parametrize(("component", "version", "message"), AMBIGUOUS)
def test_pairs_whose_arc_split_would_differ_are_refused_naming_why(
    component: str, version: str, message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        rte.rte_name(component, version)


@pytest.mark.parametrize(
    ("component", "version"), [('glite"UI', "1.0"), ("glite/UI", "1.0"), ("ui", "1;0"), ("", "1")]
)
def test_names_outside_the_core_grammar_are_refused(component: str, version: str) -> None:
    with pytest.raises(BadInput):
        rte.rte_name(component, version)


@pytest.mark.parametrize(
    "name",
    [
        "ENV/PROXY",
        "APPS/HEP/ATLAS-20.1.0",
        "ENV/PPS/ROOT-X1",  # no '-' followed by a digit: no version
        "ENV/PPS/GLITE-UI",  # no version
        "ENV/PPS/",
        "ENV/PPS/-1.0",
        "ENV/PPS/A/B-1.0",
        "",
    ],
)
def test_other_rte_names_are_not_previews(name: str) -> None:
    assert rte.parse_rte_name(name) is None


def test_parse_accepts_any_letter_case() -> None:
    assert rte.parse_rte_name("env/pps/glite-ui-3.2.8-0") == rte.RteRef("glite-ui", "3.2.8-0")
    # ROOT-6X-1.0 is what rte_name("root", "6x-1.0") makes, whatever the site meant by it.
    assert rte.parse_rte_name("ENV/PPS/ROOT-6X-1.0") == rte.RteRef("ROOT", "6X-1.0")
    assert rte.parse_app_environment("Env/Pps/GLITE-UI", "3.2.8-0") == rte.RteRef(
        "GLITE-UI", "3.2.8-0"
    )


ARC_SPLIT = textwrap.dedent(
    """
    import json, sys
    import arc
    out = []
    for name in json.load(sys.stdin):
        s = arc.Software(name)
        out.append([s.getName(), s.getVersion()])
    json.dump(out, sys.stdout)
    """
)


def arc_split(names: list[str]) -> list[list[str]]:
    """ARC's own split of RTE names (Arc::Software), through Debian's python3."""
    python = require("/usr/bin/python3", "python3-nordugrid-arc")
    probe = subprocess.run([python, "-c", "import arc"], capture_output=True, check=False)
    if probe.returncode != 0:
        require("/nonexistent/python3-arc", "python3-nordugrid-arc")
    out = subprocess.run(
        [python, "-c", ARC_SPLIT],
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_the_split_is_arcs_own() -> None:
    names = [n[2] for n in NAMES] + ["ENV/PROXY", "ENV/PPS/ROOT-6X-1.0", "APPS/X-1.0-RC"]
    assert arc_split(names) == [list(rte.split_rte_name(n)) for n in names]


name_chars = st.sampled_from("abcXYZ019._-")
components = st.text(name_chars, min_size=1, max_size=20).filter(lambda s: s[0] not in "._-")
versions = st.text(name_chars, min_size=1, max_size=20).filter(lambda s: s[0] not in "._-")


@settings(max_examples=400, deadline=None)
@given(components, versions)
def test_round_trip_or_refusal(component: str, version: str) -> None:
    """Every pair gets a name that splits back to it (in upper case), or a one-line refusal."""
    try:
        name = rte.rte_name(component, version)
    except BadInput as e:
        assert "\n" not in str(e)
        return
    assert name == name.upper() and name.startswith(rte.RTE_PREFIX)
    assert rte.parse_rte_name(name) == rte.RteRef(component.upper(), version.upper())
    assert rte.parse_rte_name(name.lower()) == rte.RteRef(component.lower(), version.lower())


@settings(max_examples=300, deadline=None)
@given(components, versions, components, versions)
def test_two_pairs_share_a_name_only_if_their_tags_do(c1: str, v1: str, c2: str, v2: str) -> None:
    try:
        n1, n2 = rte.rte_name(c1, v1), rte.rte_name(c2, v2)
    except BadInput:
        return
    assert (n1 == n2) == (release_tag_key(c1, v1) == release_tag_key(c2, v2))


# --- HTCondor ---------------------------------------------------------------------------------

TAG = version_tag("vo.neugrid.eu", "glite-UI", "3.2.8-0")


def machine(value: str | None) -> classad2.ClassAd:
    ad = classad2.ClassAd({"Requirements": True})
    if value is not None:
        ad[rte.CONDOR_ATTRIBUTE] = value
    return ad


def job(requirement: str) -> classad2.ClassAd:
    ad = classad2.ClassAd()
    ad["Requirements"] = classad2.ExprTree(requirement)
    return ad


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (rte.condor_value([TAG, PREVIEW_CAPABILITY]), True),
        (rte.condor_value([TAG.upper()]), True),
        (rte.condor_value([TAG.lower(), PREVIEW_CAPABILITY]), True),
        (rte.condor_value([PREVIEW_CAPABILITY]), False),
        (rte.condor_value([TAG + "-1"]), False),  # a longer tag is another tag
        (rte.condor_value([version_tag("dteam", "glite-UI", "3.2.8-0")]), False),
        ("", False),
        (None, False),  # no attribute at all: Undefined is no match
    ],
)
def test_condor_requirement_with_string_list_i_member(value: str | None, matches: bool) -> None:
    requirement = rte.condor_requirement(TAG)
    assert requirement == f'stringListIMember("{TAG}", TARGET.PPS_RTE)'
    assert job(requirement).symmetricMatch(machine(value)) is matches


def test_condor_value_dedups_case_insensitively_and_parses_back() -> None:
    value = rte.condor_value([TAG, PREVIEW_CAPABILITY, TAG.upper(), "pps-preview"])
    assert value == f"{TAG},{PREVIEW_CAPABILITY}"
    assert rte.parse_condor_value(value) == [TAG, PREVIEW_CAPABILITY]
    assert rte.parse_condor_value(" a, b ,,c ") == ["a", "b", "c"]
    assert rte.condor_value([]) == ""


@pytest.mark.parametrize("bad", ["a,b", "a b", 'a"', "a\nb", "", "-a", "a)", "a" * 301])
def test_condor_tags_outside_the_grammar_are_refused(bad: str) -> None:
    with pytest.raises(BadInput, match="tag"):
        rte.condor_value([bad])
    with pytest.raises(BadInput, match="tag"):
        rte.condor_requirement(bad)


@pytest.mark.parametrize(
    "bad", ["opt/pps", "/opt/p p", '/opt/"', "/opt/$(X)", "/opt/#", "/a/../b", "/a/..", "/a\n"]
)
def test_preview_roots_outside_the_grammar_are_refused(bad: str) -> None:
    with pytest.raises(BadInput, match="preview root"):
        rte.check_preview_root(bad)
    with pytest.raises(BadInput, match="preview root"):
        rte.condor_config([TAG], bad)


CONDOR_READ = textwrap.dedent(
    """
    import json, sys
    import htcondor2
    print(json.dumps({k: htcondor2.param.get(k) for k in sys.argv[1:]}))
    """
)


def test_condor_config_snippet_is_read_by_htcondor(tmp_path: Path) -> None:
    """The wheel's own config reader sees PPS_RTE, the root and STARTD_ATTRS naming both."""
    config_d = tmp_path / "config.d"
    config_d.mkdir()
    (tmp_path / "condor_config").write_text(
        f"LOCAL_CONFIG_DIR = {config_d}\nSTARTD_ATTRS = COLLECTOR_HOST_STRING\n"
    )
    (config_d / rte.CONDOR_CONFIG_NAME).write_text(
        rte.condor_config([TAG, PREVIEW_CAPABILITY], "/opt/pps/preview")
    )
    env = {**os.environ, "CONDOR_CONFIG": str(tmp_path / "condor_config")}
    out = subprocess.run(
        [sys.executable, "-c", CONDOR_READ, "PPS_RTE", "PPS_PREVIEW_ROOT", "STARTD_ATTRS"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["PPS_RTE"] == f'"{TAG},{PREVIEW_CAPABILITY}"'
    assert got["PPS_PREVIEW_ROOT"] == '"/opt/pps/preview"'
    assert got["STARTD_ATTRS"].split() == ["COLLECTOR_HOST_STRING", "PPS_RTE", "PPS_PREVIEW_ROOT"]
    # The value is a ClassAd string literal whose list the requirement matches.
    value = classad2.ExprTree(got["PPS_RTE"]).eval()
    assert job(rte.condor_requirement(TAG.upper())).symmetricMatch(machine(value)) is True


def test_condor_config_without_root_and_without_tags() -> None:
    text = rte.condor_config([])
    assert 'PPS_RTE = ""' in text.splitlines()
    assert text.splitlines()[-1] == "STARTD_ATTRS = $(STARTD_ATTRS) PPS_RTE"


def test_arc_rte_script_exports_the_root_at_stage_1_only(tmp_path: Path) -> None:
    script = tmp_path / "rte.sh"
    script.write_text(rte.arc_rte_script("glite-UI", "3.2.8-0", "/opt/pps/preview"))
    show = 'printf "%s|%s|%s" "${PPS_PREVIEW_ROOT-}" "${PPS_RTE_COMPONENT-}" "${PPS_RTE_VERSION-}"'
    for stage, want in [("0", "||"), ("1", "/opt/pps/preview|glite-UI|3.2.8-0"), ("2", "||")]:
        out = subprocess.run(
            ["sh", "-c", f'set -- {stage}; . "{script}"; {show}'],
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout == want
    with pytest.raises(BadInput):
        rte.arc_rte_script("root-6x", "1.0", "/opt/pps/preview")
