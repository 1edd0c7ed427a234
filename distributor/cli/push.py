"""``pps push``, ``pps status``, ``pps sites``: carry a release to its sites, see what happened."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click

from distributor.cli import (
    State,
    cli,
    emit_json,
    pass_state,
    table,
)
from pps.classes import UpdateClass


@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--site", "sites", multiple=True, help="Push to this site only (repeatable).")
@click.option(
    "--parallel", default=4, show_default=True, type=click.IntRange(1, 64),
    help="How many sites to work on at once.",
)  # fmt: skip
@click.option(
    "--timeout", default=600.0, show_default=True, type=click.FloatRange(1, 86400),
    help="Seconds the probe may take at one site.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_state
def push(
    state: State,
    component: str,
    version: str,
    sites: tuple[str, ...],
    parallel: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Push COMPONENT VERSION to every site its update class targets, and test it there.

    bc-client goes to every preview site, nbc-client to silver sites, bc-server to gold and
    nbc-server to platinum ones.  At each site the probe verifies the tarball, installs it
    beside production, runs the local tests and publishes (or withdraws) the tag.  Exits 1 if
    any site failed.
    """
    from distributor.push import push_release, target_sites

    rel = state.repo.load().find(component, version)
    targets = target_sites(state.config, rel, sites)
    if not targets:
        raise click.ClickException(
            f"no site in {state.config.path} takes {rel.update_class.value} releases"
        )
    total = len(targets)
    done = 0

    def progress(o: Any) -> None:
        nonlocal done
        done += 1
        click.echo(f"[{done}/{total}] {o.site}: {o.state} ({o.seconds:.1f}s)", err=True)

    click.echo(f"pushing {rel.component} {rel.version} to {total} site(s)", err=True)
    with state.store() as store:
        report = push_release(
            state.repo, rel, targets, store, parallel=parallel, timeout=timeout,
            on_outcome=progress, signing_key=state.config.signing_key,
        )  # fmt: skip
    if as_json:
        emit_json({"release": rel.to_dict(), "outcomes": [asdict(o) for o in report.outcomes]})
    else:
        table(("SITE", "STATE", "SUMMARY"), [(o.site, o.state, o.summary) for o in report.outcomes])
        ok = total - len(report.failed)
        click.echo(f"{ok}/{total} site(s) without failure")
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("component", required=False)
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_state
def status(state: State, component: str | None, version: str | None, as_json: bool) -> None:
    """Show the latest outcome at every site, for all releases or one."""
    with state.store() as store:
        outcomes = store.latest(component, version)
    if as_json:
        emit_json([asdict(o) for o in outcomes])
        return
    if not outcomes:
        click.echo("no outcomes recorded yet")
        return
    table(
        ("COMPONENT", "VERSION", "SITE", "STATE", "AT", "SUMMARY"),
        [(o.component, o.version, o.site, o.state, o.at, o.summary) for o in outcomes],
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the sites as JSON.")
@pass_state
def sites(state: State, as_json: bool) -> None:
    """List the partner sites of the inventory and what they take."""
    rows = []
    for s in state.config.sites:
        takes = [u.value for u in UpdateClass if s.takes(u)]
        rows.append({"name": s.name, "partner": s.partner.value, "transport": s.transport,
                     "vos": list(s.vos), "takes": takes})  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(
        ("SITE", "PARTNER", "TRANSPORT", "VOS", "TAKES"),
        [(r["name"], r["partner"], r["transport"], ",".join(r["vos"]), ",".join(r["takes"]))
         for r in rows],
    )  # fmt: skip
