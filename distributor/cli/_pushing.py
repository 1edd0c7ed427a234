"""The CLI's side of a push, shared by 'pps push', 'pps remove' and the release steps that end a
preview: the progress shown while it works, Ctrl-C stopping it, the retirement push and its
output.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import asdict
from typing import Any

import click

from distributor.cli import (
    CliContext,
    emit_json,
    table,
)
from distributor.push.controller import Stop, push_release


class Progress:
    """What a push shows while it works, on stderr: a bar that redraws itself on a terminal,
    one plain line per finished site otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.failed = self.running = 0
        self.tty = sys.stderr.isatty()

    def start(self, _site: Any) -> None:
        self.running += 1
        self._draw()

    def finish(self, o: Any) -> None:
        self.running -= 1
        self.done += 1
        self.failed += o.failed
        if self.tty:
            self._draw()
        else:
            click.echo(f"[{self.done}/{self.total}] {o.site}: {o.state} ({o.seconds:.1f}s)",
                       err=True)  # fmt: skip

    def _draw(self) -> None:
        if not self.tty:
            return
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\r[{bar}] {self.done}/{self.total} done, {self.failed} failed, "
                   f"{self.running} running ", err=True, nl=False)  # fmt: skip

    def end(self) -> None:
        if self.tty:
            click.echo("", err=True)


def stop_on_signals(stop: Any) -> None:
    """Ctrl-C or SIGTERM: stop the push (once); a second one is ignored, without a traceback."""

    def handler(signum: int, _frame: Any) -> None:
        # From now on the signals are ignored by the kernel itself: Python puts its default
        # handlers back while it shuts down, and a second Ctrl-C landing then would kill the
        # push (exit -2) after it recorded everything; SIG_IGN is left as it is.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if stop.is_set():
            return
        stop.set()
        click.echo("\nstopping: no new site starts, running probes are told to stop "
                   "(a few seconds; another Ctrl-C changes nothing)...", err=True)  # fmt: skip

    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may take signals (the CLI called from a program's thread)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def run_push(state: CliContext, rel: Any, sites: list[Any], store: Any, **how: Any) -> Any:
    """A push of *rel* to *sites* (``push_release`` with *how*) with its progress on stderr and
    Ctrl-C stopping it; its report."""
    stop = Stop()
    stop_on_signals(stop)
    progress = Progress(len(sites))
    report = push_release(
        state.repo, rel, sites, store, on_outcome=progress.finish, on_start=progress.start,
        signing_key=state.config.signing_key, stop=stop, **how,
    )  # fmt: skip
    progress.end()
    return report


def retire_at_sites(state: CliContext, store: Any, rel: Any, sites: list[Any], *, as_json: bool,
                    show: bool = True, parallel: int = 16, timeout: float = 120.0,
                    probe_extra: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """Tell *sites* that *rel* left preview (a push of its one-release index saying so, which
    replaces what their incoming area holds): they withdraw its tags at once and remove the
    tree after their grace period.  Prints the outcomes (a JSON object with *as_json*; nothing
    but the progress unless *show*); the push's report."""
    click.echo(f"telling {len(sites)} site(s) to retire {rel.key} (no longer in preview)",
               err=True)  # fmt: skip
    report = run_push(state, rel, sites, store, parallel=parallel, timeout=timeout,
                      withdraw=True, probe_extra=list(probe_extra))  # fmt: skip
    if not show:
        return report
    if as_json:
        emit_json({"release": rel.to_dict(), "outcomes": [asdict(o) for o in report.outcomes],
                   "not_started": report.not_started, "stopped": report.stopped})  # fmt: skip
    else:
        table(("SITE", "STATE", "SUMMARY"), [(o.site, o.state, o.summary) for o in report.outcomes])
        told = [o for o in report.outcomes if o.retired]
        click.echo(f"{len(told)}/{len(sites)} site(s) told to retire {rel.key}")
    return report
