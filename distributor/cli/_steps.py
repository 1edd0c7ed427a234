"""The CLI's side of a lifecycle step, shared by the release, pilot, feedback, metrics and push
commands: the rollout of the repository and store at hand, and the step's mail (printed for a
dry run, else sent).
"""

from __future__ import annotations

from typing import Any

import click

from distributor.cli import (
    CliContext,
)
from distributor.lifecycle.rollout import Rollout
from distributor.notify.compose import mail_makers
from distributor.notify.queue import HELD, queue
from distributor.notify.smtp import send_queued


def rollout_of(state: CliContext, store: Any) -> Any:
    return Rollout(state.repo, store, state.config, mails=mail_makers(state.config, store))


def print_mail(mails: list[Any]) -> None:
    for i, m in enumerate(mails, 1):
        click.echo(f"--- mail {i} of {len(mails)} ({m.kind}{', to lists' if m.public else ''})")
        click.echo(f"To: {', '.join(m.to)}")
        click.echo(f"Subject: {m.subject}")
        click.echo("")
        click.echo(m.body.rstrip("\n"))
    if mails:
        click.echo("--- end of mail")


def send_mail(state: CliContext, store: Any, ids: list[int], *, err: bool = False) -> None:
    """Send the mails a step queued; say what went and what waits (the step has landed), on
    stderr with *err* (the step printed JSON)."""
    held = [m for m in queue(store, (HELD,)) if m.id in ids]
    report = send_queued(store, state.config.notify, [i for i in ids if i not in
                                                      {m.id for m in held}])  # fmt: skip
    if report.sent:
        said = ", ".join(f"{m.kind} to {', '.join(m.to)}" for m in report.sent)
        click.echo(f"mail: sent {len(report.sent)} ({said})", err=err)
    if held:
        click.echo(f"mail: {len(held)} to lists held while the release is embargoed "
                   "('pps release unembargo' sends them)", err=err)  # fmt: skip
    if report.failed:
        click.echo(f"warning: mail: {len(report.failed)} queued, not sent: {report.failed[0][1]}; "
                   "'pps notify retry' sends them", err=True)  # fmt: skip
