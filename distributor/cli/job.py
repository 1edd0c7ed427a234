"""``pps job``: a job description that runs where a preview is live, in JDL, xRSL or HTCondor.

Thin: the templates, escaping and wrapper are :mod:`jdl_templates.jobs`; this module parses the
options, checks the release against the repository and the information system (warnings, or a
refusal with ``--strict``), and prints or writes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from distributor.cli import BadInputError, CliContext, cli, emit_json, pass_context, say, table
from distributor.infosys.collect import read_published, settings
from pps.errors import BadInput
from pps.fsutil import atomic_write
from pps.glue import STATE_BROKEN
from pps.names import version_tag

LANGS = ("jdl", "xrsl", "adl", "condor")


def _pair(text: str) -> tuple[str, str]:
    component, sep, version = text.partition("/")
    if not sep or not component or not version:
        raise BadInputError(f"--with {text!r} must look like COMPONENT/VERSION")
    return component, version


def release_warnings(state: CliContext, previews: list[tuple[str, str]]) -> list[str]:
    """What the repository index says against the job's previews (NotFound for an unknown
    one); nothing without a configuration."""
    config = state.optional_config()
    if config is None:
        return []
    index = state.repo.load()
    out = []
    for component, version in previews:
        rel = index.find(component, version)
        if rel.withdrawn:
            out.append(f"{component} {version} is withdrawn: sites retire it")
        elif not rel.in_preview:
            out.append(f"{component} {version} is closed: it is no longer a preview")
        if rel.embargo:
            out.append(f"{component} {version} is embargoed: do not share this job publicly")
    return out


def live_warnings(
    state: CliContext, vo: str, previews: list[tuple[str, str]], infosys_url: str | None
) -> list[str]:
    """Where the information system says the previews' tags are live for *vo*."""

    config = state.optional_config()
    how = settings(config, infosys_url, None, None)
    if not how.url and config is None:
        return [
            "cannot check where the job can run: no BDII (--infosys, [infosys] url) and no "
            "inventory (pps.toml)"
        ]
    pub, errors = read_published(config, how, glue2=True)
    out = [f"{name}: {err}" for name, err in sorted(errors.items())]
    vmap = {t.casefold(): sites for t, sites in pub.version_map().items()}
    for component, version in previews:
        tag = version_tag(vo, component, version)
        sites = vmap.get(tag.casefold(), {})
        live = [s for s, st in sites.items() if st.live and st.state != STATE_BROKEN]
        if live:
            continue
        broken = [s for s, st in sites.items() if st.state == STATE_BROKEN]
        if broken:
            at = ", ".join(broken)
            out.append(f"{component} {version} is broken at every site that has it ({at})")
        else:
            out.append(f"no site publishes {component} {version} for {vo} ({tag})")
    return out


@cli.command("job")
@click.argument("component", required=False)
@click.argument("version", required=False)
@click.option("--vo", help="The VO the job runs in (the tag is per VO).")
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    default=None,
    help="jdl (gLite WMS, the default), xrsl or adl (ARC-CE), condor (HTCondor submit file).",
)
@click.option(
    "--template",
    default="job",
    show_default=True,
    help="job, multi (with --with), parametric (jdl), testsite; see --list-templates.",
)
@click.option(
    "--with",
    "with_",
    multiple=True,
    metavar="COMPONENT/VERSION",
    help="Another preview the job needs at the same time (repeatable).",
)
@click.option(
    "--executable",
    default="/bin/hostname",
    show_default=True,
    help="The job's program: an absolute path on the worker node, or a file here "
    "that is shipped with the job.",
)
@click.option(
    "--arguments", default="", help="The program's arguments, split as a POSIX shell splits them."
)
@click.option(
    "--requirement",
    "requirement_expr",
    metavar="EXPR",
    default=None,
    help="An extra requirement in the job's language, ANDed after it parses.",
)
@click.option("--capability", is_flag=True, help="Also ask for the site's PPS-PREVIEW tag.")
@click.option(
    "--parameters", type=int, default=10, show_default=True, help="Jobs of the parametric template."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the job here, and the wrapper pps-run.sh beside it.",
)
@click.option(
    "--infosys",
    "infosys_url",
    metavar="URL",
    default=None,
    help="The BDII to check against. Default: [infosys] url, else the sites' GIP output.",
)
@click.option("--no-check", is_flag=True, help="Do not ask the information system.")
@click.option("--strict", is_flag=True, help="Refuse (exit 1, nothing written) instead of warning.")
@click.option("--list-templates", is_flag=True, help="List the templates and exit.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the job, the wrapper's name and the warnings.",
)
@pass_context
def job(
    state: CliContext,
    component: str | None,
    version: str | None,
    vo: str | None,
    lang: str | None,
    template: str,
    with_: tuple[str, ...],
    executable: str,
    arguments: str,
    requirement_expr: str | None,
    capability: bool,
    parameters: int,
    out: Path | None,
    infosys_url: str | None,
    no_check: bool,
    strict: bool,
    list_templates: bool,
    as_json: bool,
) -> None:
    """Print a job that runs only where COMPONENT VERSION is live for VO.

    The job runs pps-run.sh, which finds the preview on the worker node (the site's
    PPS_PREVIEW_ROOT), sources its pps-env.sh and runs the program.  A release the repository
    marks withdrawn or closed, or that no site publishes live for the VO, is a warning (with
    --strict a refusal).

    \b
    Examples:
      pps job glite-UI 3.2.8-0 --vo dteam --lang xrsl -o job.xrsl
      pps job glite-UI 3.2.8-0 --vo dteam --lang condor --requirement 'TARGET.Memory >= 2048'
      pps job glite-UI 3.2.8-0 --vo dteam --template multi --with fts-cli/3.1
    """
    from jdl_templates import jobs

    if list_templates:
        found = jobs.list_templates(lang)
        if as_json:
            emit_json([t.as_dict() for t in found])
        else:
            table(("LANG", "TEMPLATE", "WHAT"), [(t.lang, t.name, t.summary) for t in found])
        return
    if not component or not version or not vo:
        raise BadInputError("give COMPONENT VERSION and --vo VO (or --list-templates)")
    try:
        args = shlex.split(arguments)
    except ValueError as e:
        raise BadInputError(f"--arguments {arguments!r} cannot be split: {e}") from None
    lang = lang or "jdl"
    previews = [(component, version), *(_pair(w) for w in with_)]
    text = jobs.render_job(
        lang, template, vo=vo, previews=previews, executable=executable, arguments=args,
        requirement_expr=requirement_expr, capability=capability, parameters=parameters,
    )  # fmt: skip
    warnings = release_warnings(state, previews)
    if not no_check:
        warnings += live_warnings(state, vo, previews, infosys_url)
    if strict and warnings:
        for w in warnings:
            say(f"error: {w}", err=True)
        say("refused (--strict): nothing written", err=True)
        sys.exit(1)
    if as_json:
        emit_json({"lang": lang, "template": template, "job": text, "wrapper": jobs.WRAPPER,
                   "warnings": warnings})  # fmt: skip
        return
    for w in warnings:
        say(f"warning: {w}", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    wrapper = out.parent / jobs.WRAPPER
    if out.resolve() == wrapper.resolve():
        raise BadInput(f"-o {out} would overwrite the wrapper {jobs.WRAPPER}")
    atomic_write(out, text.encode())
    atomic_write(wrapper, jobs.wrapper_text().encode(), mode=0o755)
    click.echo(f"wrote {out} and {wrapper}", err=True)
