"""The push's decisions, as a pure function of what it has seen (no threads, no sites, no
clock): whether to stop launching sites and why (Ctrl-C, too many failures, a failed canary),
what the canary group's verdict is, and how many of the waiting sites start now.

:mod:`distributor.push.controller` runs the sites in threads and asks :func:`next_step` after
every change; the tests give it tables of situations (``tests/test_push_scheduler.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    """One site's outcome, as the scheduler weighs it."""

    site: str
    state: str
    failed: bool


@dataclass(frozen=True)
class Step:
    """What the push does next."""

    #: Why the push stops launching sites ("" while it does not).
    why: str
    #: The canary sites still waiting for their group's verdict (empty once it is given).
    canaries: frozenset[str]
    #: How many sites from the head of the queue start now.
    launch: int
    #: Nothing runs and nothing more will start: the push is over.
    finished: bool


def too_many_failures(outcomes: Sequence[Seen], total: int, max_fail: float | None) -> bool:
    """Whether more than *max_fail* percent of the *total* sites failed (never, without it)."""
    if max_fail is None:
        return False
    return sum(1 for o in outcomes if o.failed) * 100 > max_fail * total


def canary_verdict(outcomes: Sequence[Seen], canaries: frozenset[str]) -> str:
    """Why the canary group stops the push ("" when every canary came back OK)."""
    bad = [o for o in outcomes if o.site in canaries and o.state != "OK"]
    return f"the canary site {bad[0].site} came back {bad[0].state}" if bad else ""


def next_step(
    *,
    why: str,
    interrupted: bool,
    outcomes: Sequence[Seen],
    total: int,
    max_fail: float | None,
    canaries: frozenset[str],
    queue: Sequence[str],
    active: int,
    parallel: int,
) -> Step:
    """The next step of a push of *total* sites: *why* it stopped so far, whether it was
    *interrupted*, the *outcomes* so far, the *canaries* still to give their verdict, the sites
    waiting in *queue* (in order), how many are *active*, at most *parallel* at once."""
    if not why and interrupted:
        why = "interrupted"
    if not why and too_many_failures(outcomes, total, max_fail):
        why = f"more than {max_fail:g}% of the sites failed"
    if canaries and not active and not any(name in canaries for name in queue):
        # the canary group is done: its verdict decides for the rest
        why = why or canary_verdict(outcomes, canaries)
        canaries = frozenset()
    launch = 0
    while launch < len(queue) and not why and active + launch < parallel:
        if canaries and queue[launch] not in canaries:
            break  # the rest waits for the canary group's verdict
        launch += 1
    # nothing running and nothing started: over, unless the canary verdict is still to come
    # (the canaries are all done then, so the next step gives it)
    finished = not active and not launch and not (canaries and queue and not why)
    return Step(why, canaries, launch, finished)
