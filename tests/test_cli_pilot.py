"""Server updates through the CLI: the minor/major classification with its reasons, and the
pilot at gold (bc-server) or platinum (nbc-server) sites with start, end, reminders, feedback and
wrap-up."""

from __future__ import annotations

import json

import pytest

from tests import smtp_helpers
from tests.grid import Grid
from tests.smtp_helpers import SMTPServer, notify_section

smtp_server = smtp_helpers.smtp_server

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-02T09:00:00Z")
    monkeypatch.setenv("PPS_USER", "coordinator")


def _server_release(grid: Grid, uclass: str = "bc-server") -> None:
    src = grid.source("wms-1.0", tests=PASSING)
    grid.ok("release", "create", "wms", "1.0", "--from", str(src), "--class", uclass,
        "--type", "minor")  # fmt: skip


def test_classify_says_minor_or_major_with_each_reason(grid: Grid) -> None:
    _server_release(grid)

    minor = grid.ok("pilot", "classify", "wms", "1.0", "--major-bugs", "1", "--normal-bugs",
                "4", "--person-days", "2")  # fmt: skip
    major = grid.ok("pilot", "classify", "wms", "1.0", "--new-config-parameters",
                "--major-bugs", "2", "--person-days", "3", "--operational-change")  # fmt: skip

    assert minor == (
        "wms 1.0: a minor server update (pilot: 1 week)\n"
        "  minor: no new configuration parameters\n"
        "  minor: 1 major bug fix(es) (< 2)\n"
        "  minor: 4 normal bug fix(es) (< 5)\n"
        "  minor: 2 person-days of change (<= 2)\n"
        "  minor: no significant operational change\n"
    )
    assert major == (
        "wms 1.0: a major server update (pilot: 2 weeks)\n"
        "  major: new configuration parameters\n"
        "  major: 2 major bug fixes (2 or more)\n"
        "  minor: 0 normal bug fix(es) (< 5)\n"
        "  major: 3 person-days of change (more than 2)\n"
        "  major: a significant operational change\n"
    )
    events = json.loads(grid.ok("release", "show", "wms", "1.0", "--json"))["events"]
    assert [e["data"]["size"] for e in events if e["kind"] == "classify"] == ["minor", "major"]


def test_a_pilot_runs_at_a_gold_site_from_start_to_wrap_up(
    grid: Grid, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    _server_release(grid)
    grid.ok("pilot", "classify", "wms", "1.0", "--normal-bugs", "2")

    started = grid.ok("pilot", "start", "wms", "1.0", "--site", "DELTA")
    monkeypatch.setenv("PPS_NOW", "2026-03-05T09:00:00Z")
    due = json.loads(grid.ok("pilot", "list", "--json"))[0]
    reminded = grid.ok("pilot", "remind", "wms", "1.0")
    after = json.loads(grid.ok("pilot", "list", "--json"))[0]
    grid.ok("pilot", "feedback", "wms", "1.0", "--from", "atlas", "--text", "stable")
    monkeypatch.setenv("PPS_NOW", "2026-03-09T10:00:00Z")
    past = grid.ok("pilot", "list")
    ended = grid.ok("pilot", "end", "wms", "1.0")
    wrapped = grid.ok("pilot", "wrap-up", "wms", "1.0", "--outcome", "success",
                  "--notes", "to production")  # fmt: skip

    assert started == ("wms 1.0: pilot started at DELTA for 7 day(s), until 2026-03-09T09:00:00Z\n")
    assert (due["reminder_due"], due["status"]) == (True, "running")
    assert reminded == "wms 1.0: reminder recorded\nmail: sent 1 (reminder to " \
        "early-adopters@example.org)\n"  # fmt: skip
    (mail,) = smtp_server.received
    assert mail.message["Subject"] == "[pps] reminder: feedback on the pilot of wms 1.0"
    assert "runs at DELTA until 2026-03-09T09:00:00Z" in mail.body
    assert after["reminder_due"] is False
    assert past.splitlines()[1].split() == [
        "wms", "1.0", "DELTA", "2026-03-02T09:00:00Z", "2026-03-09T09:00:00Z", "1", "-",
        "past", "its", "end:", "end", "it", "and", "wrap", "it", "up",
    ]  # fmt: skip
    assert ended == "wms 1.0: pilot ended at 2026-03-09T10:00:00Z; wrap-up due\n"
    assert wrapped == "wms 1.0: pilot wrapped up: success\n"
    assert json.loads(grid.ok("pilot", "list", "--json"))[0]["status"] == ("wrapped up (success)")
    notes = grid.ok("release", "notes", "wms", "1.0")
    assert "Pilot:\n  DELTA from 2026-03-02T09:00:00Z to 2026-03-09T09:00:00Z\n" in notes
    assert "  2026-03-05T09:00:00Z atlas: stable\n  wrap-up: success: to production\n" in notes


def test_release_notes_say_when_a_pilot_got_no_feedback(grid: Grid) -> None:
    _server_release(grid)
    grid.ok("pilot", "start", "wms", "1.0", "--site", "DELTA", "--days", "3")

    notes = grid.ok("release", "notes", "wms", "1.0")

    assert "  No feedback from users was received during the pilot service.\n" in notes


def test_an_nbc_server_pilot_needs_a_platinum_site(grid: Grid) -> None:
    _server_release(grid, "nbc-server")

    result = grid.invoke("pilot", "start", "wms", "1.0", "--site", "DELTA", "--days", "7")

    assert result.exit_code == 2
    assert result.output == (
        "Error: site DELTA (partner gold) cannot run the pilot of a nbc-server update: "
        "platinum sites do\n"
    )


@pytest.mark.parametrize(
    ("steps", "command", "message"),
    [
        ([], ["start", "wms", "1.0", "--site", "DELTA"],
         "wms 1.0 is not classified: 'pps pilot classify' it first (1 week for minor, 2 weeks "
         "for major), or give --days"),
        ([], ["start", "wms", "1.0", "--site", "ALPHA", "--days", "7"],
         "site ALPHA (partner none) cannot run the pilot of a bc-server update: gold sites do"),
        ([], ["remind", "wms", "1.0"], "no pilot of wms 1.0 was started ('pps pilot start')"),
        ([["start", "wms", "1.0", "--site", "DELTA", "--days", "7"]],
         ["wrap-up", "wms", "1.0", "--outcome", "success"],
         "the pilot of wms 1.0 is still running: 'pps pilot end' it first"),
        ([["start", "wms", "1.0", "--site", "DELTA", "--days", "7"]],
         ["start", "wms", "1.0", "--site", "DELTA", "--days", "7"],
         "the pilot of wms 1.0 was started already"),
        ([["start", "wms", "1.0", "--site", "DELTA", "--days", "7"], ["end", "wms", "1.0"]],
         ["remind", "wms", "1.0"], "the pilot of wms 1.0 ended: no more reminders"),
    ],
    ids=["not-classified", "not-gold", "no-pilot", "wrap-up-running", "started-twice",
         "remind-ended"],
)  # fmt: skip
def test_an_illegal_pilot_step_is_one_line_exit_2(
    grid: Grid, steps: list[list[str]], command: list[str], message: str
) -> None:
    _server_release(grid)
    for step in steps:
        grid.ok("pilot", *step)

    result = grid.invoke("pilot", *command)

    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


def test_a_client_update_is_not_classified(grid: Grid) -> None:
    _server_release(grid, "bc-client")

    result = grid.invoke("pilot", "classify", "wms", "1.0")

    assert result.exit_code == 2
    assert result.output == (
        "Error: wms 1.0 is a bc-client update: classifications and pilots are for server "
        "updates (bc-server, nbc-server)\n"
    )
