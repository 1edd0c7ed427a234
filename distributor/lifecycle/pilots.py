"""Server updates: the minor/major classification and the pilot services.

A server update (bc-server, nbc-server) is classified from declared facts with the rule of the
EGEE pre-production service (:func:`pps.classes.server_update_size`), and the reasons are kept.
Its pilot runs at gold sites (bc-server) or platinum sites (nbc-server) for 1 week (minor) or
2 weeks (major) unless agreed otherwise; reminders for feedback go to the broadcast lists while it
runs; the feedback, the end and the wrap-up (a decision and notes) are recorded.  Every step is an
event of the release's audit log (:mod:`distributor.lifecycle`); none changes its state.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distributor.lifecycle import clocks
from distributor.lifecycle.model import OUTCOMES, History, Moved
from distributor.lifecycle.rollout import Rollout
from pps.classes import PILOT_DAYS, ChangeSize, UpdateClass, server_update_size
from pps.errors import BadInput
from pps.repository import Release

#: A running pilot is due a reminder when none went (and it did not start) this many days ago.
REMIND_EVERY_DAYS = 3
_SERVER = (UpdateClass.BC_SERVER, UpdateClass.NBC_SERVER)


def reasons(change: ChangeSize) -> list[str]:
    """Each condition of the minor rule, as it holds or fails for *change*."""

    def said(ok: bool, yes: str, no: str) -> str:
        return f"minor: {yes}" if ok else f"major: {no}"

    return [
        said(not change.new_config_parameters, "no new configuration parameters",
             "new configuration parameters"),
        said(change.major_bug_fixes < 2, f"{change.major_bug_fixes} major bug fix(es) (< 2)",
             f"{change.major_bug_fixes} major bug fixes (2 or more)"),
        said(change.normal_bug_fixes < 5, f"{change.normal_bug_fixes} normal bug fix(es) (< 5)",
             f"{change.normal_bug_fixes} normal bug fixes (5 or more)"),
        said(change.person_days <= 2, f"{change.person_days:g} person-days of change (<= 2)",
             f"{change.person_days:g} person-days of change (more than 2)"),
        said(not change.significant_operational_change, "no significant operational change",
             "a significant operational change"),
    ]  # fmt: skip


def _server(rel: Release) -> None:
    if rel.update_class not in _SERVER:
        raise BadInput(f"{rel.key} is a {rel.update_class.value} update: classifications and "
                       "pilots are for server updates (bc-server, nbc-server)")  # fmt: skip


def classify(rollout: Rollout, component: str, version: str, change: ChangeSize,
             dry_run: bool = False) -> Moved:  # fmt: skip
    size = server_update_size(change)
    data = {"size": size, "reasons": reasons(change), "facts": change.as_dict()}
    return rollout.note(component, version, "classify", data, why=f"a {size} server update",
                        check=lambda rel, _h: _server(rel), dry_run=dry_run)  # fmt: skip


@dataclass(frozen=True)
class Pilot:
    """A release's pilot as its events tell it."""

    release: Release
    sites: tuple[str, ...]
    start: _dt.datetime
    end: _dt.datetime
    ended: _dt.datetime | None
    reminded: _dt.datetime | None
    feedback: int
    wrapped_up: str

    def status(self, now: _dt.datetime) -> str:
        if self.wrapped_up:
            return f"wrapped up ({self.wrapped_up})"
        if self.ended is not None:
            return "ended: wrap-up due"
        if now >= self.end:
            return "past its end: end it and wrap it up"
        return "running"

    def reminder_due(self, now: _dt.datetime) -> bool:
        last = self.reminded or self.start
        running = self.ended is None and not self.wrapped_up and now < self.end
        return running and now - last >= _dt.timedelta(days=REMIND_EVERY_DAYS)

    def to_dict(self, now: _dt.datetime) -> dict[str, Any]:
        return {
            "component": self.release.component, "version": self.release.version,
            "sites": list(self.sites), "start": clocks.iso(self.start),
            "end": clocks.iso(self.end),
            "ended": clocks.iso(self.ended) if self.ended else None,
            "last_reminder": clocks.iso(self.reminded) if self.reminded else None,
            "feedback": self.feedback, "status": self.status(now),
            "reminder_due": self.reminder_due(now),
        }  # fmt: skip


def pilot_of(rel: Release, history: History) -> Pilot | None:
    start = history.first("pilot-start")
    if start is None:
        return None
    ended = history.first("pilot-end")
    reminders = history.all("pilot-remind")
    wrap = history.first("pilot-wrap-up")
    return Pilot(rel, tuple(start.data["sites"]), start.moment,
                 clocks.parse_time(start.data["end"]), ended.moment if ended else None,
                 reminders[-1].moment if reminders else None,
                 len(history.all("pilot-feedback")),
                 str(wrap.data["outcome"]) if wrap else "")  # fmt: skip


def _started(rel: Release, history: History) -> Pilot:
    _server(rel)
    pilot = pilot_of(rel, history)
    if pilot is None:
        raise BadInput(f"no pilot of {rel.key} was started ('pps pilot start')")
    return pilot


def start(rollout: Rollout, component: str, version: str, sites: Sequence[str], *,
          days: int | None = None, at: str | None = None) -> Moved:  # fmt: skip
    if not sites:
        raise BadInput("a pilot needs at least one --site")
    found = [rollout.config.site(s) for s in sites]

    def check(rel: Release, history: History) -> None:
        _server(rel)
        if pilot_of(rel, history) is not None:
            raise BadInput(f"the pilot of {rel.key} was started already")
        for site in found:
            if not site.takes(rel.update_class):
                want = "gold" if rel.update_class is UpdateClass.BC_SERVER else "platinum"
                raise BadInput(f"site {site.name} (partner {site.partner.value}) cannot run "
                               f"the pilot of a {rel.update_class.value} update: {want} "
                               "sites do")  # fmt: skip
        if days is None and history.first("classify") is None:
            raise BadInput(f"{rel.key} is not classified: 'pps pilot classify' it first (1 week "
                           "for minor, 2 weeks for major), or give --days")  # fmt: skip

    # The length depends on the classification, which the check reads: decide inside the step.
    rel, history = rollout.history(component, version)
    check(rel, history)
    classified = history.all("classify")
    size = str(classified[-1].data["size"]) if classified else ""
    length = days if days is not None else PILOT_DAYS[size]
    began = clocks.parse_time(at, "--at") if at else clocks.now()
    end = clocks.iso(began + _dt.timedelta(days=length))
    names = [s.name for s in found]
    data = {"sites": names, "days": length, "end": end, "size": size}
    return rollout.note(component, version, "pilot-start", data, at=at, check=check,
                        why=f"pilot at {', '.join(names)} until {end}")  # fmt: skip


def remind(rollout: Rollout, component: str, version: str, dry_run: bool = False) -> Moved:
    def check(rel: Release, history: History) -> None:
        pilot = _started(rel, history)
        if pilot.ended is not None:
            raise BadInput(f"the pilot of {rel.key} ended: no more reminders")

    return rollout.note(component, version, "pilot-remind", {}, check=check,
                        why="reminder for feedback", dry_run=dry_run)  # fmt: skip


def feedback(rollout: Rollout, component: str, version: str, source: str, text: str,
             at: str | None = None) -> Moved:  # fmt: skip
    if not text.strip() or not source.strip():
        raise BadInput("pilot feedback needs --from and a --text that says something")

    def check(rel: Release, history: History) -> None:
        _started(rel, history)

    return rollout.note(component, version, "pilot-feedback", {"from": source, "text": text},
                        at=at, why=text, check=check)  # fmt: skip


def end(rollout: Rollout, component: str, version: str, at: str | None = None) -> Moved:
    def check(rel: Release, history: History) -> None:
        if _started(rel, history).ended is not None:
            raise BadInput(f"the pilot of {rel.key} ended already")

    return rollout.note(component, version, "pilot-end", {}, at=at, check=check,
                        why="pilot ended")  # fmt: skip


def wrap_up(rollout: Rollout, component: str, version: str, outcome: str, notes: str,
            at: str | None = None) -> Moved:  # fmt: skip
    if outcome not in OUTCOMES:
        raise BadInput(f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")

    def check(rel: Release, history: History) -> None:
        pilot = _started(rel, history)
        if pilot.ended is None:
            raise BadInput(f"the pilot of {rel.key} is still running: 'pps pilot end' it first")
        if pilot.wrapped_up:
            raise BadInput(f"the pilot of {rel.key} was wrapped up already")

    return rollout.note(component, version, "pilot-wrap-up", {"outcome": outcome,
                        "notes": notes}, at=at, check=check, why=f"wrap-up: {outcome}")  # fmt: skip


def pilots(rollout: Rollout) -> list[Pilot]:
    found = []
    for rel, history in rollout.histories():
        pilot = pilot_of(rel, history)
        if pilot is not None:
            found.append(pilot)
    return found
