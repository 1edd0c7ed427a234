"""What a site sends back is data, never terminal control.

A site's configuration hook (its own program, whose last line the probe quotes in its status
line), or a broken-into SSH site whose interpreter answers whatever it likes, says things with
OSC and CSI escapes, a C1 CSI, a carriage return and a bidi override in them.  ``pps push``,
``pps status``, ``pps bulletin build`` and ``pps infosys map`` print none of those characters
(the bytes are checked), the state store and the bulletin hold the text with them written as
visible escapes, and ``--json`` of a stored outcome is the stored text.  :func:`pps.text.printable`
is the one function all of them go through: a property test holds it to its promise.  An SMTP
server's refusal (a real aiosmtpd answering with escapes and a second reply line) is the same:
``release verify`` warns in one printable line and the mail queue stores that line.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pps.text import printable
from tests import smtp_helpers, sshd_helpers
from tests.grid import Grid, write
from tests.realparts import require
from tests.smtp_helpers import SMTPServer, notify_section

ssh_testbed_factory = sshd_helpers.ssh_testbed_factory
smtp_server = smtp_helpers.smtp_server

#: OSC retitle, CSI clear screen, a C1 CSI, a right-to-left override and a carriage return
#: (last: every reader splits lines at a lone one, so one in the middle would cut the line).
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe\r"
#: The same as printf(1) octal escapes (UTF-8 for the two non-ASCII characters).
HOSTILE_PRINTF = r"\033]0;pwned\007\033[2J\302\23331m\342\200\256gnp.exe\r"
#: How it is shown, once the carriage return ended the line.
SHOWN = r"\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe"
FORBIDDEN = [b"\x1b", b"\x07", b"\r", b"\xc2\x9b", b"\xe2\x80\xae"]


def _clean_bytes(data: bytes) -> None:
    """*data* shows no terminal control: none of the bytes, and every character printable."""
    for b in FORBIDDEN:
        assert b not in data, (b, data)
    text = data.decode("utf-8")
    bad = [c for c in text if not (c.isprintable() or c == "\n")]
    assert not bad, (bad, text)


def _clean_text(text: str) -> None:
    assert not [c for c in text if not (c.isprintable() or c == "\n")], text


def _hostile_hook(grid: Grid, site: str = "BRAVO") -> None:
    """The site's configuration hook says something hostile and fails."""
    write(
        grid.site_root(site) / "opt/pps/preview/hooks/configure",
        f"#!/bin/sh\nprintf 'configuring: {HOSTILE_PRINTF}\\n'\nexit 1\n",
        executable=True,
    )


def _release(grid: Grid) -> None:
    src = grid.source("tool-1.0", tests="[[tests]]\nname = 'runs'\ncommand = 'tool'\n")
    grid.ok("release", "create", "tool", "1.0", "--from", str(src), "--class", "nbc-client",
            "--type", "revision")  # fmt: skip


def test_a_hostile_hook_line_reaches_push_status_and_store_as_visible_text(grid: Grid) -> None:
    _release(grid)
    _hostile_hook(grid)

    pushed = grid.invoke("push", "tool", "1.0")
    status = grid.invoke("status", "tool", "1.0")
    status_all = grid.invoke("status")
    as_json = json.loads(grid.invoke("status", "tool", "1.0", "--json").stdout)

    assert pushed.exit_code == 1
    for result in (pushed, status, status_all):
        _clean_bytes(result.stdout_bytes)
        _clean_bytes(result.stderr_bytes)
    bravo = [ln for ln in pushed.stdout.splitlines() if ln.startswith("BRAVO ")]
    assert len(bravo) == 1 and bravo[0].split()[1] == "CRITICAL", pushed.stdout
    # visibly there, as escapes: the operator sees what the site tried
    assert f"(it said: configuring: {SHOWN})" in bravo[0]
    assert r"\x1b]0;pwned" in status.stdout
    with sqlite3.connect(grid.root / "pps-state.sqlite") as db:
        stored = db.execute("SELECT site, summary, output FROM outcome").fetchall()
    assert {site for site, _, _ in stored} == {"BRAVO", "CHARLIE"}
    for _site, summary, output in stored:
        _clean_text(summary)
        _clean_text(output)
    bravo_json = [o for o in as_json if o["site"] == "BRAVO"][0]
    assert r"\x1b]0;pwned" in bravo_json["summary"]
    _clean_text(bravo_json["summary"])


# ------------------------------------------------------------------- a broken-into SSH site
HOSTILE_PYTHON = f"""#!/bin/sh
# A broken-into site: whatever it is asked to run, it answers with terminal control.
case "$1" in
  *pps-gip-provider*)
    printf 'bdii: failed: {HOSTILE_PRINTF}\\n' >&2
    exit 1;;
esac
printf 'PREVIEW_CLIENT CRITICAL - {HOSTILE_PRINTF}\\n'
printf 'warning: \\033]0;second\\007 line\\033[0m\\n'
exit 2
"""


def _ssh_config(root: Path, bed: sshd_helpers.SshTestbed, python: str) -> Path:
    lines = ['[repository]\npath = "repo"\n']
    for s in bed.sites:
        site_root = s.root
        for d in ("etc/profile.d", "opt/glite/var/info"):
            (site_root / d).mkdir(parents=True, exist_ok=True)
        lines.append(f"""
[[sites]]
name = "{s.name}"
partner = "none"
vos = ["dteam"]
transport = "ssh"
host = "127.0.0.1"
port = {s.port}
user = "root"
identity = "{bed.identity}"
known_hosts = "{bed.known_hosts}"
python = "{python}"
connect_timeout = 5
subcluster = "ce.{s.name.lower()}.test"
preview_root = "{site_root}/opt/pps/preview"
info_dir = "{site_root}/opt/glite/var/info"
profile_d = "{site_root}/etc/profile.d"
site_config = "{site_root}/etc/pps/site.toml"
""")
    config = root / "pps.toml"
    config.write_text("\n".join(lines))
    return config


def test_a_broken_into_ssh_site_cannot_drive_the_operators_terminal(
    ssh_testbed_factory, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from distributor.cli import cli

    require("/usr/bin/python3", "python3")
    bed = ssh_testbed_factory(["EVIL"])
    python = write(bed.site("EVIL").root / "usr/bin/python3", HOSTILE_PYTHON, executable=True)
    root = tmp_path / "grid"
    root.mkdir()
    config = _ssh_config(root, bed, str(python))

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config), *args])

    assert invoke("repo", "init").exit_code == 0
    src = root / "src"
    write(src / "bin/tool", "#!/bin/sh\necho tool 1.0\n", executable=True)
    created = invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                     "bc-client", "--type", "revision")  # fmt: skip
    assert created.exit_code == 0, created.output

    pushed = invoke("push", "tool", "1.0")
    status = invoke("status", "tool", "1.0")
    built = invoke("bulletin", "build", "--out", str(root / "out"), "--infosys", "")
    mapped = invoke("infosys", "map")

    assert pushed.exit_code == 1
    assert "EVIL" in pushed.stdout and "CRITICAL" in pushed.stdout, pushed.output
    assert f"EVIL  CRITICAL  {SHOWN}\n" in pushed.stdout
    assert r"EVIL: warning: \x1b]0;second\x07 line\x1b[0m" in pushed.stderr
    assert built.exit_code == 0, built.output
    assert f"warning: EVIL: GIP provider failed: bdii: failed: {SHOWN}\n" in built.stderr
    assert "warning: EVIL: GIP provider failed" in mapped.stderr
    for result in (pushed, status, built, mapped):
        _clean_bytes(result.stdout_bytes)
        _clean_bytes(result.stderr_bytes)
    html = (root / "out/index.html").read_bytes()
    _clean_bytes(html)
    assert SHOWN.encode() in html
    error = json.loads((root / "out/map.json").read_text())["sites"]["EVIL"]["error"]
    _clean_text(error)
    assert error == f"GIP provider failed: bdii: failed: {SHOWN}"


# ------------------------------------------------------------------ an SMTP server's reply
def test_an_smtp_servers_refusal_is_shown_and_stored_as_visible_text(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.refuse["early-adopters@example.org"] = (
        "550-\x1b]0;pwned\x07no such list\r\n550 \x1b[2Jgone"
    )
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    src = grid.source("tool-1.0", tests="[[tests]]\nname = 't'\ncommand = 'true'\n")
    grid.ok("release", "create", "tool", "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision")  # fmt: skip
    assert grid.invoke("push", "tool", "1.0").exit_code == 0

    verified = grid.invoke("release", "verify", "tool", "1.0")
    queue = grid.invoke("notify", "queue")

    assert verified.exit_code == 0, verified.output
    for result in (verified, queue):
        _clean_bytes(result.stdout_bytes)
        _clean_bytes(result.stderr_bytes)
    warned = [ln for ln in verified.stderr.splitlines() if ln.startswith("warning: mail:")]
    assert len(warned) == 1, verified.stderr
    assert r"550 \x1b]0;pwned\x07no such list\n\x1b[2Jgone" in warned[0]
    with sqlite3.connect(grid.root / "pps-state.sqlite") as db:
        errors = [e for (e,) in db.execute("SELECT last_error FROM mail") if e]
    assert errors, "the refusal is recorded"
    for error in errors:
        _clean_text(error)
        assert "\n" not in error


@given(reply=st.binary(max_size=60), code=st.integers(400, 599))
@settings(max_examples=300)
def test_any_smtp_reply_becomes_one_printable_line(reply: bytes, code: int) -> None:
    import smtplib

    from distributor.notify.smtp import _why
    from pps.settings import NotifySettings

    notify = NotifySettings("127.0.0.1", "pps@example.org")
    for e in (smtplib.SMTPResponseException(code, reply),
              smtplib.SMTPRecipientsRefused({"a@example.org": (code, reply)})):  # fmt: skip
        why = _why(e, notify)
        assert why.isprintable(), why
        assert printable(reply.decode(errors="replace")).rstrip() in why


# --------------------------------------------------------------------------- the function
@given(st.text())
@settings(max_examples=1000)
def test_printable_never_leaves_a_control_character(text: str) -> None:
    for multiline in (False, True):
        shown = printable(text, multiline=multiline)
        assert all(c.isprintable() or (multiline and c == "\n") for c in shown), repr(shown)
        assert not [c for c in shown if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
                    and c != "\n"]  # fmt: skip
    assert printable(text).count("\n") == 0
    assert printable(text, multiline=True).count("\n") == text.replace("\r\n", "\n").count("\n")


@given(st.text(st.characters(codec="utf-8").filter(str.isprintable)))
@settings(max_examples=500)
def test_printable_text_comes_back_unchanged(text: str) -> None:
    assert printable(text) == text
    assert printable(text, multiline=True) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, SHOWN + r"\r"),
        ("a\tb\x00c\x7f", r"a\tb\x00c\x7f"),
        ("line\u2028sep", r"line\u2028sep"),
        ("naïve Zürich ✓", "naïve Zürich ✓"),
    ],
)
def test_printable_writes_controls_as_their_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable("one\r\ntwo\n" + text, multiline=True) == "one\ntwo\n" + shown


# ------------------------------------------------------------- what lands on the bulletin
_TAG_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=20)


@given(error=st.text(max_size=40), tail=_TAG_TEXT)
@settings(max_examples=200, deadline=None)
def test_a_sites_error_and_stray_tags_land_on_the_bulletin_as_printable_text(
    error: str, tail: str
) -> None:
    from bulletin.collect import build_map
    from bulletin.render import render_atom, render_html
    from pps.glue import RTE_ATTR, Entry
    from tests.bulletin_helpers import GENERATED, index, release, site

    stray = Entry("GlueSubClusterUniqueID=ce,Mds-Vo-name=EVIL,o=grid",
                  {RTE_ATTR.lower(): [f"VO-dteam-PPS-{tail}-1"]})  # fmt: skip
    vmap = build_map(
        index(release("tool", "1.0")),
        [site("EVIL"), site("DEAD")],
        published={"EVIL": [stray]},
        errors={"DEAD": error},
        generated=GENERATED,
    )

    _clean_text(json.dumps(vmap.to_dict(), ensure_ascii=False))
    for page in (render_html(vmap), render_atom(vmap)):
        _clean_text(page)
    dead = [s for s in vmap.sites if s.name == "DEAD"][0]
    assert dead.error == (printable(error) or "unreachable")
    evil = [s for s in vmap.sites if s.name == "EVIL"][0]
    assert evil.unknown_tags == (printable(f"VO-dteam-PPS-{tail}-1"),)


@given(summary=st.text(max_size=60), output=st.text(max_size=120))
@settings(max_examples=200, deadline=None)
def test_the_store_keeps_any_site_text_as_printable_text(
    tmp_path_factory: pytest.TempPathFactory, summary: str, output: str
) -> None:
    from distributor.store import Outcome, Store

    path = tmp_path_factory.mktemp("store") / "state.sqlite"
    with Store(path) as store:
        with store.push("tool", "1.0") as push_id:
            returned = store.record(
                push_id, Outcome("EVIL", "tool", "1.0", "CRITICAL", summary, 1.0, output=output)
            )
        (latest,) = store.latest("tool", "1.0")
    for o in (returned, latest):
        assert o.summary == printable(summary)
        assert o.output == printable(output, multiline=True)
        assert "\n" not in o.summary
        _clean_text(o.summary + o.output)


@given(rows=st.lists(st.lists(st.text(max_size=12), min_size=3, max_size=3), max_size=5))
@settings(max_examples=200, deadline=None)
def test_a_table_of_any_cells_prints_one_printable_line_per_row(rows: list[list[str]]) -> None:
    import click
    from click.testing import CliRunner

    from distributor.cli import table

    @click.command()
    def show() -> None:
        table(("A", "B", "C"), rows)

    result = CliRunner().invoke(show, [])

    assert result.exit_code == 0
    _clean_bytes(result.stdout_bytes)
    assert len(result.stdout.splitlines()) == 1 + len(rows)
