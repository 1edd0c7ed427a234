"""The staged-rollout clocks through the CLI: each step's working time against the EGI budget of
its release type, weekends and holidays skipped, the grace period, and ``--overdue``."""

from __future__ import annotations

import json

import pytest

from tests.grid import Grid

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"


def _at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setenv("PPS_NOW", when)


def _create(grid: Grid, monkeypatch: pytest.MonkeyPatch, when: str, rtype: str = "revision",
            version: str = "1.0") -> None:  # fmt: skip
    _at(monkeypatch, when)
    src = grid.source(f"tool-{version}", tests=PASSING)
    grid.ok("release", "create", "tool", version, "--from", str(src), "--class", "bc-client",
        "--type", rtype)  # fmt: skip


def _steps(grid: Grid, version: str = "1.0") -> dict[str, tuple[float, float, str]]:
    shown = json.loads(grid.ok("release", "show", "tool", version, "--json"))
    return {s["step"]: (s["used_hours"], s["budget_hours"], s["status"]) for s in shown["steps"]}


def _calendar(grid: Grid, text: str) -> None:
    grid.config.write_text(grid.config.read_text() + "\n[calendar]\n" + text)


def test_show_prints_each_step_against_its_budget_in_working_time(
    grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z")  # Monday
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0  # live there
    _at(monkeypatch, "2026-03-02T15:00:00Z")
    grid.ok("release", "verify", "tool", "1.0")
    _at(monkeypatch, "2026-03-03T10:00:00Z")
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")
    _at(monkeypatch, "2026-03-04T15:00:00Z")

    shown = grid.ok("release", "show", "tool", "1.0")

    assert shown.splitlines()[:7] == [
        "tool 1.0: rolling-out (stage staged-rollout, bc-client, revision)",
        "",
        "STEP                            STARTED               ENDED                 USED  "
        "BUDGET         STATUS",
        "1 certified -> unverified       2026-03-02T09:00:00Z  2026-03-02T09:00:00Z  0h    "
        "4h             ok",
        "2 unverified -> verified        2026-03-02T09:00:00Z  2026-03-02T15:00:00Z  6h    "
        "2d             ok",
        "3a first early adopter accepts  2026-03-02T15:00:00Z  2026-03-03T10:00:00Z  19h   "
        "1d             ok",
        "3 staged rollout -> closed      2026-03-02T15:00:00Z  -                     2d    "
        "2d + 5d grace  running",
    ]


def test_weekends_do_not_count(grid: Grid, monkeypatch: pytest.MonkeyPatch) -> None:
    _create(grid, monkeypatch, "2026-03-06T12:00:00Z")  # Friday noon
    _at(monkeypatch, "2026-03-09T12:00:00Z")  # Monday noon

    assert _steps(grid)["verification"] == (24.0, 48.0, "running")


def test_configured_holidays_do_not_count(grid: Grid, monkeypatch: pytest.MonkeyPatch) -> None:
    _calendar(grid, 'holidays = ["2026-03-03"]\n')
    _create(grid, monkeypatch, "2026-03-02T12:00:00Z")  # Monday noon
    _at(monkeypatch, "2026-03-04T12:00:00Z")

    assert _steps(grid)["verification"] == (24.0, 48.0, "running")


def test_the_public_holidays_of_the_configured_country_do_not_count(
    grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    _calendar(grid, 'country = "DE"\n')  # Good Friday and Easter Monday 2026: 3 and 6 April
    _create(grid, monkeypatch, "2026-04-02T09:00:00Z")  # Thursday
    _at(monkeypatch, "2026-04-07T09:00:00Z")  # Tuesday

    assert _steps(grid)["verification"] == (24.0, 48.0, "running")


def test_a_late_verification_is_overdue(grid: Grid, monkeypatch: pytest.MonkeyPatch) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z")
    _at(monkeypatch, "2026-03-05T09:00:00Z")

    overdue = grid.ok("release", "list", "--overdue")

    assert overdue.splitlines() == [
        "COMPONENT  VERSION  STATE       OVERDUE                   SINCE                 USED  "
        "BUDGET",
        "tool       1.0      unverified  2 unverified -> verified  2026-03-02T09:00:00Z  3d    2d",
    ]


def test_no_early_adopter_within_one_working_day_is_flagged(
    grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z")
    grid.ok("release", "verify", "tool", "1.0")
    _at(monkeypatch, "2026-03-03T08:00:00Z")
    in_time = grid.ok("release", "list", "--overdue")
    _at(monkeypatch, "2026-03-03T10:00:00Z")

    late = json.loads(grid.ok("release", "list", "--overdue", "--json"))
    table = grid.ok("release", "list", "--overdue")

    assert in_time == "no step is overdue\n"
    assert late[0]["overdue"] == ["first-adopter"]
    assert table.splitlines()[1].split()[:3] == ["tool", "1.0", "verified"]
    assert "no early adopter accepted within 1 working day" in table


def test_the_staged_rollout_has_a_grace_period_before_it_is_overdue(
    grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z")
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0  # live there
    grid.ok("release", "verify", "tool", "1.0")
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")

    _at(monkeypatch, "2026-03-05T09:00:00Z")  # 3 working days: past 2d, within the grace
    in_grace = _steps(grid)["rollout"]
    listed = grid.ok("release", "list", "--overdue")
    _at(monkeypatch, "2026-03-12T09:00:00Z")  # 8 working days: past 2d + 5d
    late = _steps(grid)["rollout"]

    assert in_grace == (72.0, 48.0, "in grace")
    assert listed == "no step is overdue\n"
    assert late == (192.0, 48.0, "OVERDUE")


@pytest.mark.parametrize(
    ("rtype", "budgets"),
    [
        ("emergency", {"provider": 3.0, "verification": 2.5, "first-adopter": 2.5,
                       "rollout": 2.5, "total": 24.0}),
        ("revision", {"provider": 4.0, "verification": 48.0, "first-adopter": 24.0,
                      "rollout": 48.0, "total": 216.0}),
        ("minor", {"provider": 4.0, "verification": 72.0, "first-adopter": 24.0,
                   "rollout": 72.0, "total": 264.0}),
        ("major", {"provider": 4.0, "verification": 240.0, "first-adopter": 24.0,
                   "rollout": 168.0, "total": 528.0}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)  # fmt: skip
def test_each_release_type_has_the_budgets_of_the_egi_table(
    grid: Grid, monkeypatch: pytest.MonkeyPatch, rtype: str, budgets: dict[str, float]
) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z", rtype=rtype)

    shown = json.loads(grid.ok("release", "show", "tool", "1.0", "--json"))

    assert {s["step"]: s["budget_hours"] for s in shown["steps"]} == budgets
    grace = {s["step"]: s["grace_hours"] for s in shown["steps"]}["rollout"]
    assert grace == (0.0 if rtype == "emergency" else 120.0)


@pytest.mark.parametrize(
    ("calendar", "env", "message"),
    [
        ('country = "XX"\n', None, "Error: [calendar]: no holiday calendar for 'XX'\n"),
        ('holidays = ["2026-02-30"]\n', None,
         "Error: {config}: [calendar]: holiday '2026-02-30' is not a date (YYYY-MM-DD)\n"),
        ('weekend = ["fri"]\n', None, "Error: {config}: unknown key 'weekend' in [calendar]\n"),
        ("", "next tuesday",
         "Error: PPS_NOW 'next tuesday' is not an ISO 8601 time (2026-03-02T09:00:00Z)\n"),
    ],
    ids=["unknown-country", "bad-holiday", "unknown-key", "bad-now"],
)  # fmt: skip
def test_a_bad_calendar_or_clock_is_one_line_exit_2(
    grid: Grid, monkeypatch: pytest.MonkeyPatch, calendar: str, env: str | None, message: str
) -> None:
    _create(grid, monkeypatch, "2026-03-02T09:00:00Z")
    if calendar:
        _calendar(grid, calendar)
    if env:
        monkeypatch.setenv("PPS_NOW", env)

    result = grid.invoke("release", "show", "tool", "1.0")

    assert result.exit_code == 2
    assert result.output == message.format(config=grid.config)
