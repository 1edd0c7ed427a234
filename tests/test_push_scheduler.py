"""The push scheduler's decisions (distributor.push.scheduler.next_step), on tables of
situations: the canary verdict, the max-fail bound, a stop, and how many sites start."""

from __future__ import annotations

import pytest

from distributor.push.scheduler import Seen, Step, canary_verdict, next_step, too_many_failures

OK = Seen("A", "OK", False)
BAD = Seen("B", "CRITICAL", True)
WARN = Seen("C", "WARNING", False)
NONE: frozenset[str] = frozenset()


def _step(**given):
    situation = dict(why="", interrupted=False, outcomes=[], total=4, max_fail=None,
                     canaries=NONE, queue=[], active=0, parallel=2)  # fmt: skip
    situation.update(given)
    return next_step(**situation)


CASES = [
    # (what the push has seen, the step it takes)
    ("the start: as many as --parallel", dict(queue=["A", "B", "C", "D"]),
     Step("", NONE, 2, False)),
    ("a free slot", dict(queue=["C", "D"], active=1), Step("", NONE, 1, False)),
    ("all slots busy", dict(queue=["C", "D"], active=2), Step("", NONE, 0, False)),
    ("nothing left, sites running", dict(active=1), Step("", NONE, 0, False)),
    ("nothing left, nothing running: over", dict(outcomes=[OK]), Step("", NONE, 0, True)),
    ("Ctrl-C: no new site", dict(interrupted=True, queue=["C"], active=1),
     Step("interrupted", NONE, 0, False)),
    ("Ctrl-C, the running ones back: over", dict(interrupted=True, queue=["C"]),
     Step("interrupted", NONE, 0, True)),
    ("a reason once given stays", dict(why="interrupted", queue=["C"]),
     Step("interrupted", NONE, 0, True)),
    ("1 of 4 failed is not more than 25%", dict(outcomes=[BAD], max_fail=25, queue=["C"]),
     Step("", NONE, 1, False)),
    ("2 of 4 failed is more than 25%", dict(outcomes=[BAD, BAD], max_fail=25, queue=["C"]),
     Step("more than 25% of the sites failed", NONE, 0, True)),
    ("0% bound: the first failure stops it", dict(outcomes=[BAD], max_fail=0, queue=["C"]),
     Step("more than 0% of the sites failed", NONE, 0, True)),
    ("canaries first, the rest waits",
     dict(canaries=frozenset({"A"}), queue=["A", "B", "C"]),
     Step("", frozenset({"A"}), 1, False)),
    ("the canary still running", dict(canaries=frozenset({"A"}), queue=["B", "C"], active=1),
     Step("", frozenset({"A"}), 0, False)),
    ("the canary came back OK: the rest goes",
     dict(canaries=frozenset({"A"}), outcomes=[OK], queue=["B", "C"]),
     Step("", NONE, 2, False)),
    ("the canary came back WARNING: the push stops",
     dict(canaries=frozenset({"C"}), outcomes=[WARN], queue=["A", "B"]),
     Step("the canary site C came back WARNING", NONE, 0, True)),
    ("a failed canary, then Ctrl-C: Ctrl-C is the reason",
     dict(canaries=frozenset({"B"}), outcomes=[BAD], queue=["A"], interrupted=True),
     Step("interrupted", NONE, 0, True)),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_the_next_step_of_a_push(given: dict, expected: Step) -> None:
    assert _step(**given) == expected


@pytest.mark.parametrize(
    ("outcomes", "total", "max_fail", "expected"),
    [([], 4, None, False), ([BAD] * 4, 4, None, False), ([BAD], 4, 25, False),
     ([BAD, BAD], 4, 25, True), ([BAD], 3, 33.3, True), ([OK, WARN], 2, 0, False)],
)  # fmt: skip
def test_the_max_fail_bound(outcomes, total, max_fail, expected) -> None:
    assert too_many_failures(outcomes, total, max_fail) is expected


def test_the_canary_verdict_names_the_first_canary_not_ok() -> None:
    assert canary_verdict([OK, BAD, WARN], frozenset({"A", "B", "C"})) == (
        "the canary site B came back CRITICAL"
    )
    assert canary_verdict([OK, BAD], frozenset({"A"})) == ""
