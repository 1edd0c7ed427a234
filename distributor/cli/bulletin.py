"""``pps bulletin``, ``pps jdl``, ``pps demo``: what VO users see, and the embedded demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from distributor.cli import (
    CliContext,
    PPSGroup,
    cli,
    emit_json,
    pass_context,
    say,
)
from pps.errors import ConfigError
from pps.fsutil import atomic_write


@cli.group(cls=PPSGroup)
def bulletin() -> None:
    """The live version map for VO users."""


@bulletin.command("build")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the bulletin site into (index.html, a page per version and per "
    "site, map.json, feed.atom); replaced as a whole, so it must be new, empty or a bulletin.",
)  # fmt: skip
@click.option(
    "--infosys", "infosys_url", metavar="URL", default=None,
    help="Read the BDII at URL (ldap://HOST:PORT). Default: [infosys] url of pps.toml, else "
    "each site's own GIP output through its transport ('' forces that).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_context
def bulletin_build(state: CliContext, out: Path, infosys_url: str | None, as_json: bool) -> None:
    """Write the bulletin from what the sites publish, the repository index and the release
    records (the lifecycle in the state store, read only).

    What the sites publish is read from the BDII (--infosys, or [infosys] url) or, without
    one, from each site's GIP provider, run at the site as bdii-update runs it.
    """
    from distributor.bulletin_records import build  # the bulletin and jinja2: see LAZY_MODULES

    warnings: list[str] = []
    paths, errors = build(state.config, out, infosys_url, warn=warnings.append)
    if as_json:
        emit_json({"written": [str(p) for p in paths], "site_errors": errors, "warnings": warnings})
        return
    for message in warnings:
        say(f"warning: {message}", err=True)
    for name, err in sorted(errors.items()):
        say(f"warning: {name}: {err}", err=True)
    for p in paths:
        click.echo(f"wrote {p}")


# -------------------------------------------------------------------------------------- jdl
@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--vo", required=True, help="The VO the job runs in (the tag is per VO).")
@click.option(
    "--template", default="job", show_default=True,
    help="Which JDL template: 'job' asks for the version's tag, 'preview' also for the "
    "site's PPS-PREVIEW capability.",
)  # fmt: skip
@click.option("--executable", default="/bin/hostname", show_default=True, help="The job's program.")
@click.option("--arguments", default="", help="The job's arguments.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@pass_context
def jdl(
    state: CliContext,
    component: str,
    version: str,
    vo: str,
    template: str,
    executable: str,
    arguments: str,
    out: Path | None,
) -> None:
    """Print a gLite-WMS JDL that runs only where COMPONENT VERSION is live for VO.

    With a configuration (--config, PPS_CONFIG or ./pps.toml) the release must exist in its
    repository; with none, the JDL is rendered unchecked.

    \b
    Example:
      pps jdl glite-UI 3.2.8-0 --vo dteam --out job.jdl
    """
    import jdl_templates

    try:
        index = state.repo.load()
    except ConfigError:
        if state.explicit or state.config_path.exists():
            raise
        index = None  # no pps.toml here and none named: render without checking a repository
    if index is not None:
        rel = index.find(component, version)
        if rel.embargo:
            click.echo(f"note: {rel.key} is embargoed: do not share this JDL publicly", err=True)
    text = jdl_templates.render(
        template, component=component, version=version, vo=vo, executable=executable,
        arguments=arguments,
    )  # fmt: skip
    if out:
        atomic_write(out, text.encode())
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


# ------------------------------------------------------------------------------------- demo
@cli.command()
@click.option(
    "--out", default="demo-output", show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build the demo grid (emptied first if it holds an earlier demo).",
)  # fmt: skip
def demo(out: Path) -> None:
    """Build a demo grid of local sites and run the whole preview pipeline on it.

    Six partner sites (directories) with a fake production client, a repository, one
    backward compatible and one non backward compatible client release pushed to them, and
    the bulletin.  Nothing outside OUT is touched; no server is needed.
    """
    from distributor.demo import run_demo  # the whole pipeline: see LAZY_MODULES

    ok = run_demo(out, echo=click.echo)
    if not ok:
        sys.exit(1)
