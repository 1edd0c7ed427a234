"""Job templates in the three languages, read back by each language's real parser.

- gLite JDL: ``classad2`` (parse, evaluate, symmetricMatch against a CE ad with the GLUE 1.3
  RTE list);
- HTCondor submit descriptions: ``htcondor2.Submit`` parses them, their ``requirements`` is
  evaluated with ``classad2`` (HTCondor's functions registered by importing ``htcondor2``)
  against a machine ad carrying ``PPS_RTE``;
- ARC xRSL: ARC's own parser and ``SoftwareRequirement.isSatisfied`` through Debian's python3.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import classad2
import htcondor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jdl_templates import classads
from jdl_templates.arc_engine import parse_xrsl
from jdl_templates.escape import submit_value
from jdl_templates.jobs import WRAPPER, list_templates, render_job
from pps.errors import BadInput, NotFound
from pps.glue import RTE_ATTR
from pps.names import PREVIEW_CAPABILITY, version_tag
from pps.rte import rte_name
from tests.realparts import require

LONG = "3.2." + "1" * 60 + "-0"
CASES = [
    ("dteam", [("glite-UI", "3.2.8-0")]),
    ("vo.neugrid.eu", [("emi_ui.x", LONG)]),
    ("vo.a_b-c.org", [("fts", "1.0"), ("glite-WN", "3.2.8-0"), ("x", "2")]),
]
IDS = ["dteam", "dots-long", "three"]


def templates(lang: str) -> list[str]:
    return [t.name for t in list_templates(lang)]


def previews_for(template: str, previews: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if template == "multi" and len(previews) < 2:
        return [*previews, ("other-tool", "1.0")]
    if template != "multi":
        return previews[:1]
    return previews


def wrapper_args(template: str, previews: list[tuple[str, str]], program: str, args: list[str]):
    if template == "testsite":
        return ["--self-test", f"{previews[0][0]}/{previews[0][1]}"]
    out = [f"{c}/{v}" for c, v in previews] + ["--", program, *args]
    if template == "parametric" and not any("_PARAM_" in a for a in args):
        out.append("_PARAM_")
    return out


def test_list_templates_covers_every_language() -> None:
    assert templates("jdl") == ["job", "multi", "parametric", "testsite"]
    assert templates("xrsl") == ["job", "multi", "testsite"]
    assert templates("adl") == ["job", "multi", "testsite"]
    assert templates("condor") == ["job", "multi", "testsite"]
    assert all(t.summary for t in list_templates())
    with pytest.raises(BadInput, match="language 'rsl' is not one of jdl, xrsl, adl, condor"):
        list_templates("rsl")


# --- gLite JDL ---------------------------------------------------------------------------------


def glue_ce(*tags: str) -> dict[str, Any]:
    return {RTE_ATTR: list(tags), "GlueCEInfoHostName": "ce.example.org"}


@pytest.mark.parametrize("template", templates("jdl"))
@pytest.mark.parametrize(("vo", "previews"), CASES, ids=IDS)
def test_jdl_parses_and_matches_only_a_ce_with_every_tag_in_any_case(
    template: str, vo: str, previews: list[tuple[str, str]]
) -> None:
    pv = previews_for(template, previews)
    text = render_job("jdl", template, vo=vo, previews=pv, arguments=["a b"])
    ad = classads.parse_jdl(text)
    assert ad.eval("Executable") == WRAPPER
    assert shlex.split(ad.eval("Arguments")) == wrapper_args(template, pv, "/bin/hostname", ["a b"])
    assert ad.eval("VirtualOrganisation") == vo
    assert WRAPPER in list(ad.eval("InputSandbox"))
    tags = [version_tag(vo, c, v) for c, v in pv]
    assert classads.match(text, glue_ce(*tags, "VO-ops-production")) is True
    assert classads.match(text, glue_ce(*[t.upper() for t in tags])) is True
    assert classads.match(text, glue_ce(*[t.lower() for t in tags])) is True
    for missing in range(len(tags)):
        assert classads.match(text, glue_ce(*tags[:missing], *tags[missing + 1 :])) is False
    assert classads.match(text, glue_ce(*[t + "-1" for t in tags])) is False
    assert classads.match(text, {"GlueCEInfoHostName": "ce"}) is False


def test_parametric_jdl_is_parametric() -> None:
    text = render_job(
        "jdl", "parametric", vo="dteam", previews=[("glite-UI", "1.0")], parameters=25
    )
    ad = classads.parse_jdl(text)
    assert (ad.eval("JobType"), ad.eval("Parameters"), ad.eval("ParameterStart")) == (
        "Parametric",
        25,
        0,
    )
    assert ad.eval("StdOutput") == "std_PARAM_.out"
    with pytest.raises(BadInput, match="parameters 0 must be a number"):
        render_job("jdl", "parametric", vo="dteam", previews=[("a", "1")], parameters=0)


def test_capability_and_extra_requirement_are_anded() -> None:
    extra = "other.GlueHostMainMemoryRAMSize >= 2048"
    text = render_job(
        "jdl", vo="dteam", previews=[("glite-UI", "1.0")], capability=True, requirement_expr=extra
    )
    tag = version_tag("dteam", "glite-UI", "1.0")
    big = {**glue_ce(tag, PREVIEW_CAPABILITY), "GlueHostMainMemoryRAMSize": 4096}
    assert classads.match(text, big) is True
    assert classads.match(text, {**big, "GlueHostMainMemoryRAMSize": 1024}) is False
    assert classads.match(text, {**big, RTE_ATTR: [tag]}) is False


@pytest.mark.parametrize(
    "extra",
    [
        "true; Requirements = true",
        "x ]",
        "1 +",
        "true\n",
        "",
        'true; Executable = "/bin/evil"',
    ],
    ids=repr,
)
@pytest.mark.parametrize("lang", ["jdl", "condor"])
def test_an_extra_requirement_that_is_not_one_expression_is_refused(lang: str, extra: str) -> None:
    with pytest.raises(BadInput, match="^requirement"):
        render_job(lang, vo="dteam", previews=[("glite-UI", "1.0")], requirement_expr=extra)


# --- HTCondor submit descriptions --------------------------------------------------------------


def condor_args(value: str) -> list[str]:
    """The argv of an ``arguments`` value in HTCondor's "new syntax" (condor_submit manual):
    the value is double-quoted, "" is a literal ", arguments are separated by blanks, and a
    single-quoted part keeps blanks, '' inside it being a literal '."""
    assert value.startswith('"') and value.endswith('"'), value
    body = value[1:-1].replace('""', '"')
    out: list[str] = []
    cur: list[str] | None = None
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "'":
            cur = cur if cur is not None else []
            i += 1
            while True:
                if body[i] == "'" and body[i + 1 : i + 2] == "'":
                    cur.append("'")
                    i += 2
                elif body[i] == "'":
                    i += 1
                    break
                else:
                    cur.append(body[i])
                    i += 1
        elif ch in " \t":
            if cur is not None:
                out.append("".join(cur))
                cur = None
            i += 1
        else:
            cur = (cur or []) + [ch]
            i += 1
    if cur is not None:
        out.append("".join(cur))
    return out


def machine(pps_rte: str | None, **attrs: Any) -> classad2.ClassAd:
    ad = classad2.ClassAd({"Requirements": True, "Memory": 4096, **attrs})
    if pps_rte is not None:
        ad["PPS_RTE"] = pps_rte
    return ad


def condor_job(text: str) -> tuple[dict[str, str], classad2.ClassAd]:
    sub = htcondor2.Submit(text)
    job = classad2.ClassAd()
    job["Requirements"] = classad2.ExprTree(sub.expand("requirements"))
    return dict(sub), job


@pytest.mark.parametrize("template", templates("condor"))
@pytest.mark.parametrize(("vo", "previews"), CASES, ids=IDS)
def test_submit_file_parses_and_matches_only_a_machine_with_every_tag_in_any_case(
    template: str, vo: str, previews: list[tuple[str, str]]
) -> None:
    pv = previews_for(template, previews)
    text = render_job("condor", template, vo=vo, previews=pv, arguments=["a b", "it's"])
    sub = htcondor2.Submit(text)
    assert sub["executable"] == WRAPPER
    assert condor_args(sub.expand("arguments")) == wrapper_args(
        template, pv, "/bin/hostname", ["a b", "it's"]
    )
    assert sub["MY.PpsVo"] == f'"{vo}"'
    _, job = condor_job(text)
    tags = [version_tag(vo, c, v) for c, v in pv]
    assert job.symmetricMatch(machine(",".join(tags + [PREVIEW_CAPABILITY]))) is True
    assert job.symmetricMatch(machine(",".join(t.upper() for t in tags))) is True
    assert job.symmetricMatch(machine(", ".join(t.lower() for t in tags))) is True
    for missing in range(len(tags)):
        assert job.symmetricMatch(machine(",".join(tags[:missing] + tags[missing + 1 :]))) is False
    assert job.symmetricMatch(machine(None)) is False
    assert job.symmetricMatch(machine(",".join(t + "x" for t in tags))) is False


def test_submit_extra_requirement_is_anded_and_macros_are_refused() -> None:
    extra = 'TARGET.Memory >= 2048 && TARGET.OpSys == "LINUX"'
    text = render_job("condor", vo="dteam", previews=[("glite-UI", "1.0")], requirement_expr=extra)
    _, job = condor_job(text)
    tag = version_tag("dteam", "glite-UI", "1.0")
    assert job.symmetricMatch(machine(tag, OpSys="LINUX")) is True
    assert job.symmetricMatch(machine(tag, Memory=1024, OpSys="LINUX")) is False
    with pytest.raises(BadInput, match="expands as an HTCondor macro"):
        render_job("condor", vo="dteam", previews=[("a", "1")], requirement_expr='X == "$(Y)"')


# --- ARC xRSL ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arc() -> None:
    require("/usr/bin/python3", "python3-nordugrid-arc")


@pytest.mark.parametrize(
    ("lang", "template"), [(la, t) for la in ("xrsl", "adl") for t in templates(la)]
)
@pytest.mark.parametrize(("vo", "previews"), CASES, ids=IDS)
def test_xrsl_and_adl_parse_with_arc_and_need_every_rte(
    arc: None, lang: str, template: str, vo: str, previews: list[tuple[str, str]]
) -> None:
    pv = previews_for(template, previews)
    text = render_job(lang, template, vo=vo, previews=pv, arguments=['say "hi" <&>'])
    rtes = [rte_name(c, v) for c, v in pv]
    # The same RTE name whatever the letter case of the release's names.
    assert rtes == [rte_name(c.swapcase(), v.swapcase()) for c, v in pv]
    resources = [rtes + ["ENV/PROXY"], rtes[1:], rtes[:-1], [r.lower() for r in rtes], []]
    job = parse_xrsl(text, resources=resources, lang=lang)
    assert job["executable"] == WRAPPER
    assert job["arguments"] == wrapper_args(template, pv, "/bin/hostname", ['say "hi" <&>'])
    assert job["runtimeenvironments"] == rtes
    assert job["inputfiles"][0] == WRAPPER
    assert job["satisfied"] == [True, False, False, False, False]


def test_xrsl_refuses_a_release_without_an_arc_name(arc: None) -> None:
    with pytest.raises(BadInput, match="component 'root-6x' has '-6' in it"):
        render_job("xrsl", vo="dteam", previews=[("root-6x", "1.0")])
    # The other languages do not need an ARC name.
    render_job("jdl", vo="dteam", previews=[("root-6x", "1.0")])


def test_xrsl_extra_requirement_parsed_by_arc_and_anded(arc: None) -> None:
    text = render_job(
        "xrsl", vo="dteam", previews=[("glite-UI", "1.0")], requirement_expr="(memory>=2000)"
    )
    assert parse_xrsl(text)["memory"] == 2000
    for bad in ['(executable="/bin/evil")', '(runtimeenvironment="ENV/X-1")', "(memory>=", "x"]:
        with pytest.raises(BadInput, match="^requirement"):
            render_job("xrsl", vo="dteam", previews=[("glite-UI", "1.0")], requirement_expr=bad)


# --- every language: refusals and hostile input ------------------------------------------------


@pytest.mark.parametrize("lang", ["jdl", "xrsl", "adl", "condor"])
def test_unknown_template_is_not_found(lang: str) -> None:
    with pytest.raises(NotFound, match=rf"no {lang} template 'nope' \(templates: job, multi"):
        render_job(lang, "nope", vo="dteam", previews=[("a", "1")])


@pytest.mark.parametrize("lang", ["jdl", "xrsl", "adl", "condor"])
def test_multi_needs_two_previews(lang: str) -> None:
    with pytest.raises(BadInput, match="needs at least two previews"):
        render_job(lang, "multi", vo="dteam", previews=[("a", "1")])
    with pytest.raises(BadInput, match="asked for twice"):
        render_job(lang, "multi", vo="dteam", previews=[("a", "1"), ("A", "1")])


HOSTILE = ['dteam"', "dteam\n", "dt;eam", "dteam]", "dteam)", "(dteam", "dt&eam", "#dteam", "$(x)"]


@pytest.mark.parametrize("lang", ["jdl", "xrsl", "adl", "condor"])
@pytest.mark.parametrize("vo", HOSTILE, ids=repr)
def test_hostile_vo_is_refused_in_one_line(lang: str, vo: str) -> None:
    with pytest.raises(BadInput, match=r"^VO name .* is not valid") as e:
        render_job(lang, vo=vo, previews=[("a", "1")])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("lang", ["jdl", "xrsl", "adl", "condor"])
@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\u2028b"], ids=repr)
def test_control_characters_are_refused_naming_the_field(lang: str, value: str) -> None:
    with pytest.raises(BadInput, match=r"^argument .* contains the control character"):
        render_job(lang, vo="dteam", previews=[("a", "1")], arguments=[value])
    with pytest.raises(BadInput, match=r"^executable .* contains the control character"):
        render_job(lang, vo="dteam", previews=[("a", "1")], executable="/x" + value)


@pytest.mark.parametrize("name", ["../x", "/abs", "a,b", "a b", "-x", "a/../../b"])
def test_shipped_files_outside_the_grammar_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="^input file"):
        render_job("condor", vo="dteam", previews=[("a", "1")], inputs=[name])


def test_relative_program_is_shipped_and_run_from_the_job_directory() -> None:
    text = render_job("jdl", vo="dteam", previews=[("a", "1")], executable="analysis.sh")
    ad = classads.parse_jdl(text)
    assert list(ad.eval("InputSandbox")) == [WRAPPER, "analysis.sh"]
    assert shlex.split(ad.eval("Arguments")) == ["a/1", "--", "./analysis.sh"]
    sub = htcondor2.Submit(render_job("condor", vo="dteam", previews=[("a", "1")],
                                      executable="analysis.sh"))  # fmt: skip
    assert sub["transfer_input_files"] == "analysis.sh"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/x\\", "ends with a backslash"),
        (" /x", "starts or ends with a blank"),
        ("a\nb", "control"),
    ],
)
def test_submit_value_refuses_what_a_submit_line_cannot_hold(value: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        submit_value(value, "value")
    for macro in ["a $(b)", "$$(c)", "$ENV(HOME)", "x$$", "$RANDOM_CHOICE(a,b)"]:
        with pytest.raises(BadInput, match="expands as an HTCondor macro"):
            submit_value(macro, "value")
    sub = htcondor2.Submit(f"x = {submit_value('a $HOME ${b} $ (c) #d ;]')}\nqueue\n")
    assert sub.expand("x") == "a $HOME ${b} $ (c) #d ;]"


hostile_text = st.lists(
    st.sampled_from(list("ab '\"\\;])(&#$\n`{}*,=") + ["$(x)", "\u202e", "é"]), max_size=12
).map("".join)
PV = [("glite-UI", "3.2.8-0")]
TAG = version_tag("dteam", "glite-UI", "3.2.8-0")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


vos = st.one_of(st.sampled_from(["dteam", "vo.neugrid.eu"]), hostile_text)


def _render_or_refusal(lang: str, exe: str, args: list[str], vo: str = "dteam") -> str | None:
    try:
        return render_job(lang, vo=vo, previews=PV, executable="/" + exe, arguments=args)
    except BadInput as e:
        assert "\n" not in str(e)
        assert re.match(r"(argument|executable|VO name) ", str(e)), str(e)
        return None


@SETTINGS
@given(hostile_text, st.lists(hostile_text, max_size=4), vos)
def test_jdl_hostile_vo_executable_and_arguments(exe: str, args: list[str], vo: str) -> None:
    text = _render_or_refusal("jdl", exe, args, vo)
    if text is None:
        return
    ad = classads.parse_jdl(text)
    assert ad.eval("VirtualOrganisation") == vo
    tag = version_tag(vo, *PV[0])
    assert classads.match(text, glue_ce(tag)) is True
    assert shlex.split(ad.eval("Arguments")) == ["glite-UI/3.2.8-0", "--", "/" + exe, *args]
    assert ad.eval("Executable") == WRAPPER
    assert classads.match(text, glue_ce(PREVIEW_CAPABILITY)) is False


@SETTINGS
@given(hostile_text, st.lists(hostile_text, max_size=4), vos)
def test_condor_hostile_vo_executable_and_arguments(exe: str, args: list[str], vo: str) -> None:
    text = _render_or_refusal("condor", exe, args, vo)
    if text is None:
        return
    sub, job = condor_job(text)
    assert sub["executable"] == WRAPPER
    assert condor_args(htcondor2.Submit(text).expand("arguments")) == [
        "glite-UI/3.2.8-0", "--", "/" + exe, *args
    ]  # fmt: skip
    assert set(sub) == {
        "universe", "executable", "arguments", "should_transfer_files",
        "when_to_transfer_output", "output", "error", "log", "MY.PpsVo", "requirements",
    }  # fmt: skip
    assert sub["MY.PpsVo"] == f'"{vo}"'
    assert job.symmetricMatch(machine(version_tag(vo, *PV[0]))) is True
    assert job.symmetricMatch(machine(PREVIEW_CAPABILITY)) is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text, st.lists(hostile_text, max_size=4), vos)
def test_xrsl_hostile_vo_executable_and_arguments(exe: str, args: list[str], vo: str) -> None:
    require("/usr/bin/python3", "python3-nordugrid-arc")
    text = _render_or_refusal("xrsl", exe, args, vo)
    if text is None:
        return
    job = parse_xrsl(text, resources=[[rte_name(*PV[0])], ["ENV/PPS/OTHER-1"]])
    assert job["executable"] == WRAPPER
    assert job["arguments"] == ["glite-UI/3.2.8-0", "--", "/" + exe, *args]
    assert job["runtimeenvironments"] == [rte_name(*PV[0])]
    assert job["inputfiles"] == [WRAPPER]
    assert job["satisfied"] == [True, False]


@pytest.mark.parametrize("value", ["(*", "a(*b", "x (* y *)"])
def test_an_xrsl_value_holding_a_comment_opener_is_refused_in_one_line(value: str) -> None:
    """ARC's parser opens a comment at "(*" even inside a quoted string (found by the property
    above: the executable "/(*" made a job ARC refuses)."""
    for exe, args in (("/" + value, []), ("/bin/echo", [value])):
        with pytest.raises(BadInput, match=r"^(argument|executable) .*'\(\*'.* comment"):
            render_job("xrsl", vo="dteam", previews=PV, executable=exe, arguments=args)


requirement_text = st.lists(
    st.sampled_from(["true", "false", " ", "(", ")", "||", "&&", ";", "]", "[", '"', "=", "!",
                     "Requirements", "other.X", "1", "#", "$(x)", "\n"]),
    max_size=8,
).map("".join)  # fmt: skip


@SETTINGS
@given(requirement_text)
def test_an_extra_requirement_never_drops_the_tag(extra: str) -> None:
    """Whatever the extra requirement says, a CE without the tag never matches the job."""
    for lang in ("jdl", "condor"):
        try:
            text = render_job(lang, vo="dteam", previews=PV, requirement_expr=extra)
        except BadInput as e:
            assert str(e).startswith("requirement") and "\n" not in str(e)
            continue
        if lang == "jdl":
            assert classads.match(text, {**glue_ce(PREVIEW_CAPABILITY), "X": True}) is False
        else:
            _, job = condor_job(text)
            assert job.symmetricMatch(machine(PREVIEW_CAPABILITY, X=True)) is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text, st.lists(hostile_text, max_size=4), vos)
def test_adl_hostile_vo_executable_and_arguments(exe: str, args: list[str], vo: str) -> None:
    require("/usr/bin/python3", "python3-nordugrid-arc")
    text = _render_or_refusal("adl", exe, args, vo)
    if text is None:
        return
    job = parse_xrsl(text, resources=[[rte_name(*PV[0])], ["ENV/PPS/OTHER-1"]], lang="adl")
    assert job["executable"] == WRAPPER
    assert job["arguments"] == ["glite-UI/3.2.8-0", "--", "/" + exe, *args]
    assert job["runtimeenvironments"] == [rte_name(*PV[0])]
    assert job["satisfied"] == [True, False]


def test_adl_comments_stay_xml_comments_for_names_with_double_dashes(arc: None) -> None:
    text = render_job("adl", "multi", vo="dteam", previews=[("a--b", "1--2"), ("c", "1")])
    assert parse_xrsl(text, lang="adl")["runtimeenvironments"] == [
        "ENV/PPS/A--B-1--2",
        "ENV/PPS/C-1",
    ]
    with pytest.raises(BadInput, match="not supported for ADL"):
        render_job("adl", vo="dteam", previews=[("c", "1")], requirement_expr="(memory>=1)")
