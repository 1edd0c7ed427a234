"""``pps infosys map`` and ``pps infosys check``: what the information system publishes.

Thin: the reading and the comparing are :mod:`distributor.infosys.collect`; this module parses the
options, prints, and sets the exit code.  Nothing heavy is imported before a command runs (no
jinja2, no paramiko): ``pps infosys map`` costs its interpreter, click, ldap3 and the round trip.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from distributor.cli import (
    BadInputError,
    CliContext,
    PPSGroup,
    cli,
    emit_json,
    pass_context,
    say,
    table,
)

if TYPE_CHECKING:
    pass

URL_HELP = (
    "The BDII to read, ldap://HOST:PORT (a BDII listens on 2170). "
    "Default: [infosys] url of pps.toml."
)


def bdii_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--infosys``, ``--timeout`` and ``--max-values``, shared by the infosys commands."""
    f = click.option(
        "--max-values", type=click.IntRange(1, 100_000_000), default=None,
        help="Stop reading after this many attribute values. "
        "Default: [infosys] max_values, else 200000.",
    )(f)  # fmt: skip
    f = click.option(
        "--timeout", type=click.FloatRange(0, 3600, min_open=True), default=None,
        help="Seconds the whole BDII read may take, connect included. "
        "Default: [infosys] timeout, else 30.",
    )(f)  # fmt: skip
    return click.option("--infosys", "infosys_url", metavar="URL", default=None, help=URL_HELP)(f)


def warn_all(messages: list[str]) -> None:
    """Each message as one ``warning:`` line on stderr, shown as printable text."""
    for message in messages:
        say(f"warning: {message}", err=True)


@cli.group(cls=PPSGroup)
def infosys() -> None:
    """What the information system publishes: the version map, and checks against the sites."""


@infosys.command("map")
@bdii_options
@click.option("--tag", default=None, help="Only this tag (compared case-insensitively).")
@click.option(
    "--glue2", is_flag=True,
    help="From a BDII, also read the GLUE 2.0 ApplicationEnvironments (their states); without "
    "it only the GLUE 1.3 RunTimeEnvironment values are read, and the ARC-CEs' preview RTEs "
    "(GLUE 2.0 alone).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the map as JSON (one line).")
@pass_context
def infosys_map(
    state: CliContext,
    infosys_url: str | None,
    timeout: float | None,
    max_values: int | None,
    tag: str | None,
    glue2: bool,
    as_json: bool,
) -> None:
    """Print which preview tag is published at which site.

    From the BDII (--infosys or [infosys] url: the GLUE 1.3 RunTimeEnvironment values under
    o=grid, what a WMS matches jobs on; with --glue2 also the GLUE 2.0 states under o=glue),
    else from each site's own GIP provider, run through the site's transport (both schemas).
    An ARC-CE's preview RTEs (GLUE 2.0 ApplicationEnvironments ENV/PPS/..., always read) are
    tags of the map under their RTE name; the inventory's kind of a site (arc, condor) is shown
    beside its name.  Entries that name no site, or lack their tag or state, are skipped with a
    warning naming the DN.

    \b
    Example:
      pps infosys map --infosys ldap://bdii.example.org:2170 --tag VO-dteam-PPS-glite-UI-3.2.8-0
    """
    from distributor.infosys.collect import read_published, settings
    from pps.publication import safe_text

    config = state.optional_config()
    how = settings(config, infosys_url, timeout, max_values)
    pub, errors = read_published(config, how, tag=tag, glue2=glue2 or not how.url)
    kinds = {s.name: s.kind for s in config.sites} if config is not None else {}
    if as_json:
        # One line: a top BDII's map is tens of thousands of values, and json's indenting
        # encoder is pure Python (4x the time of the compact one, which is C).
        extra = {"bdii": how.url or None, "glue2": glue2 or not how.url, "site_errors": errors,
                 "site_kinds": kinds}  # fmt: skip
        click.echo(pub.map_json_text(extra))
        return
    warn_all(pub.warnings)
    warn_all([f"{name}: {err}" for name, err in sorted(errors.items())])
    source = f"the BDII at {how.url}" if how.url else "the sites' GIP output"
    vmap = pub.version_map()
    if not vmap:
        click.echo(f"{source} publishes no preview tags")
        return
    folded = {name.casefold(): kind for name, kind in kinds.items() if kind != "glite"}

    def shown(site: str) -> str:
        kind = folded.get(site.casefold())
        return safe_text(site) + (f" ({kind})" if kind else "")

    if how.url and not glue2:
        table(("TAG", "SITE"), [(safe_text(t), shown(site)) for t, sites in vmap.items()
                                for site in sites])  # fmt: skip
        return
    rows = [
        (safe_text(t), shown(site), "yes" if st.glue1 else "-", st.state or "-")
        for t, sites in vmap.items()
        for site, st in sites.items()
    ]
    table(("TAG", "SITE", "GLUE 1.3", "GLUE 2.0"), rows)


@infosys.command("check")
@bdii_options
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@pass_context
def infosys_check(
    state: CliContext,
    infosys_url: str | None,
    timeout: float | None,
    max_values: int | None,
    as_json: bool,
) -> None:
    """Compare, per site, what the site publishes with what the BDII publishes.

    What a site says comes from its own GIP provider (its tags files and the probe's state
    records), run through its transport.  Reported: tags missing from the BDII, tags the BDII
    still has and the site no longer publishes ('extra'), different GLUE 1.3/2.0 content
    ('differs'), GLUE 1.3 and GLUE 2.0 disagreeing in the BDII ('glue-mismatch'), live tags of
    versions the repository index no longer has in preview ('stale'), sites that cannot be
    read ('unreachable').  Exit 0 when there is none, 1 otherwise, 2 on bad input.
    """
    from distributor.infosys.collect import check_infosys, settings
    from pps.publication import parse_ldap_url, safe_text

    if infosys_url is not None:
        parse_ldap_url(infosys_url)  # a bad URL is named before the configuration is read
    how = settings(state.config, infosys_url, timeout, max_values)
    if not how.url:
        raise BadInputError(
            "pps infosys check compares the sites with a BDII: give --infosys ldap://HOST:PORT "
            "or set [infosys] url in pps.toml"
        )
    report = check_infosys(state.config, state.repo.load(), how)
    if as_json:
        emit_json(report.as_json())
    else:
        warn_all(list(report.warnings))
        if report.problems:
            rows = [
                (safe_text(p.site), p.problem, safe_text(p.tag) or "-", safe_text(p.detail))
                for p in report.problems
            ]
            table(("SITE", "PROBLEM", "TAG", "DETAIL"), rows)
            at = len({p.site for p in report.problems})
            click.echo(
                f"{len(report.problems)} problem(s) at {at} of {len(report.sites)} site(s) "
                f"(BDII {how.url})"
            )
        else:
            click.echo(f"OK: the BDII at {how.url} agrees with all {len(report.sites)} site(s)")
    if report.problems:
        sys.exit(1)
