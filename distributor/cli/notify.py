"""``pps notify``: the mail queue (what waits, why), and sending it again."""

from __future__ import annotations

import click

from distributor.cli import CliContext, PPSGroup, cli, emit_json, pass_context, table
from distributor.notify.queue import DROPPED, HELD, QUEUED, SENT, queue
from distributor.notify.smtp import send_queued


@cli.group(cls=PPSGroup)
def notify() -> None:
    """The lifecycle's mail: every mail is queued in the state store first, so none is lost.

    \b
      pps notify queue                 # what waits, and why it was not sent
      pps notify retry                 # send it now ([notify] in pps.toml)
      pps notify retry --dry-run       # print it instead
    """


@notify.command("queue")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also the mails already sent, and those dropped (no longer true).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the mails as JSON.")
@pass_context
def notify_queue(state: CliContext, show_all: bool, as_json: bool) -> None:
    """List the mails not sent yet: queued (the server refused, was down or is not
    configured) and held (to lists, about an embargoed release).  With --all also the sent
    ones and the dropped ones: held mail that was no longer true when the embargo was lifted
    (the preview's broadcast of a release that had left preview), never sent."""
    with state.store() as store:
        mails = queue(store, (QUEUED, HELD, SENT, DROPPED) if show_all else (QUEUED, HELD))
    if as_json:
        emit_json([m.to_dict() for m in mails])
        return
    if not mails:
        click.echo("no mail waits")
        return
    table(("ID", "STATUS", "KIND", "RELEASE", "TO", "SUBJECT", "LAST ERROR"),
          [(m.id, m.status, m.kind, f"{m.component} {m.version}".strip() or "-", ", ".join(m.to),
            m.subject, m.last_error or "-") for m in mails])  # fmt: skip


@notify.command("retry")
@click.option("--dry-run", is_flag=True, help="Print the queued mails; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent and what was not.")
@pass_context
def notify_retry(state: CliContext, dry_run: bool, as_json: bool) -> None:
    """Send every queued mail now, over one SMTP connection.

    Mail held for an embargoed release stays held ('pps release unembargo' queues it).  Exits
    0 when every queued mail went, 1 when some could not be sent (they stay queued, with the
    reason).
    """
    with state.store() as store:
        if dry_run:
            mails = queue(store, (QUEUED,))
            if as_json:
                emit_json([m.to_dict() for m in mails])
                return
            for m in mails:
                click.echo(f"--- mail {m.id} ({m.kind}), to {', '.join(m.to)}")
                click.echo(m.message.rstrip("\n"))
            click.echo(f"dry run: {len(mails)} queued mail(s); nothing sent")
            return
        report = send_queued(store, state.config.notify)
    if as_json:
        failed = [{**m.to_dict(), "error": why} for m, why in report.failed]
        emit_json({"sent": [m.to_dict() for m in report.sent], "failed": failed})
    else:
        click.echo(f"sent {len(report.sent)} mail(s)" + (
            f", {len(report.failed)} still queued: {report.failed[0][1]}" if report.failed else ""
        ))  # fmt: skip
    if report.failed:
        raise SystemExit(1)
