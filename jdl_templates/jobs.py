"""Job descriptions for today's CEs and the seeds' WMS, all running the pps wrapper.

Three languages, one set of templates each in ``jobs/`` beside this module
(``<name>.<suffix>.j2``):

==========  ==============================  ==========================================
language    suffix                          asks for the preview with
==========  ==============================  ==========================================
``jdl``     ``.jdl`` (gLite WMS)            ``Member("<tag>", other.GlueHost...RunTimeEnvironment)``
``xrsl``    ``.xrsl`` (ARC-CE)              ``(runtimeenvironment="ENV/PPS/<C>-<V>")``
``adl``     ``.adl`` (ARC-CE, EMI-ES ADL)    ``<RuntimeEnvironment>`` name and version
``condor``  ``.sub`` (HTCondor-CE pools)    ``stringListIMember("<tag>", TARGET.PPS_RTE)``
==========  ==============================  ==========================================

Every job runs :data:`WRAPPER` (shipped with the job: :func:`wrapper_text`), which finds the
preview on the worker node, sources its ``pps-env.sh`` and execs the user's program.  Names go
through the core grammar (:mod:`pps.names`, :mod:`pps.rte`), free text through the escaping
function of its language (:mod:`jdl_templates.escape`), an extra requirement is parsed by the
real engine of its language before it is ANDed (``classad2`` for JDL and submit files, ARC's
parser for xRSL).  jinja2 runs with StrictUndefined and no autoescaping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jdl_templates.classads import check_text, classad_string, requirement
from jdl_templates.escape import (
    check_no_macro,
    condor_arguments,
    shell_words,
    submit_value,
    xml_text,
    xrsl_string,
)
from pps.errors import BadInput, NotFound
from pps.names import PREVIEW_CAPABILITY, version_tag
from pps.record import Record
from pps.rte import condor_requirement, rte_name, split_rte_name

JOBS_DIR = Path(__file__).resolve().parent / "jobs"
#: The wrapper every job runs (package data beside this module).
WRAPPER = "pps-run.sh"
WRAPPER_PATH = Path(__file__).resolve().parent / WRAPPER
LANGUAGES = {"jdl": "jdl", "xrsl": "xrsl", "adl": "adl", "condor": "sub"}
#: Templates that need at least two previews.
MULTI = "multi"
PARAMETRIC = "parametric"
TESTSITE = "testsite"
MAX_PARAMETERS = 10_000
SUMMARIES = {
    "job": "runs a program where the preview is live",
    MULTI: "runs a program where several previews are all live",
    PARAMETRIC: "runs N jobs (_PARAM_ = 0..N-1) where the preview is live",
    TESTSITE: "runs the preview's own local tests where it is live",
}

_INPUT_RE = re.compile(r"[A-Za-z0-9_+.][A-Za-z0-9._+/-]{0,254}\Z")
_env: Any = None


class TemplateInfo(Record):
    """One job template: its language, name, and the first line of its header comment."""

    lang: str
    name: str
    summary: str


def _environment() -> Any:
    global _env
    if _env is None:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(JOBS_DIR)),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["classad"] = classad_string
        env.filters["xrsl"] = xrsl_string
        env.filters["submit"] = submit_value
        env.filters["shell_words"] = shell_words
        env.filters["condor_args"] = condor_arguments
        env.filters["xml"] = xml_text
        env.filters["xml_comment"] = lambda v: str(v).replace("--", "-\u2010")
        env.filters["rte_split"] = split_rte_name
        _env = env
    return _env


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise BadInput(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    return lang


def list_templates(lang: str | None = None) -> list[TemplateInfo]:
    """The job templates (of *lang*, or of every language), sorted by language and name."""
    langs = [check_lang(lang)] if lang is not None else list(LANGUAGES)
    out = []
    for la in langs:
        suffix = f".{LANGUAGES[la]}.j2"
        for p in sorted(JOBS_DIR.glob(f"*{suffix}")):
            if p.name.startswith("_"):
                continue
            name = p.name[: -len(suffix)]
            out.append(TemplateInfo(la, name, SUMMARIES.get(name, name)))
    return out


class Preview(Record):
    """One preview a job needs, with the names each language asks for it by."""

    component: str
    version: str
    tag: str
    rte: str | None

    @property
    def spec(self) -> str:
        """How the wrapper is told about it: ``<component>/<version>``."""
        return f"{self.component}/{self.version}"


def _previews(vo: str, pairs: Sequence[tuple[str, str]], lang: str) -> list[Preview]:
    out = []
    seen = set()
    for component, version in pairs:
        tag = version_tag(vo, component, version)
        if tag.casefold() in seen:
            raise BadInput(f"{component} {version} is asked for twice")
        seen.add(tag.casefold())
        rte = rte_name(component, version) if lang in ("xrsl", "adl") else None
        out.append(Preview(component, version, tag, rte))
    return out


def _check_requirement_classad(expr: str) -> str:
    """*expr* parsed by the real ClassAd engine as one expression; its canonical text."""
    from jdl_templates.classads import _classad2

    classad2 = _classad2()
    check_text(expr, "requirement")
    if not expr.strip():
        raise BadInput("requirement must not be blank")
    try:
        ad = classad2.ClassAd(f"[Requirements = ({expr}); PpsEndOfRequirement = true]")
    except classad2.ClassAdException:
        raise BadInput(f"requirement {expr!r} is not a ClassAd expression") from None
    if set(ad.keys()) != {"Requirements", "PpsEndOfRequirement"}:
        raise BadInput(f"requirement {expr!r} is not one ClassAd expression")
    text = str(ad.lookup("Requirements"))
    if "\n" in text:
        raise BadInput(f"requirement {expr!r} holds a nested ad: write it without one")
    return text


def _check_requirement_xrsl(expr: str, base: str) -> str:
    """*expr* (xRSL relations) checked with ARC's parser: it must parse, and must not change
    what the job *base* runs or which runtime environments it needs."""
    from jdl_templates.arc_engine import parse_xrsl

    check_text(expr, "requirement")
    text = expr.strip()
    if not text.startswith("("):
        raise BadInput(f"requirement {expr!r} is not an xRSL relation: write (attribute=value)")
    before = parse_xrsl(base, "the job")
    try:
        after = parse_xrsl(base.rstrip("\n") + "\n " + text + "\n", "the job")
    except BadInput:
        raise BadInput(
            f"requirement {expr!r} is not valid xRSL (ARC's parser refuses it)"
        ) from None
    for key in ("executable", "arguments", "runtimeenvironments", "inputfiles", "outputfiles"):
        if before[key] != after[key]:
            raise BadInput(f"requirement {expr!r} changes the job's {key}: refused")
    return text


def render_job(
    lang: str = "jdl",
    template: str = "job",
    *,
    vo: str,
    previews: Sequence[tuple[str, str]],
    executable: str = "/bin/hostname",
    arguments: Sequence[str] = (),
    inputs: Sequence[str] = (),
    requirement_expr: str | None = None,
    capability: bool = False,
    parameters: int = 10,
) -> str:
    """The job description of *template* in *lang* for *vo*, needing every (component, version)
    of *previews* (the first one is the job's own).

    *executable* runs on the worker node through the wrapper: an absolute path as it is, a
    relative one is shipped with the job.  *requirement_expr* (in the job's language) is ANDed
    after it parses; *capability* also asks for the site's ``PPS-PREVIEW``.  Raises BadInput
    naming a bad value, NotFound for an unknown template.
    """
    check_lang(lang)
    suffix = f".{LANGUAGES[lang]}.j2"
    names = [t.name for t in list_templates(lang)]
    if template not in names:
        raise NotFound(f"no {lang} template {template!r} (templates: {', '.join(names)})")
    items = _previews(vo, list(previews), lang)
    if not items:
        raise BadInput("a job needs at least one preview")
    if template == MULTI and len(items) < 2:
        raise BadInput(f"the {MULTI!r} template needs at least two previews (--with)")
    if template == TESTSITE and len(items) != 1:
        raise BadInput(f"the {TESTSITE!r} template tests one preview")
    check_text(executable, "executable")
    if not executable.strip():
        raise BadInput(f"executable must not be blank, got {executable!r}")
    args = list(arguments)
    for a in args:
        check_text(a, "argument")
    files = [check_text(f, "input file") for f in inputs]
    if template == TESTSITE:
        files = []
    elif not executable.startswith("/") and executable not in files:
        files.insert(0, executable)
    for f in files:
        if not _INPUT_RE.match(f) or ".." in f.split("/"):
            raise BadInput(
                f"input file {f!r} is not valid: a file shipped with the job is a relative path "
                "of letters, digits, '.', '_', '+', '-' and '/' (no '..')"
            )
    program = executable if executable.startswith("/") else "./" + executable.removeprefix("./")
    if template == PARAMETRIC:
        if isinstance(parameters, bool) or not 1 <= parameters <= MAX_PARAMETERS:
            raise BadInput(f"parameters {parameters!r} must be a number in 1..{MAX_PARAMETERS}")
        if not any("_PARAM_" in a for a in args):
            args.append("_PARAM_")
    if template == TESTSITE:
        wrapper_args = ["--self-test", items[0].spec]
    else:
        wrapper_args = [p.spec for p in items] + ["--", program, *args]
    reqs: list[str]
    if lang == "jdl":
        reqs = [requirement(p.tag) for p in items]
        if capability:
            reqs.append(requirement(PREVIEW_CAPABILITY))
    elif lang == "condor":
        for a in [executable, *args]:
            check_no_macro(a, "argument" if a is not executable else "executable")
        reqs = [condor_requirement(p.tag) for p in items]
        if capability:
            reqs.append(condor_requirement(PREVIEW_CAPABILITY))
    else:
        if lang == "xrsl":
            for a in [executable, *args]:
                # named here (the template's filter only knows it is a value)
                xrsl_string(a, "argument" if a is not executable else "executable")
        reqs = []
    context: dict[str, Any] = {
        "vo": vo,
        "previews": items,
        "main": items[0],
        "executable": executable,
        "wrapper": WRAPPER,
        "wrapper_args": wrapper_args,
        "inputs": files,
        "jobname": f"pps-{template}-{items[0].component}-{items[0].version}",
        "parameters": parameters,
        "extra": None,
    }
    if lang == "adl" and requirement_expr is not None:
        raise BadInput("--requirement is not supported for ADL: use xRSL for an extra requirement")
    if lang not in ("xrsl", "adl"):
        if requirement_expr is not None:
            extra = _check_requirement_classad(requirement_expr)
            if lang == "condor":
                check_no_macro(extra, "requirement")
            reqs.append(f"({extra})")
        context["requirements"] = " && ".join(reqs)
    tmpl = _environment().get_template(template + suffix)
    text: str = tmpl.render(context)
    if lang == "xrsl" and requirement_expr is not None:
        context["extra"] = _check_requirement_xrsl(requirement_expr, text)
        text = tmpl.render(context)
    return text


def wrapper_text() -> str:
    """The text of the job wrapper, to ship beside the job description."""
    return WRAPPER_PATH.read_text()
