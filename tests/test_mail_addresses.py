"""Mail addresses are one plain ``local@domain`` each, wherever they come from: a bug's reporter
(``release create --bug``), the ``[notify]`` sender and lists, ``feedback add --from``.

Anything else (a trailing newline that turns the headers into body, a second header, group
syntax, source routes, ``%`` relays, quoted local parts, comments, lists) is refused with one
line before anything is built or sent.  Checked against a real SMTP server (aiosmtpd): what it
receives for an accepted address is a message with exactly that one recipient.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.utils import getaddresses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distributor.notify.queue import Mail
from pps.errors import ConfigError
from pps.settings import check_address
from tests import smtp_helpers
from tests.grid import Grid
from tests.smtp_helpers import Handler, SMTPServer, free_port, notify_section, start

smtp_server = smtp_helpers.smtp_server

HOSTILE = [
    "alice@example.org\n",
    "alice@example.org\nBcc: eve@evil.org",
    "alice@example.org\r",
    "x:eve@evil.org",
    "x:eve@evil.org;",
    "@relay.org:eve@evil.org",
    "eve%evil.org@relay.org",
    "eve!evil.org@relay.org",
    '"eve"@evil.org',
    "a@b@evil.org",
    "alice@example.org (x)",
    "alice@example.org, eve@evil.org",
    "Alice <alice@example.org>",
    "alice@-example.org",
    "alice@example-.org",
    "alice@exa_mple.org",
    "alice@.example.org",
    "alice@example..org",
    "alice@example.org.",
    ".alice@example.org",
    "al..ice@example.org",
    "alice.@example.org",
    "alice@[127.0.0.1]",
    "alicé@example.org",
    "alice@exämple.org",
    "*@0",
    "@example.org",
    "alice@",
    "alice",
    "",
    "a" * 65 + "@example.org",
    "alice@" + "a" * 64 + ".org",
    "alice@" + ".".join(["a" * 60] * 5),
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]


def _create(grid: Grid, *extra: str):
    src = grid.source("tool-1.0", tests="[[tests]]\nname = 't'\ncommand = 'true'\n")
    return grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                       "bc-client", "--type", "revision", *extra)  # fmt: skip


@pytest.mark.parametrize("address", HOSTILE, ids=IDS)
def test_a_bug_reporter_that_is_not_one_plain_address_is_refused_at_create(
    grid: Grid, address: str
) -> None:
    result = _create(grid, "--bug", f"1=t <{address}>")

    assert result.exit_code == 2
    if "<" in address or ">" in address or not address:
        assert result.output == f"Error: bug {'1=t <' + address + '>'!r} is not ID=TITLE " \
            "<reporter@domain>\n"  # fmt: skip
    else:
        assert result.output == (
            f"Error: bug reporter {address!r} is not a mail address (local@domain)\n"
        )
    assert not (grid.root / "repo/unverified/tool").exists()


def _configure(grid: Grid, port: int, **values: str) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(port, **values))


@pytest.mark.parametrize("key", ["sender", "broadcast", "announce"])
@pytest.mark.parametrize("address", HOSTILE[:13], ids=IDS[:13])
def test_a_notify_address_that_is_not_one_plain_address_is_refused_at_load(
    grid: Grid, key: str, address: str
) -> None:
    values = {"sender": '"pps@example.org"', "broadcast": '["ea@example.org"]',
              "announce": '["admins@example.org"]'}  # fmt: skip
    values[key] = json.dumps(address) if key == "sender" else f"[{json.dumps(address)}]"
    section = ["[notify]", 'smtp_host = "127.0.0.1"', *(f"{k} = {v}" for k, v in values.items())]
    grid.config.write_text(grid.config.read_text() + "\n" + "\n".join(section) + "\n")

    result = grid.invoke("release", "list")

    assert result.exit_code == 2
    said = f"{key}:" if key != "sender" else "sender"
    assert result.output == (
        f"Error: {grid.config}: [notify]: {said} {address!r} is not a mail address (local@domain)\n"
    )


@pytest.mark.parametrize("source", ["notanemail", "Bob Smith", *HOSTILE[:13]])
def test_feedback_from_anything_but_one_plain_address_is_refused(grid: Grid, source: str) -> None:
    assert _create(grid).exit_code == 0

    result = grid.invoke("feedback", "add", "tool", "1.0", "--from", source, "--text", "works")

    assert result.exit_code == 2
    assert result.output == (
        f"Error: --from {source!r} is not a mail address (local@domain): feedback is recorded "
        "with the address of who gave it\n"
    )
    assert grid.ok("feedback", "list", "tool", "1.0") == "no feedback was received on tool 1.0\n"


def test_feedback_from_a_plain_address_is_recorded(grid: Grid) -> None:
    assert _create(grid).exit_code == 0

    added = grid.invoke("feedback", "add", "tool", "1.0", "--from", "bob.smith+pps@cern.ch",
                        "--text", "works")  # fmt: skip

    assert added.exit_code == 0, added.output
    assert added.output == "tool 1.0: feedback from bob.smith+pps@cern.ch recorded\n"


def test_the_reporter_gets_one_mail_with_exactly_that_recipient(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    _configure(grid, smtp_server.port)
    assert (
        _create(grid, "--bug", "58342=job submit hangs <o-brien_2+pps@mail.cern.ch>").exit_code == 0
    )
    assert grid.invoke("push", "tool", "1.0").exit_code == 0

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    personal = [r for r in smtp_server.received if r.recipients != ["early-adopters@example.org"]]
    assert [r.recipients for r in personal] == [["o-brien_2+pps@mail.cern.ch"]]
    msg = personal[0].message
    assert getaddresses(msg.get_all("To")) == [("", "o-brien_2+pps@mail.cern.ch")]
    assert msg.get_all("Bcc") is None and msg.get_all("Cc") is None
    assert msg["From"] == "pps@example.org"


# ------------------------------------------------------------------------- the property
@pytest.fixture(scope="module")
def module_smtp() -> Iterator[SMTPServer]:
    server = start(free_port(), Handler())
    yield server
    server.stop()


_ATOM = st.from_regex(r"[A-Za-z0-9_+-]{1,8}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_PLAIN = st.builds(
    lambda local, labels: ".".join(local) + "@" + ".".join(labels),
    st.lists(_ATOM, min_size=1, max_size=3),
    st.lists(_LABEL, min_size=1, max_size=4),
)
_NOISE = st.sampled_from(["\n", "\r", " ", ",", ":", ";", "<", ">", '"', "(", ")", "@", "%",
                          "!", "[", "]", "\\", ".", "\x00", "é", "Bcc: x@y.org", "\t"])  # fmt: skip
_TAMPERED = st.builds(
    lambda a, noise, at: a[:at] + noise + a[at:], _PLAIN, _NOISE, st.integers(0, 40)
)


@given(address=st.one_of(_PLAIN, _TAMPERED, st.emails(), st.text(max_size=40)))
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
def test_every_accepted_address_is_exactly_one_recipient_at_the_server(
    module_smtp: SMTPServer, address: str
) -> None:
    try:
        accepted = check_address(address)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert accepted == address
    mail = Mail("personal", (address,), "[pps] a test", "body\n", public=False)
    before = len(module_smtp.received)
    with smtplib.SMTP("127.0.0.1", module_smtp.port, timeout=10) as smtp:
        smtp.send_message(mail.message("pps@example.org"), from_addr="pps@example.org",
                          to_addrs=[address])  # fmt: skip
    got = module_smtp.received[before:]
    assert [r.recipients for r in got] == [[address]]
    parsed = message_from_bytes(got[0].message.as_bytes(), policy=policy.default)
    assert getaddresses(parsed.get_all("To")) == [("", address)]
    assert parsed.get_all("Bcc") is None and parsed.get_all("Cc") is None
    assert [str(h) for h in parsed.get_all("To")] == [address]
    assert parsed.get_content() == "body\n"
