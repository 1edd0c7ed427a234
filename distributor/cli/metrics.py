"""``pps metrics``: the staged-rollout metrics of the EGI procedure."""

from __future__ import annotations

import click

from distributor.cli import CliContext, cli, emit_json, pass_context, table
from distributor.cli._steps import rollout_of
from distributor.lifecycle.clocks import parse_past
from distributor.lifecycle.metrics import collect


@cli.command()
@click.option("--since", metavar="DATE", help="Only releases created on or after DATE (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@pass_context
def metrics(state: CliContext, since: str | None, as_json: bool) -> None:
    """Early-adopter sites, releases, rejections, step times and effort.

    Early-adopter sites committed (inventory early_adopter) and active (accepted a release);
    releases, rejections and warnings per component; each step's working time against its
    budget; the time from a release's creation to its first site OK and to all its sites OK
    (from the push outcomes); the effort each site reported, with credits (1 credit = 1 PH).

    \b
    Examples:
      pps metrics
      pps metrics --since 2026-01-01 --json
    """
    moment = None
    if since:
        moment = parse_past(since, "--since")
    with state.store() as store:
        data = collect(rollout_of(state, store), since=moment)
    if as_json:
        emit_json(data)
        return
    ea = data["early_adopters"]
    period = f" since {data['since']}" if data["since"] else ""
    click.echo(f"early-adopter sites: {len(ea['committed'])} committed, {len(ea['active'])} "
               f"active{period}")  # fmt: skip
    table(
        ("SITE", "COMMITTED TO", "ACCEPTED", "REPORTS", "EFFORT", "CREDITS"),
        [
            (
                n,
                ",".join(s["committed_to"]) or "-",
                s["accepted"],
                s["reports"],
                f"{s['effort_hours']:g}PH",
                f"{s['credits']:g}",
            )
            for n, s in data["sites"].items()
        ],
    )
    click.echo("")
    if not data["components"]:
        click.echo(f"no release{period}")
        return
    table(
        ("COMPONENT", "RELEASES", "REJECTED", "WARNINGS"),
        [(c, v["releases"], v["rejected"], v["warnings"]) for c, v in data["components"].items()],
    )
    click.echo("")
    if data["steps"]:
        table(("TYPE", "STEP", "RELEASES", "MEAN", "MAX", "BUDGET", "OVER BUDGET"),
              [(s["release_type"], s["step"], s["releases"], f"{s['mean_hours']:g}h",
                f"{s['max_hours']:g}h", f"{s['budget_hours']:g}h", s["over_budget"])
               for s in data["steps"]])  # fmt: skip
        click.echo("")

    def hours(value: float | None) -> str:
        return "-" if value is None else f"{value:g}h"

    table(
        ("RELEASE", "SITES OK", "FIRST SITE", "ALL SITES"),
        [
            (
                f"{d['component']} {d['version']}",
                f"{d['ok']}/{d['targets']}",
                hours(d["first_site_hours"]),
                hours(d["all_sites_hours"]),
            )
            for d in data["delivery"]
        ],
    )
