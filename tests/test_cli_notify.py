"""The lifecycle's mail through the CLI, against a real SMTP server (aiosmtpd): the preview
broadcast and the personal invitations, the announcement with the release notes, STARTTLS and
AUTH, a server that is down or refuses (the step lands, the mail is queued, 'pps notify retry'
sends it), dry runs, and the feedback the notes carry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import smtp_helpers
from tests.grid import Grid
from tests.smtp_helpers import (
    PASSWORD,
    USER,
    Handler,
    SMTPServer,
    free_port,
    notify_section,
    start,
)

smtp_server = smtp_helpers.smtp_server

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"
BUG = "58342=job submit hangs on proxy renewal <alice@example.org>"


@pytest.fixture
def smtp_tls_server(tmp_path: Path) -> Iterator[SMTPServer]:
    """A server that requires STARTTLS (a self-signed certificate) and AUTH."""
    server = start(free_port(), Handler(), tls_dir=tmp_path / "smtp-tls")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clock_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-02T09:00:00Z")
    monkeypatch.setenv("PPS_USER", "rm-alice")


def _configure(grid: Grid, port: int, **extra: str) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(port, **extra))


def _create(grid: Grid, *extra: str) -> None:
    src = grid.source("tool-1.0", tests=PASSING)
    result = grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                         "bc-client", "--type", "revision", "--feedback-url",
                         "https://pps.example.org/feedback/tool", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output


def _to_close(grid: Grid) -> None:
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0  # live there
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")
    grid.ok("release", "report", "tool", "1.0", "--site", "ALPHA", "--outcome", "success",
        "--effort", "4PH", "--notes", "300 jobs")  # fmt: skip


def test_a_preview_start_broadcasts_and_invites_each_bug_reporter_to_verify(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    _configure(grid, smtp_server.port)
    _create(grid, "--bug", BUG)
    assert grid.invoke("push", "tool", "1.0").exit_code == 0  # live at every site

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "tool 1.0: unverified -> verified (files in staged-rollout/)",
        "mail: sent 2 (broadcast to early-adopters@example.org, personal to alice@example.org)",
    ]
    broadcast, personal = smtp_server.received
    assert (broadcast.sender, broadcast.recipients) == (
        "pps@example.org", ["early-adopters@example.org"],
    )  # fmt: skip
    assert broadcast.message["From"] == "pps@example.org"
    assert broadcast.message["To"] == "early-adopters@example.org"
    assert broadcast.message["Subject"] == "[pps] tool 1.0 is in preview (staged rollout)"
    assert broadcast.message["X-PPS-Release"] == "tool 1.0"
    body = broadcast.body
    assert ("Live at 2026-03-02T09:00:00Z (installed beside production, its local tests "
            "passed): ALPHA, BRAVO, CHARLIE, DELTA\n") in body  # fmt: skip
    assert ('  Requirements = Member("VO-dteam-PPS-tool-1.0", '
            "other.GlueHostApplicationSoftwareRunTimeEnvironment);\n") in body  # fmt: skip
    assert ('  Requirements = Member("VO-vo.neugrid.eu-PPS-tool-1.0", '
            "other.GlueHostApplicationSoftwareRunTimeEnvironment);\n") in body  # fmt: skip
    assert "Feedback: https://pps.example.org/feedback/tool\n" in body
    assert personal.recipients == ["alice@example.org"]
    assert personal.message["Subject"] == "[pps] please verify the fix of bug 58342 in tool 1.0"
    assert ('you reported bug 58342, "job submit hangs on proxy renewal". Its fix is in '
            "tool 1.0, now in preview: please verify") in personal.body  # fmt: skip
    assert not broadcast.tls


def test_mail_goes_over_starttls_with_auth_when_configured(
    grid: Grid, smtp_tls_server: SMTPServer
) -> None:
    secret = grid.root / "smtp.pw"
    secret.write_text(PASSWORD + "\n")
    _configure(grid, smtp_tls_server.port, starttls="true",
               ca_file=f'"{smtp_tls_server.ca_file}"', username=f'"{USER}"',
               password_file='"smtp.pw"')  # fmt: skip
    _create(grid, "--bug", BUG)

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    assert [(r.tls, r.login) for r in smtp_tls_server.received] == [(True, USER), (True, USER)]


def test_a_server_that_wants_tls_refuses_plain_mail_and_the_mail_waits(
    grid: Grid, smtp_tls_server: SMTPServer
) -> None:
    _configure(grid, smtp_tls_server.port)  # no starttls
    _create(grid)

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    assert "warning: mail: 1 queued, not sent: SMTP server 127.0.0.1:" in result.stderr
    assert "530" in result.stderr
    assert smtp_tls_server.received == []


def test_a_server_that_is_down_keeps_the_step_and_queues_the_mail_for_retry(
    grid: Grid,
) -> None:
    port = free_port()
    _configure(grid, port)
    _create(grid, "--bug", BUG)

    result = grid.invoke("release", "verify", "tool", "1.0")
    queued = json.loads(grid.ok("notify", "queue", "--json"))
    failed_retry = grid.invoke("notify", "retry")
    server = start(port, Handler())
    try:
        retried = grid.invoke("notify", "retry")
        received = list(server.received)
    finally:
        server.stop()

    assert result.exit_code == 0
    assert result.stdout == "tool 1.0: unverified -> verified (files in staged-rollout/)\n"
    assert result.stderr == (
        f"warning: mail: 2 queued, not sent: SMTP server 127.0.0.1:{port}: connection "
        "refused; 'pps notify retry' sends them\n"
    )
    assert json.loads(grid.ok("release", "show", "tool", "1.0", "--json"))["state"] == ("verified")
    assert [(m["kind"], m["status"], m["to"]) for m in queued] == [
        ("broadcast", "queued", ["early-adopters@example.org"]),
        ("personal", "queued", ["alice@example.org"]),
    ]
    assert queued[0]["last_error"] == f"SMTP server 127.0.0.1:{port}: connection refused"
    assert failed_retry.exit_code == 1
    assert failed_retry.output == (
        f"sent 0 mail(s), 2 still queued: SMTP server 127.0.0.1:{port}: connection refused\n"
    )
    assert retried.exit_code == 0, retried.output
    assert retried.output == "sent 2 mail(s)\n"
    assert [r.recipients for r in received] == [["early-adopters@example.org"],
                                                ["alice@example.org"]]  # fmt: skip
    assert grid.ok("notify", "queue") == "no mail waits\n"


def test_a_recipient_the_server_refuses_stays_queued_with_the_reason(grid: Grid) -> None:
    handler = Handler(refuse={"early-adopters@example.org": "550 5.1.1 no such list"})
    server = start(free_port(), handler)
    try:
        _configure(grid, server.port)
        _create(grid, "--bug", BUG)
        result = grid.invoke("release", "verify", "tool", "1.0")
        retry = grid.invoke("notify", "retry")
    finally:
        server.stop()

    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "mail: sent 1 (personal to alice@example.org)"
    assert result.stderr == (
        f"warning: mail: 1 queued, not sent: SMTP server 127.0.0.1:{server.port} refused the "
        "recipients: early-adopters@example.org: 550 5.1.1 no such list; 'pps notify retry' "
        "sends them\n"
    )
    assert retry.exit_code == 1
    assert [r.recipients for r in handler.received] == [["alice@example.org"]]


def test_without_a_notify_section_mail_is_kept_until_one_is_configured(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    _create(grid, "--bug", BUG)
    result = grid.invoke("release", "verify", "tool", "1.0")
    _configure(grid, smtp_server.port)

    retried = grid.invoke("notify", "retry")

    assert result.stderr == (
        "warning: mail: 1 queued, not sent: no [notify] section in the configuration: mail is "
        "kept queued; 'pps notify retry' sends them\n"
    )
    assert retried.output == "sent 1 mail(s)\n"
    assert [r.recipients for r in smtp_server.received] == [["alice@example.org"]]


def test_a_dry_run_prints_the_mails_and_sends_none(grid: Grid, smtp_server: SMTPServer) -> None:
    _configure(grid, smtp_server.port)
    _create(grid, "--bug", BUG)

    result = grid.invoke("release", "verify", "tool", "1.0", "--dry-run")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        "dry run: tool 1.0: unverified -> verified (files in staged-rollout/); nothing written, "
        "no mail sent",
        "--- mail 1 of 2 (broadcast, to lists)",
        "To: early-adopters@example.org",
        "Subject: [pps] tool 1.0 is in preview (staged rollout)",
    ]
    assert "To: alice@example.org" in lines
    assert smtp_server.received == []
    assert grid.ok("notify", "queue") == "no mail waits\n"


def test_the_close_announces_the_release_notes_saying_no_feedback_was_received(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    _configure(grid, smtp_server.port)
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    _to_close(grid)

    result = grid.invoke("release", "close", "tool", "1.0", "--outcome", "success",
                         "--summary", "fine at ALPHA")  # fmt: skip

    assert result.exit_code == 0, result.output
    announce = smtp_server.received[-1]
    assert announce.recipients == ["site-admins@example.org"]
    assert announce.message["Subject"] == "[pps] tool 1.0 is released to production (success)"
    body = announce.body
    assert body.startswith("Release notes: tool 1.0\n\nupdate class bc-client, release type "
                           "revision\nclosed success at 2026-03-02T09:00:00Z by rm-alice\n"
                           "summary: fine at ALPHA\n")  # fmt: skip
    assert body.endswith("Feedback:\n  No feedback was received during the preview.\n")
    assert grid.ok("release", "notes", "tool", "1.0") == body


def test_recorded_feedback_goes_into_the_release_notes(grid: Grid) -> None:
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    added = grid.invoke("feedback", "add", "tool", "1.0", "--from", "bob@example.org",
                        "--text", "fixes the hang for us")  # fmt: skip
    _to_close(grid)
    grid.ok("release", "close", "tool", "1.0", "--outcome", "success", "--summary", "ok")

    notes = grid.ok("release", "notes", "tool", "1.0")
    listed = json.loads(grid.ok("feedback", "list", "tool", "1.0", "--json"))

    assert added.output == "tool 1.0: feedback from bob@example.org recorded\n"
    assert notes.endswith(
        "Feedback:\n  2026-03-02T09:00:00Z bob@example.org: fixes the hang for us\n"
    )
    assert listed == [{"at": "2026-03-02T09:00:00Z", "from": "bob@example.org",
                       "text": "fixes the hang for us", "recorded_by": "rm-alice"}]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[notify]\nsender = "pps@example.org"\n', "[notify] needs 'smtp_host'"),
        ('[notify]\nsmtp_host = "localhost"\nsender = "not-an-address"\n',
         "[notify]: sender 'not-an-address' is not a mail address (local@domain)"),
        ('[notify]\nsmtp_host = "localhost"\nsender = "a@b.org"\nusername = "u"\n',
         "[notify]: 'username' needs starttls = true (no password in clear)"),
        ('[notify]\nsmtp_host = "localhost"\nsender = "a@b.org"\nbroadcast = "x@y.org"\n',
         "[notify]: 'broadcast' must be a list of mail addresses"),
    ],
    ids=["no-host", "bad-sender", "auth-without-tls", "broadcast-not-a-list"],
)  # fmt: skip
def test_a_bad_notify_section_is_one_line_exit_2(grid: Grid, section: str, message: str) -> None:
    grid.config.write_text(grid.config.read_text() + "\n" + section)

    result = grid.invoke("release", "list")

    assert result.exit_code == 2
    assert result.output == f"Error: {grid.config}: {message}\n"


def test_a_bad_bug_is_refused_before_anything_is_built(grid: Grid) -> None:
    src = grid.source("tool-1.0")

    result = grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                         "bc-client", "--type", "revision", "--bug", "58342 hangs")  # fmt: skip

    assert result.exit_code == 2
    assert result.output == "Error: bug '58342 hangs' is not ID=TITLE <reporter@domain>\n"
    assert not (grid.root / "repo/unverified/tool").exists()
