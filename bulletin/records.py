"""The release records the bulletin shows beside what the sites publish: a plain, typed input.

The bulletin imports only the core :mod:`pps`; whoever keeps the release lifecycle (the
distributor's state store) fills these dataclasses (``distributor.bulletin_records``) and hands
them to :func:`bulletin.collect.build_map`.  Everything here is data to show: the bulletin
escapes it on every page, and none of it holds a person's mail address (a bug carries its ID
and title only, a feedback its time and text only).

Times are ISO 8601 UTC strings (``2010-06-01T12:00:00Z``), ``""`` where unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The lifecycle states a release can be in (the distributor's ``pps release list`` words).
LIFECYCLE_STATES = (
    "certified",
    "unverified",
    "verified",
    "rejected",
    "rolling-out",
    "closed-success",
    "closed-warning",
    "closed-reject",
    "withdrawn",
)


@dataclass(frozen=True)
class BugRecord:
    """A bug the release fixes: its ID and title (never who reported it)."""

    id: str
    title: str


@dataclass(frozen=True)
class AdopterRecord:
    """An early adopter of the release (committed for the component, or it accepted)."""

    site: str
    #: Whether the site is a committed early adopter of the component.
    committed: bool = False
    #: When it accepted the staged rollout ("" when it has not).
    accepted: str = ""
    #: Its report: ``success``, ``warning``, ``reject`` ("" before it reported).
    outcome: str = ""
    notes: str = ""
    effort: str = ""
    reported: str = ""


@dataclass(frozen=True)
class FeedbackRecord:
    """What a user said about the preview, and when."""

    at: str
    text: str


@dataclass(frozen=True)
class OutcomeRecord:
    """A site's latest push outcome for the release, as the state store keeps it."""

    site: str
    #: Nagios state (OK, WARNING, CRITICAL, UNKNOWN) or the push's own (RUNNING, ...).
    state: str
    summary: str
    at: str
    #: The probe said the version is live there.
    live: bool = False
    #: The push told the site to retire the release.
    retire: bool = False

    @property
    def failed(self) -> bool:
        """The site's probe did not say OK or WARNING (or the push could not run it)."""
        return self.state not in ("OK", "WARNING")


@dataclass(frozen=True)
class MoveRecord:
    """One step of the release's lifecycle (a new state, or a close), for the feed."""

    #: A stable identifier of the step (the audit log's event id, or its kind when synthetic).
    key: str
    kind: str
    #: The lifecycle state after the step.
    state: str
    at: str
    why: str = ""
    site: str = ""


@dataclass(frozen=True)
class LivePoint:
    """How many sites had the release live from this moment on (a step of the chart)."""

    at: str
    live: int


@dataclass(frozen=True)
class ReleaseRecord:
    """What the release records say about one release."""

    component: str
    version: str
    #: One of :data:`LIFECYCLE_STATES`.
    state: str
    #: When ``pps release verify`` decided (""  before).
    verified: str = ""
    #: When the first site, and when every targeted site, was first live ("" not yet).
    first_live: str = ""
    all_live: str = ""
    #: When the release's preview ended (closed, rejected, withdrawn; "" while it runs).
    ended: str = ""
    #: The close's outcome (success, warning, reject) and summary ("" while open).
    outcome: str = ""
    summary: str = ""
    #: Why a close was forced without every report ("" when it was not).
    forced: str = ""
    bugs: tuple[BugRecord, ...] = ()
    adopters: tuple[AdopterRecord, ...] = ()
    feedback: tuple[FeedbackRecord, ...] = ()
    outcomes: tuple[OutcomeRecord, ...] = ()
    moves: tuple[MoveRecord, ...] = ()
    #: Sites live over time, oldest first.
    live_over_time: tuple[LivePoint, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.component, self.version)


@dataclass(frozen=True)
class Records:
    """Every release's records, and where they were read."""

    releases: Mapping[tuple[str, str], ReleaseRecord] = field(default_factory=dict)
    #: Where the records came from, as the page names it (e.g. the state store's path).
    source: str = ""

    def get(self, component: str, version: str) -> ReleaseRecord | None:
        return self.releases.get((component, version))
