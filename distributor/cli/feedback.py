"""``pps feedback``: what users said about a preview; it goes into the release notes."""

from __future__ import annotations

import click

from distributor.cli import CliContext, PPSGroup, cli, emit_json, pass_context, table
from distributor.cli._steps import rollout_of
from pps.errors import BadInput, ConfigError
from pps.settings import check_address


@cli.group(cls=PPSGroup)
def feedback() -> None:
    """Record the feedback users give on a preview (the release notes carry it, and say so
    explicitly when none was received).

    \b
      pps feedback add glite-UI 3.2.8-0 --from alice@example.org --text "fixes my bug"
      pps feedback list glite-UI 3.2.8-0
    """


@feedback.command("add")
@click.argument("component")
@click.argument("version")
@click.option(
    "--from", "source", required=True, metavar="ADDRESS",
    help="Who said it: their mail address (local@domain), as the release notes credit it.",
)  # fmt: skip
@click.option("--text", required=True, help="What they said.")
@click.option("--at", "at", metavar="TIME", help="When they said it (ISO 8601), not later.")
@pass_context
def feedback_add(state: CliContext, component: str, version: str, source: str, text: str,
                 at: str | None) -> None:  # fmt: skip
    """Record feedback on COMPONENT VERSION, from one user's mail address."""
    if not text.strip():
        raise BadInput("feedback needs a --text that says something")
    try:
        source = check_address(source, "--from")
    except ConfigError as e:
        raise BadInput(f"{e}: feedback is recorded with the address of who gave it") from None
    with state.store() as store:
        said = {"from": source, "text": text}
        moved = rollout_of(state, store).note(component, version, "feedback", said, why=text, at=at)
    click.echo(f"{moved.release.key}: feedback from {source} recorded")


@feedback.command("list")
@click.argument("component")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True, help="Print the feedback as JSON.")
@pass_context
def feedback_list(state: CliContext, component: str, version: str, as_json: bool) -> None:
    """List the feedback recorded on COMPONENT VERSION."""
    with state.store() as store:
        _rel, history = rollout_of(state, store).history(component, version)
    said = [{"at": e.at, "from": e.data.get("from", ""), "text": e.data.get("text", ""),
             "recorded_by": e.who} for e in history.all("feedback")]  # fmt: skip
    if as_json:
        emit_json(said)
    elif not said:
        click.echo(f"no feedback was received on {component} {version}")
    else:
        table(("AT", "FROM", "TEXT"), [(s["at"], s["from"], s["text"]) for s in said])
