"""``pps pilot``: server updates, classified minor or major, and their pilot services."""

from __future__ import annotations

from typing import Any

import click

from distributor.cli import CliContext, PPSGroup, cli, emit_json, pass_context, table
from distributor.cli._steps import print_mail, send_mail
from distributor.cli._steps import rollout_of as make
from distributor.lifecycle.clocks import iso, now
from distributor.lifecycle.model import OUTCOMES
from distributor.lifecycle.pilots import classify, end, feedback, pilots, remind, start, wrap_up
from pps.classes import ChangeSize

AT_HELP = "When it happened, if not now (ISO 8601): never later."


@cli.group(cls=PPSGroup)
def pilot() -> None:
    """Server updates: classify them minor or major, run and track their pilots.

    bc-server updates are piloted at gold sites, nbc-server updates at platinum sites, for 1
    week (minor) or 2 weeks (major) unless agreed otherwise.

    \b
      pps pilot classify glite-WMS 3.3.1-0 --major-bugs 1 --normal-bugs 3 --person-days 1.5
      pps pilot start glite-WMS 3.3.1-0 --site CORAL-GRID
      pps pilot remind glite-WMS 3.3.1-0            # mail the lists for feedback
      pps pilot feedback glite-WMS 3.3.1-0 --from atlas --text "stable under load"
      pps pilot end glite-WMS 3.3.1-0
      pps pilot wrap-up glite-WMS 3.3.1-0 --outcome success --notes "go to production"
      pps pilot list
    """


def rollout_of(state: CliContext, store: Any) -> Any:
    return make(state, store)


@pilot.command("classify")
@click.argument("component")
@click.argument("version")
@click.option(
    "--new-config-parameters",
    is_flag=True,
    help="It adds configuration parameters (YAIM or the component's own files).",
)
@click.option("--major-bugs", default=0, type=click.IntRange(0), help="Major bug fixes.")
@click.option("--normal-bugs", default=0, type=click.IntRange(0), help="Normal bug fixes.")
@click.option(
    "--person-days",
    default=0.0,
    type=click.FloatRange(0),
    help="Person-days of programming the change took.",
)
@click.option(
    "--operational-change",
    is_flag=True,
    help="It changes how service administrators operate the service significantly.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the classification as JSON.")
@pass_context
def pilot_classify(state: CliContext, component: str, version: str, new_config_parameters: bool,
                   major_bugs: int, normal_bugs: int, person_days: float,
                   operational_change: bool, as_json: bool) -> None:  # fmt: skip
    """Classify the server update COMPONENT VERSION as minor or major, with the reasons.

    Minor when all hold: no new configuration parameters, fewer than 2 major and fewer than 5
    normal bug fixes, at most 2 person-days of change, no significant operational change.
    """
    change = ChangeSize(new_config_parameters, major_bugs, normal_bugs, person_days,
                        operational_change)  # fmt: skip
    with state.store() as store:
        moved = classify(rollout_of(state, store), component, version, change)
        send_mail(state, store, moved.mail_ids)
    data = moved.event.data
    if as_json:
        emit_json(data)
        return
    days = {"minor": "1 week", "major": "2 weeks"}[data["size"]]
    click.echo(f"{moved.release.key}: a {data['size']} server update (pilot: {days})")
    for reason in data["reasons"]:
        click.echo(f"  {reason}")


@pilot.command("start")
@click.argument("component")
@click.argument("version")
@click.option(
    "--site",
    "sites",
    multiple=True,
    required=True,
    help="A site that runs the pilot: gold for bc-server, platinum for nbc-server.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    help="Agreed length in days (default: 7 for minor, 14 for major).",
)
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@pass_context
def pilot_start(state: CliContext, component: str, version: str, sites: tuple[str, ...],
                days: int | None, at: str | None) -> None:  # fmt: skip
    """Start the pilot of COMPONENT VERSION at its sites (after installation)."""
    with state.store() as store:
        moved = start(rollout_of(state, store), component, version, sites, days=days, at=at)
    d = moved.event.data
    click.echo(f"{moved.release.key}: pilot started at {', '.join(d['sites'])} for {d['days']} "
               f"day(s), until {d['end']}")  # fmt: skip


@pilot.command("remind")
@click.argument("component")
@click.argument("version")
@click.option("--dry-run", is_flag=True, help="Print the reminder; send nothing.")
@pass_context
def pilot_remind(state: CliContext, component: str, version: str, dry_run: bool) -> None:
    """Mail the broadcast lists a reminder for feedback on the running pilot."""
    with state.store() as store:
        moved = remind(rollout_of(state, store), component, version, dry_run=dry_run)
        if dry_run:
            click.echo(f"dry run: {moved.release.key}: reminder not sent")
            print_mail(moved.mails)
            return
        click.echo(f"{moved.release.key}: reminder recorded")
        if not moved.mails:
            click.echo("no [notify] broadcast lists: no reminder mail", err=True)
        send_mail(state, store, moved.mail_ids)


@pilot.command("feedback")
@click.argument("component")
@click.argument("version")
@click.option("--from", "source", required=True, help="Who said it (a VO, a person).")
@click.option("--text", required=True, help="What they said.")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@pass_context
def pilot_feedback(state: CliContext, component: str, version: str, source: str, text: str,
                   at: str | None) -> None:  # fmt: skip
    """Record feedback on the pilot (the release notes carry it)."""
    with state.store() as store:
        moved = feedback(rollout_of(state, store), component, version, source, text, at=at)
    click.echo(f"{moved.release.key}: pilot feedback from {source} recorded")


@pilot.command("end")
@click.argument("component")
@click.argument("version")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@pass_context
def pilot_end(state: CliContext, component: str, version: str, at: str | None) -> None:
    """End the pilot (its timeline is over, or it succeeded early)."""
    with state.store() as store:
        moved = end(rollout_of(state, store), component, version, at=at)
    click.echo(f"{moved.release.key}: pilot ended at {moved.event.at}; wrap-up due")


@pilot.command("wrap-up")
@click.argument("component")
@click.argument("version")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(OUTCOMES),
    help="The decision of the wrap-up meeting.",
)
@click.option("--notes", default="", help="The assessment, for the record and the notes.")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@pass_context
def pilot_wrap_up(state: CliContext, component: str, version: str, outcome: str, notes: str,
                  at: str | None) -> None:  # fmt: skip
    """Record the wrap-up of an ended pilot: the decision and the assessment."""
    with state.store() as store:
        moved = wrap_up(rollout_of(state, store), component, version, outcome, notes, at=at)
    click.echo(f"{moved.release.key}: pilot wrapped up: {outcome}")


@pilot.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the pilots as JSON.")
@pass_context
def pilot_list(state: CliContext, as_json: bool) -> None:
    """List the pilots: sites, start and end, reminders due, feedback, status."""
    with state.store() as store:
        found = pilots(rollout_of(state, store))
    moment = now()
    if as_json:
        emit_json([p.to_dict(moment) for p in found])
        return
    if not found:
        click.echo("no pilot was started")
        return
    rows = [
        (
            p.release.key,
            ",".join(p.sites),
            iso(p.start),
            iso(p.end),
            p.feedback,
            "due" if p.reminder_due(moment) else "-",
            p.status(moment),
        )
        for p in found
    ]
    table(("RELEASE", "SITES", "START", "END", "FEEDBACK", "REMINDER", "STATUS"), rows)
