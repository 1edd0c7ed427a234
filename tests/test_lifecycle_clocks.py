"""The lifecycle's clock arithmetic as pure functions, on tables: a step's clock status, the
spans people read, and the one "not in the future" check of every --at, --certified, --since."""

from __future__ import annotations

import datetime as dt

import pytest

from distributor.lifecycle.clocks import (
    DAY,
    HOUR,
    IN_GRACE,
    LATE,
    OK,
    OVERDUE,
    RUNNING,
    clock_status,
    parse_past,
    span,
)
from pps.errors import BadInput

STATUS = [
    # used, budget, grace, still open -> status
    (0, 8 * HOUR, 0, True, RUNNING),
    (8 * HOUR, 8 * HOUR, 0, True, RUNNING),  # the budget itself is within it
    (8 * HOUR, 8 * HOUR, 0, False, OK),
    (8 * HOUR + 1, 8 * HOUR, 0, True, OVERDUE),
    (8 * HOUR + 1, 8 * HOUR, 0, False, LATE),
    (9 * DAY, 5 * DAY, 5 * DAY, True, IN_GRACE),
    (10 * DAY, 5 * DAY, 5 * DAY, False, IN_GRACE),
    (10 * DAY + 1, 5 * DAY, 5 * DAY, False, LATE),
]


@pytest.mark.parametrize(("used", "budget", "grace", "open_", "status"), STATUS)
def test_a_steps_clock_status(used, budget, grace, open_, status) -> None:
    assert clock_status(used, budget, grace, open_) == status


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0h"), (3 * HOUR, "3h"), (2.5 * HOUR, "2.5h"), (DAY, "1d"), (1.3 * DAY, "1.3d")],
)
def test_a_span_for_people(seconds: float, text: str) -> None:
    assert span(seconds) == text


NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-03-02T12:00:00Z", NOW), ("2026-03-02", NOW.replace(hour=0)),
     ("2026-03-02T13:00:00+01:00", NOW), ("2025-12-31T23:59:59Z",
                                          dt.datetime(2025, 12, 31, 23, 59, 59,
                                                      tzinfo=dt.timezone.utc))],
)  # fmt: skip
def test_a_time_not_later_than_now_is_taken_in_utc(value: str, expected: dt.datetime) -> None:
    assert parse_past(value, "--at", NOW) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("2026-03-02T12:00:01Z", "--at 2026-03-02T12:00:01Z is in the future (now "
                              "2026-03-02T12:00:00Z)"),
     ("2026-03-03", "--at 2026-03-03 is in the future (now 2026-03-02T12:00:00Z)"),
     ("tomorrow", "--at 'tomorrow' is not an ISO 8601 date or time")],
)  # fmt: skip
def test_a_time_in_the_future_or_not_a_time_is_refused_in_one_line(value, message) -> None:
    with pytest.raises(BadInput) as e:
        parse_past(value, "--at", NOW)
    assert str(e.value).startswith(message)
