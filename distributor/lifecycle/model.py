"""The lifecycle's model: a release's states and the steps between them, its events and bugs, its
history as the store records it (the types every lifecycle module and notify share).
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from distributor.lifecycle import clocks
from distributor.store import Store
from pps.classes import EFFORT_HOURS
from pps.errors import BadInput
from pps.repository import Release
from pps.settings import check_address

CERTIFIED = "certified"


UNVERIFIED = "unverified"


VERIFIED = "verified"


REJECTED = "rejected"


ROLLING_OUT = "rolling-out"


CLOSED_SUCCESS = "closed-success"


CLOSED_WARNING = "closed-warning"


CLOSED_REJECT = "closed-reject"


WITHDRAWN = "withdrawn"


STATES = (CERTIFIED, UNVERIFIED, VERIFIED, REJECTED, ROLLING_OUT, CLOSED_SUCCESS,
          CLOSED_WARNING, CLOSED_REJECT, WITHDRAWN)  # fmt: skip


FINAL = frozenset({REJECTED, CLOSED_SUCCESS, CLOSED_WARNING, CLOSED_REJECT, WITHDRAWN})


#: Final states in which the release is withdrawn (no site may publish it).
GONE = frozenset({REJECTED, CLOSED_REJECT, WITHDRAWN})


#: Outcomes of an early adopter's report and of a close.
OUTCOMES = ("success", "warning", "reject")


CLOSED_BY_OUTCOME = {"success": CLOSED_SUCCESS, "warning": CLOSED_WARNING, "reject": CLOSED_REJECT}


#: The lifecycle's transitions: step -> (the states it may start from, the state it leads to).
#: ``close`` leads to the state of its outcome (:data:`CLOSED_BY_OUTCOME`) and, forced, may
#: start from ``verified`` too; ``remove`` withdraws whatever is not final yet.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "verify": ((UNVERIFIED,), VERIFIED),
    "reject": ((UNVERIFIED,), REJECTED),
    "accept": ((VERIFIED, ROLLING_OUT), ROLLING_OUT),
    "report": ((ROLLING_OUT,), ROLLING_OUT),
    "close": ((ROLLING_OUT,), ""),
}


def allowed_from(step: str, *, forced: bool = False) -> tuple[str, ...]:
    """The states *step* may start from (a forced close: from ``verified`` too)."""
    if step == "close" and forced:
        return (ROLLING_OUT, VERIFIED)
    return TRANSITIONS[step][0]


def next_state(state: str, step: str, *, outcome: str = "", forced: bool = False) -> str | None:
    """The state *step* leads to from *state*, or None when it may not be taken there: the
    lifecycle's state machine as a pure function."""
    if step == "remove":
        return state if state in FINAL else WITHDRAWN
    if state not in allowed_from(step, forced=forced):
        return None
    if step == "close":
        return CLOSED_BY_OUTCOME.get(outcome)
    return TRANSITIONS[step][1]


def who_am_i() -> str:
    """Who a step is recorded as: ``$PPS_USER``, else the login name."""
    return os.environ.get("PPS_USER") or getpass.getuser()


@dataclass(frozen=True)
class Event:
    """One line of the audit log."""

    id: int
    component: str
    version: str
    kind: str
    #: The release's state after this event.
    state: str
    site: str
    who: str
    #: When it happened (``--at``, or when it was recorded).
    at: str
    recorded: str
    why: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "site": self.site,
            "who": self.who, "at": self.at, "recorded": self.recorded, "why": self.why,
            "data": self.data,
        }  # fmt: skip

    @property
    def moment(self) -> _dt.datetime:
        return clocks.parse_time(self.at)


@dataclass(frozen=True)
class Bug:
    """A bug the release fixes, and who reported it (invited to verify the fix)."""

    id: str
    title: str
    reporter: str

    @classmethod
    def parse(cls, text: str) -> Bug:
        """``ID=TITLE <reporter@example.org>``."""
        m = re.fullmatch(r"\s*([A-Za-z0-9#._-]+)\s*=\s*(.+?)\s*<([^<>]+)>\s*", text)
        if not m:
            raise BadInput(f"bug {text!r} is not ID=TITLE <reporter@domain>")
        return cls(m.group(1), m.group(2), check_address(m.group(3), "bug reporter"))

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "reporter": self.reporter}


_EFFORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(PH|PD|PW|PM)\s*$", re.IGNORECASE)


def parse_effort(text: str) -> float:
    """Person-hours in ``4PH``, ``0.5PD``, ``1PW``, ``1PM`` (PD = 8 PH, PW = 5 PD, PM = 20 PD)."""
    m = _EFFORT.match(text)
    if not m:
        raise BadInput(f"effort {text!r} is not a number and a unit: PH, PD, PW or PM (e.g. 4PH)")
    return float(m.group(1)) * EFFORT_HOURS[m.group(2).upper()]


class History:
    """One release's events, oldest first, and what they add up to.  A release the index marks
    *withdrawn* with no final step on record ends with a synthetic *withdrawn* event (id 0,
    never written)."""

    def __init__(self, component: str, version: str, events: Sequence[Event],
                 withdrawn: bool = False) -> None:  # fmt: skip
        self.component = component
        self.version = version
        self.events = list(events)
        if withdrawn and not self.final and self.events:
            last = self.events[-1]
            self.events.append(Event(0, component, version, "withdrawn", WITHDRAWN, "", "",
                                     last.at, last.recorded,
                                     "withdrawn in the repository's index, no step on record",
                                     {"synthetic": True}))  # fmt: skip

    @property
    def state(self) -> str:
        return self.events[-1].state if self.events else UNVERIFIED

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def first(self, kind: str) -> Event | None:
        return next((e for e in self.events if e.kind == kind), None)

    def all(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    @property
    def accepted(self) -> dict[str, Event]:
        return {e.site: e for e in self.all("accept")}

    @property
    def reports(self) -> dict[str, Event]:
        return {e.site: e for e in self.all("report")}

    @property
    def open_sites(self) -> list[str]:
        """Sites that accepted and have not reported yet."""
        done = self.reports
        return [s for s in self.accepted if s not in done]

    @property
    def bugs(self) -> list[Bug]:
        created = self.first("certified")
        raw = created.data.get("bugs", []) if created else []
        return [Bug(b["id"], b["title"], b["reporter"]) for b in raw]

    @property
    def ended(self) -> Event | None:
        return next((e for e in self.events if e.state in FINAL), None)

    def times(self) -> dict[str, _dt.datetime | None]:
        """The moments the clocks need (:func:`distributor.lifecycle.clocks.clock`)."""

        def at(event: Event | None) -> _dt.datetime | None:
            return event.moment if event else None

        return {
            "certified": at(self.first("certified")),
            "unverified": at(self.first("unverified")),
            "verified": at(self.first("verify")),
            "first_accept": at(self.first("accept")),
            "closed": at(self.ended),
        }


@dataclass
class Plan:
    """What a step will do, decided before anything is written."""

    state: str
    data: dict[str, Any] = field(default_factory=dict)
    #: Move the files to this stage.
    stage: str | None = None
    #: Withdraw the release (a rejection, a removal) ...
    withdraw: bool = False
    #: ... and remove its files from the repository (a rejection; a removal keeps them).
    remove_files: bool = True
    #: Kinds of held mail to drop, not send, when the embargo is lifted (no longer true).
    drop_held: tuple[str, ...] = ()
    #: Lift the embargo.
    unembargo: bool = False
    #: Release notes to write beside the files (at the close).
    notes: str | None = None


@dataclass
class Moved:
    """What a step did (or, for a dry run, would do)."""

    release: Release
    history: History
    event: Event
    #: The mails the step queued (for a dry run: would queue).
    mails: list[Any] = field(default_factory=list)
    #: Ids of the queued mails, to send now.
    mail_ids: list[int] = field(default_factory=list)
    dry_run: bool = False

    @property
    def withdrawn(self) -> bool:
        return self.release.withdrawn and self.event.kind in ("reject", "close", "remove")


#: Builds the mails of a step from the release, its history with the new event, and the event.
MailMaker = Callable[[Release, History, Event], Sequence[Any]]


def load_history(store: Store | sqlite3.Connection, release: Release) -> History:
    """The release's events; a release with none (created before the lifecycle was recorded,
    or by a program) starts as *certified* then *unverified* at its creation time."""
    sql = ("SELECT id, component, version, kind, state, site, who, at, recorded, why, data "
           "FROM event WHERE component=? AND version=? ORDER BY id")  # fmt: skip
    args = (release.component, release.version)
    rows = store.query(sql, args) if isinstance(store, Store) else store.execute(sql, args)
    events = [event_of_row(row) for row in rows]
    if not events:
        events = start_events(release, "", release.created or clocks.iso(clocks.now()), [])
    return History(release.component, release.version, events, release.withdrawn)


def event_of_row(row: Sequence[Any]) -> Event:
    c, v, kind, state, site, who, at, recorded, why = (str(x) for x in row[1:10])
    return Event(int(row[0]), c, v, kind, state, site, who, at, recorded, why,
                 json.loads(str(row[10])))  # fmt: skip


def start_events(release: Release, who: str, at: str, bugs: Sequence[Bug]) -> list[Event]:
    c, v = release.component, release.version
    return [
        Event(0, c, v, "certified", CERTIFIED, "", who, at, at, "certified by the provider",
              {"bugs": [b.to_dict() for b in bugs]}),
        Event(0, c, v, "unverified", UNVERIFIED, "", who, at, at,
              "in the unverified repository, checksum verified", {"sha256": release.sha256}),
    ]  # fmt: skip
