"""``pps metrics`` through the CLI: early adopters committed and active, releases, rejections
and warnings per component, step times against budgets, time to the sites, effort and credits."""

from __future__ import annotations

import json

import pytest

from tests.grid import Grid

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"


@pytest.fixture
def history(grid: Grid, monkeypatch: pytest.MonkeyPatch) -> Grid:
    """tool 1.0 pushed, verified, accepted by ALPHA, reported, closed with a warning; tool 2.0
    rejected at its verification a day later."""
    text = grid.config.read_text()
    for name in ("ALPHA", "BRAVO"):
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\nearly_adopter = ["tool"]\n')
    grid.config.write_text(text)

    def at(when: str) -> None:
        monkeypatch.setenv("PPS_NOW", when)

    at("2026-03-02T09:00:00Z")
    for version in ("1.0", "2.0"):
        src = grid.source(f"tool-{version}", tests=PASSING)
        if version == "2.0":
            at("2026-03-03T09:00:00Z")
        grid.ok("release", "create", "tool", version, "--from", str(src), "--class",
            "bc-client", "--type", "revision")  # fmt: skip
        if version == "1.0":
            at("2026-03-02T10:30:00Z")
            grid.ok("push", "tool", "1.0")
            at("2026-03-02T15:00:00Z")
            grid.ok("release", "verify", "tool", "1.0")
            grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")
            grid.ok("release", "report", "tool", "1.0", "--site", "ALPHA", "--outcome",
                "warning", "--effort", "0.5PD")  # fmt: skip
            grid.ok("release", "close", "tool", "1.0", "--outcome", "warning", "--summary",
                "notes need a line")  # fmt: skip
    at("2026-03-03T21:00:00Z")
    grid.ok("release", "verify", "tool", "2.0", "--reject", "--why", "no release notes")
    return grid


def test_metrics_count_sites_releases_rejections_steps_delivery_and_credits(
    history: Grid,
) -> None:
    data = json.loads(history.ok("metrics", "--json"))

    assert data["early_adopters"] == {"committed": ["ALPHA", "BRAVO"], "active": ["ALPHA"]}
    assert data["sites"]["ALPHA"] == {"committed_to": ["tool"], "accepted": 1, "reports": 1,
                                      "effort_hours": 4.0, "credits": 4.0}  # fmt: skip
    assert data["sites"]["BRAVO"]["credits"] == 0
    assert data["components"] == {"tool": {"releases": 2, "rejected": 1, "warnings": 1}}
    steps = {(s["release_type"], s["step"]): s for s in data["steps"]}
    assert steps[("revision", "verification")] == {
        "release_type": "revision", "step": "verification", "releases": 2, "mean_hours": 9.0,
        "max_hours": 12.0, "budget_hours": 48.0, "over_budget": 0,
    }  # fmt: skip
    assert steps[("revision", "rollout")]["releases"] == 1
    assert data["delivery"] == [
        {"component": "tool", "version": "1.0", "targets": 4, "ok": 4,
         "first_site_hours": 1.5, "all_sites_hours": 1.5},
        {"component": "tool", "version": "2.0", "targets": 4, "ok": 0,
         "first_site_hours": None, "all_sites_hours": None},
    ]  # fmt: skip


def test_metrics_since_a_date_count_only_the_releases_created_from_then(history: Grid) -> None:
    data = json.loads(history.ok("metrics", "--since", "2026-03-03", "--json"))
    text = history.ok("metrics", "--since", "2026-03-03")

    assert data["components"] == {"tool": {"releases": 1, "rejected": 1, "warnings": 0}}
    assert data["early_adopters"]["active"] == []
    assert text.splitlines()[0] == (
        "early-adopter sites: 2 committed, 0 active since 2026-03-03T00:00:00Z"
    )


def test_metrics_print_a_table_per_metric(history: Grid) -> None:
    lines = history.ok("metrics").splitlines()

    assert lines[0] == "early-adopter sites: 2 committed, 1 active"
    assert lines[2].split() == ["ALPHA", "tool", "1", "1", "4PH", "4"]
    assert ["tool", "2", "1", "1"] in [line.split() for line in lines]
    assert ["tool", "1.0", "4/4", "1.5h", "1.5h"] in [line.split() for line in lines]


@pytest.mark.parametrize(
    ("since", "message"),
    [("2027-01-01", "--since 2027-01-01 is in the future (now 2026-03-04T00:00:00Z)"),
     ("last week", "--since 'last week' is not an ISO 8601 date or time (2026-03-02 or "
                   "2026-03-02T09:00:00Z)")],
    ids=["future", "not-a-date"],
)  # fmt: skip
def test_a_bad_since_is_one_line_exit_2(
    grid: Grid, monkeypatch: pytest.MonkeyPatch, since: str, message: str
) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-04T00:00:00Z")

    result = grid.invoke("metrics", "--since", since)

    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"
