"""JDL templates: rendering, ClassAd-safe quoting, and matchmaking with the real classad2."""

from __future__ import annotations

import re
import sys

import classad2
import pytest

import jdl_templates
from jdl_templates import (
    ClassAdUnavailable,
    classad_string,
    list_templates,
    match,
    parse_jdl,
    render,
    requirement,
)
from pps.errors import BadInput, NotFound
from pps.glue import RTE_ATTR
from pps.names import PREVIEW_CAPABILITY, version_tag

CASES = [
    ("glite-UI", "3.2.8-0", "dteam"),
    ("glite-WN", "3.2.8-0", "vo.neugrid.eu"),
    ("emi_ui.x", "10.0.1", "ops"),
]
CASE_IDS = ["glite-UI", "neugrid", "underscore"]


def ce(*tags: str) -> dict[str, object]:
    """A CE as the BDII describes it: its RunTimeEnvironment tags plus the preview capability."""
    return {RTE_ATTR: list(tags), "GlueCEInfoHostName": "ce01.example.org"}


def test_list_templates_gives_job_and_preview() -> None:
    assert list_templates() == ["job", "preview"]


def test_package_reexports_the_api() -> None:
    assert set(jdl_templates.__all__) >= {"render", "requirement", "parse_jdl", "match"}


def test_requirement_is_a_member_expression_on_the_rte_attribute() -> None:
    assert requirement("VO-dteam-PPS-glite-UI-3.2.8-0") == (
        'Member("VO-dteam-PPS-glite-UI-3.2.8-0", '
        "other.GlueHostApplicationSoftwareRunTimeEnvironment)"
    )


def test_classad_string_escapes_backslash_then_quote() -> None:
    assert classad_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


@pytest.mark.parametrize("template", ["job", "preview"])
@pytest.mark.parametrize(("component", "version", "vo"), CASES, ids=CASE_IDS)
def test_every_template_renders_a_classad_that_matches_a_ce_with_the_tag(
    template: str, component: str, version: str, vo: str
) -> None:
    text = render(template, component=component, version=version, vo=vo)
    assert text.endswith(";\n")
    ad = parse_jdl(text)
    assert ad.eval("VirtualOrganisation") == vo
    assert ad.eval("Executable") == "/bin/hostname"
    assert ad.eval("Arguments") == ""
    assert list(ad.eval("OutputSandbox")) == ["std.out", "std.err"]
    tag = version_tag(vo, component, version)
    assert match(text, ce(tag, PREVIEW_CAPABILITY, "VO-dteam-production")) is True


@pytest.mark.parametrize("template", ["job", "preview"])
@pytest.mark.parametrize(("component", "version", "vo"), CASES, ids=CASE_IDS)
def test_tag_matches_in_any_case(template: str, component: str, version: str, vo: str) -> None:
    text = render(template, component=component, version=version, vo=vo)
    tag = version_tag(vo, component, version)
    assert match(text, ce(tag.upper(), PREVIEW_CAPABILITY.lower())) is True
    assert match(text, ce(tag.lower(), PREVIEW_CAPABILITY)) is True


@pytest.mark.parametrize("template", ["job", "preview"])
@pytest.mark.parametrize(("component", "version", "vo"), CASES, ids=CASE_IDS)
def test_no_match_without_the_tag_or_with_another_version_or_vo(
    template: str, component: str, version: str, vo: str
) -> None:
    text = render(template, component=component, version=version, vo=vo)
    assert match(text, ce(PREVIEW_CAPABILITY)) is False
    assert match(text, ce(version_tag(vo, component, "0.0.1"), PREVIEW_CAPABILITY)) is False
    assert match(text, ce(version_tag("atlas", component, version), PREVIEW_CAPABILITY)) is False
    # A prefix of the tag is another tag: Member compares whole values.
    assert match(text, ce(version_tag(vo, component, version) + "-1", PREVIEW_CAPABILITY)) is False


@pytest.mark.parametrize("template", ["job", "preview"])
def test_no_match_when_the_ce_publishes_no_rte_attribute(template: str) -> None:
    text = render(template, component="glite-UI", version="3.2.8-0", vo="dteam")
    # other.Glue... is Undefined here, and Undefined is truthy in Python: match must say False.
    assert match(text, {"GlueCEInfoHostName": "ce01.example.org"}) is False


def test_preview_template_also_needs_the_preview_capability() -> None:
    text = render("preview", component="glite-UI", version="3.2.8-0", vo="dteam")
    tag = version_tag("dteam", "glite-UI", "3.2.8-0")
    assert match(text, ce(tag)) is False
    assert match(text, ce(tag, PREVIEW_CAPABILITY)) is True
    job = render("job", component="glite-UI", version="3.2.8-0", vo="dteam")
    assert match(job, ce(tag)) is True


def test_match_accepts_parsed_ads_and_leaves_the_ce_ad_alone() -> None:
    job = parse_jdl(render(component="glite-UI", version="3.2.8-0", vo="dteam"))
    ce_ad = classad2.ClassAd({RTE_ATTR: [version_tag("dteam", "glite-UI", "3.2.8-0")]})
    assert match(job, ce_ad) is True
    assert "Requirements" not in ce_ad


def test_a_ce_that_refuses_the_job_does_not_match() -> None:
    job = render(component="glite-UI", version="3.2.8-0", vo="dteam")
    attrs = {**ce(version_tag("dteam", "glite-UI", "3.2.8-0")), "Requirements": False}
    assert match(job, attrs) is False


ODD = ['glite"UI', "glite\\UI", "glite\nUI", "glite)UI", "", "glite UI", "glite-UI;"]


@pytest.mark.parametrize("field", ["component", "version", "vo"])
@pytest.mark.parametrize("value", ODD, ids=repr)
def test_odd_names_are_refused_naming_the_value(field: str, value: str) -> None:
    args = {"component": "glite-UI", "version": "3.2.8-0", "vo": "dteam", field: value}
    with pytest.raises(BadInput, match=re.escape(repr(value))):
        render(**args)


ARGUMENTS = [
    'say "hello world"',
    "back\\slash\\",
    '\\"',
    "it's $HOME and `date`",
    '"); Requirements = true; Arguments = ("',
    "ünïcode ☃",
    "",
]


@pytest.mark.parametrize("template", ["job", "preview"])
@pytest.mark.parametrize("arguments", ARGUMENTS, ids=repr)
def test_arguments_are_escaped_and_round_trip(template: str, arguments: str) -> None:
    text = render(
        template,
        component="glite-UI",
        version="3.2.8-0",
        vo="dteam",
        executable='/opt/my "tool"',
        arguments=arguments,
    )
    ad = parse_jdl(text)
    assert ad.eval("Arguments") == arguments
    assert ad.eval("Executable") == '/opt/my "tool"'
    # The injected Requirements stayed inside the string: the real one still needs the tag.
    assert match(text, ce(PREVIEW_CAPABILITY)) is False


CONTROL = ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x7fb", "a\u202eb", "a\u2028b"]


@pytest.mark.parametrize("value", CONTROL, ids=repr)
@pytest.mark.parametrize("field", ["arguments", "executable"])
def test_control_characters_are_refused_naming_the_field(field: str, value: str) -> None:
    args = {"component": "glite-UI", "version": "3.2.8-0", "vo": "dteam", field: value}
    with pytest.raises(BadInput, match=rf"^{field} {re.escape(repr(value))} contains"):
        render(**args)


def test_blank_executable_is_refused() -> None:
    with pytest.raises(BadInput, match="executable must not be blank"):
        render(component="glite-UI", version="3.2.8-0", vo="dteam", executable="  ")


@pytest.mark.parametrize("template", ["nope", "../render", "job.jdl.j2", ""])
def test_unknown_template_is_not_found_naming_the_known_ones(template: str) -> None:
    with pytest.raises(NotFound, match=r"\(templates: job, preview\)"):
        render(template, component="glite-UI", version="3.2.8-0", vo="dteam")


def test_parse_jdl_drops_comment_lines_and_accepts_a_wrapped_ad() -> None:
    text = '# a comment\n// another "one\nExecutable = "/bin/true";\n  # indented\n'
    assert parse_jdl(text).eval("Executable") == "/bin/true"
    assert parse_jdl('[\nA = 1;\nB = "x";\n]\n').eval("B") == "x"


@pytest.mark.parametrize(
    "text",
    [
        'A = "unterminated;\n',
        "A = ;\n",
        "A = 1;\n] [ Requirements = true;\n",
        "A = 1; ] junk\n",
        "",
        "# only a comment\n",
    ],
    ids=["unterminated", "no-value", "closed-early", "junk-after", "empty", "comments-only"],
)
def test_parse_jdl_refuses_what_is_not_one_classad(text: str) -> None:
    with pytest.raises(BadInput, match=r"^my\.jdl is"):
        parse_jdl(text, source="my.jdl")


def test_missing_classad_engine_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "classad2", None)
    with pytest.raises(ClassAdUnavailable, match="install the 'htcondor' wheel"):
        parse_jdl("A = 1;")
