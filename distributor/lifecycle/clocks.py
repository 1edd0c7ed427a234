"""The staged-rollout clocks: each step's time against its budget, per release type.

The budgets are those of the EGI staged-rollout procedure (table 3), counted in working time
(:mod:`distributor.workdays`):

============  ===================  ====================  ==========================  =====
type          1: provider -> repo  2: verification       3: staged rollout           total
============  ===================  ====================  ==========================  =====
emergency     3 h                  2.5 h                 2.5 h                       1 d
revision      4 h                  2 d                   2 d + 5 d grace             9 d
minor         4 h                  3 d                   3 d + 5 d grace             11 d
major         4 h                  10 d                  7 d + 5 d grace             22 d
============  ===================  ====================  ==========================  =====

Step 1 runs from *certified* to *unverified* (the packages in the repository, checksum
checked), step 2 to *verified* (or *rejected*), step 3 from *verified* to the close.  Within
step 3 the first early adopter must accept within one working day (the emergency budget if it is
shorter).  "Now" is the wall clock, or ``PPS_NOW`` (an ISO 8601 UTC time, for tests and demos).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass

from distributor.lifecycle.workdays import DAY, HOUR, WorkCalendar
from pps.classes import ReleaseType
from pps.errors import BadInput

#: (step, what it is) in order.
STEPS = (
    ("provider", "1 certified -> unverified"),
    ("verification", "2 unverified -> verified"),
    ("first-adopter", "3a first early adopter accepts"),
    ("rollout", "3 staged rollout -> closed"),
)
GRACE = 5 * DAY
_BUDGETS: dict[ReleaseType, dict[str, float]] = {
    ReleaseType.EMERGENCY: {"provider": 3 * HOUR, "verification": 2.5 * HOUR,
                            "rollout": 2.5 * HOUR},
    ReleaseType.REVISION: {"provider": 4 * HOUR, "verification": 2 * DAY, "rollout": 2 * DAY},
    ReleaseType.MINOR: {"provider": 4 * HOUR, "verification": 3 * DAY, "rollout": 3 * DAY},
    ReleaseType.MAJOR: {"provider": 4 * HOUR, "verification": 10 * DAY, "rollout": 7 * DAY},
}  # fmt: skip

#: Step states.
PENDING = "pending"
#: Never reached: the release ended before (rejected at verification, closed unaccepted).
SKIPPED = "skipped"
RUNNING = "running"
OK = "ok"
IN_GRACE = "in grace"
LATE = "late"
OVERDUE = "OVERDUE"


def budget(release_type: ReleaseType, step: str) -> float:
    """Working seconds *step* may take (for the rollout: without the grace period)."""
    if step == "first-adopter":
        return min(DAY, _BUDGETS[release_type]["rollout"])
    if step == "total":
        return release_type.total_days * DAY
    return _BUDGETS[release_type][step]


def grace(release_type: ReleaseType, step: str) -> float:
    """The grace period after *step*'s budget (5 working days for a staged rollout)."""
    if step == "rollout" and release_type is not ReleaseType.EMERGENCY:
        return GRACE
    return 0.0


def now() -> _dt.datetime:
    """The current time: ``PPS_NOW`` when set (tests and demos), else the clock."""
    fixed = os.environ.get("PPS_NOW")
    if fixed:
        try:
            return parse_time(fixed, "PPS_NOW")
        except BadInput:
            raise BadInput(
                f"PPS_NOW {fixed!r} is not an ISO 8601 time (2026-03-02T09:00:00Z)"
            ) from None
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def parse_time(value: str, what: str = "time") -> _dt.datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise); a date means its midnight."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            moment = _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
        else:
            moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what} {value!r} is not an ISO 8601 date or time "
                       "(2026-03-02 or 2026-03-02T09:00:00Z)") from None  # fmt: skip
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def parse_past(value: str, what: str, reference: _dt.datetime | None = None) -> _dt.datetime:
    """:func:`parse_time` of *value*, refused (BadInput naming *what*) when it is later than
    *reference* (default: :func:`now`): the one "not in the future" check of every ``--at``,
    ``--certified`` and ``--since``."""
    moment = parse_time(value, what)
    reference = now() if reference is None else reference
    if moment > reference:
        raise BadInput(f"{what} {value} is in the future (now {iso(reference)})")
    return moment


def iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: float) -> str:
    """A working-time span for people: ``3h``, ``2.5h``, ``1.3d``."""
    if seconds < DAY:
        hours = seconds / HOUR
        return f"{hours:.1f}h".replace(".0h", "h")
    days = seconds / DAY
    return f"{days:.1f}d".replace(".0d", "d")


@dataclass(frozen=True)
class Step:
    """One step of one release's clock."""

    name: str
    title: str
    started: _dt.datetime | None
    ended: _dt.datetime | None
    #: Working seconds used so far (to its end, or to now).
    used: float
    budget: float
    grace: float
    status: str

    @property
    def budget_text(self) -> str:
        text = span(self.budget)
        return f"{text} + {span(self.grace)} grace" if self.grace else text

    def to_dict(self) -> dict[str, object]:
        return {
            "step": self.name,
            "title": self.title,
            "started": iso(self.started) if self.started else None,
            "ended": iso(self.ended) if self.ended else None,
            "used_hours": round(self.used / HOUR, 2),
            "budget_hours": round(self.budget / HOUR, 2),
            "grace_hours": round(self.grace / HOUR, 2),
            "status": self.status,
        }


def clock_status(used: float, allowed: float, extra: float, open_: bool) -> str:
    """A step's clock: within its budget (RUNNING while open, else OK), in its grace period
    (IN_GRACE), or beyond (OVERDUE while open, else LATE); all in working seconds."""
    if used <= allowed:
        return RUNNING if open_ else OK
    if used <= allowed + extra:
        return IN_GRACE
    return OVERDUE if open_ else LATE


def clock(
    release_type: ReleaseType,
    times: dict[str, _dt.datetime | None],
    *,
    at: _dt.datetime,
    calendar: WorkCalendar,
) -> list[Step]:
    """Every step of a release from the moments it reached (*times*: ``certified``,
    ``unverified``, ``verified``, ``first_accept``, ``closed``; None where not reached),
    measured at *at*, then the total."""
    bounds = {
        "provider": ("certified", "unverified"),
        "verification": ("unverified", "verified"),
        "first-adopter": ("verified", "first_accept"),
        "rollout": ("verified", "closed"),
    }
    steps = []
    for name, title in STEPS:
        start, end = times.get(bounds[name][0]), times.get(bounds[name][1])
        if name in ("verification", "first-adopter") and end is None and start is not None:
            # rejected at verification, or closed without anyone accepting: the step is over
            end = times.get("closed")
        allowed, extra = budget(release_type, name), grace(release_type, name)
        if start is None:
            status = SKIPPED if times.get("closed") is not None else PENDING
            steps.append(Step(name, title, None, None, 0.0, allowed, extra, status))
            continue
        used = calendar.working_seconds(start, end or at)
        steps.append(Step(name, title, start, end, used, allowed, extra,
                          clock_status(used, allowed, extra, end is None)))  # fmt: skip
    start, end = times.get("certified"), times.get("closed")
    total = budget(release_type, "total")
    if start is None:
        steps.append(Step("total", "certified -> closed", None, None, 0.0, total, 0.0, PENDING))
    else:
        used = calendar.working_seconds(start, end or at)
        steps.append(Step("total", "certified -> closed", start, end, used, total, 0.0,
                          clock_status(used, total, 0.0, end is None)))  # fmt: skip
    return steps
