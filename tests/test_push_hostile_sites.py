"""Sites that misbehave on purpose: every read from a site is bounded in bytes and in time.

A compromised (or broken) site can send anything back: output without end, an endless line, a
5000-digit number where a count or a pid goes, an SFTP server that never answers, a ``df`` that
never stops, a probe that ignores SIGTERM.  Whatever it does, ``pps push`` (run as a program,
as a user runs it) finishes within a bound, its memory stays bounded, the site fails alone with
one line while a healthy site of the same push comes back OK, and Ctrl-C or SIGTERM stops the
push within seconds.  The hostile sites are real sshd servers (tests/sshd_helpers.py) whose
``python`` (the inventory's setting) is a script standing in for a compromised interpreter, or
whose every command goes through a ``ForceCommand`` script (a compromised shell), or whose
``Subsystem sftp`` never answers.
The ``local`` transport has the same bounds (its programs are subprocesses), and the pieces
that read what a site sends (the bounded buffer, the stream-request finder and parser) have
property tests of their own.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor.transport.base import (
    MAX_REQUEST_LINE,
    OUTPUT_LIMIT,
    STREAM_REQUEST,
    OutputBuffer,
    RequestFinder,
    StreamFeed,
    parse_stream_request,
)
from distributor.transport.local import LocalTransport
from tests import sshd_helpers
from tests.grid import Grid
from tests.realparts import require
from tests.test_push_ssh import SshGrid

ssh_testbed_factory = sshd_helpers.ssh_testbed_factory

#: The operator's pps must stay under this while a site floods (it starts at some 60 MB).
RSS_BOUND = 300 << 20
#: Past this the test kills the push at once: an unbounded pps would otherwise eat the machine.
RSS_KILL = 1 << 30

FLOOD = """#!/bin/bash
# a status line, then output without end (a compromised interpreter)
echo "PREVIEW_CLIENT OK - all is well"
exec yes "flood flood flood flood flood flood flood flood flood flood flood flood"
"""
ENDLESS_STDERR_LINE = """#!/bin/bash
# one line on stderr that never ends: no newline, ever
exec tr '\\0' x < /dev/zero >&2
"""
BIG_REQUEST = """#!/bin/bash
# a stream request with a 5000-digit count, then count what the push sends
printf 'PPS-SEND %s %s\\n' "$(printf '9%.0s' {1..5000})" "$(printf 'a%.0s' {1..64})" >&2
n=$(wc -c)
echo "PREVIEW_CLIENT UNKNOWN - the push sent $n bytes"
exit 3
"""
IGNORES_TERM = """#!/bin/bash
# ignore SIGTERM (sleep inherits it), say where we are, never end
trap '' TERM
echo $$ > {flag}.tmp && mv {flag}.tmp {flag}
exec sleep 100000
"""


def _script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@dataclass
class Ran:
    """A finished ``pps`` process: what a user sees, and what it cost."""

    code: int
    out: str
    err: str
    seconds: float
    peak_rss: int  # bytes


class Pps:
    """``pps ARGS`` as a real process (stdout and stderr in files), its peak RSS watched."""

    def __init__(self, grid: SshGrid | Grid, *args: str) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), *args],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
        )  # fmt: skip
        self.peak = 0
        self._status: int | None = None
        self._usage: resource.struct_rusage | None = None

    def _poll(self) -> bool:
        """Done yet?  Records the peak RSS; kills a pps that grows past RSS_KILL."""
        if self._status is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid:
            self._status, self._usage = status, usage
            return True
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        if self.peak > RSS_KILL:
            self.proc.kill()
        return False

    def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll *condition* while pps runs; fail after *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert not self._poll(), f"pps ended before {what}: {self.wait(1)}"
            assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
            time.sleep(0.02)

    def wait(self, timeout: float) -> Ran:
        deadline = time.monotonic() + timeout
        while not self._poll():
            if time.monotonic() > deadline:
                self.proc.kill()
                os.wait4(self.proc.pid, 0)
                pytest.fail(f"pps did not end within {timeout:g}s: {self._text()}")
            time.sleep(0.02)
        seconds = time.monotonic() - self.started
        assert self._status is not None and self._usage is not None
        self.proc.returncode = os.waitstatus_to_exitcode(self._status)
        # VmHWM of the process itself, sampled while it runs: wait4's ru_maxrss is no use here,
        # Linux counts in it the pages the child shared with this (big) pytest before its exec
        peak = self.peak
        assert peak < RSS_KILL, f"pps grew past {RSS_KILL >> 20} MB and was killed"
        out, err = self._text()
        return Ran(self.proc.returncode, out, err, seconds, peak)

    def _text(self) -> tuple[str, str]:
        texts = []
        for f in (self._out, self._err):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        return texts[0], texts[1]


def _outcomes(grid: SshGrid | Grid) -> dict[str, tuple[str, str]]:
    result = grid.invoke("status", "tool", "1.0", "--json")
    assert result.exit_code == 0, result.output
    return {o["site"]: (o["state"], o["summary"]) for o in json.loads(result.output)}


def _one_line(summary: str) -> bool:
    return bool(summary) and "\n" not in summary and len(summary) < 600


@pytest.fixture
def hostile(ssh_testbed_factory, tmp_path):
    """``make(site_python={...})``: an SshGrid of ALPHA (the hostile site) and BRAVO (a
    healthy one) with a release, each site's ``python`` as given (else the system's)."""
    python = require("/usr/bin/python3", "python3")

    def make(pythons: dict[str, str] | None = None, timeout: float = 5.0) -> SshGrid:
        bed = ssh_testbed_factory(["ALPHA", "BRAVO"])
        grid = SshGrid(tmp_path / "grid", bed, python)
        grid.pythons = pythons or {}
        grid.write(timeout=timeout)
        grid.release()
        return grid

    return make


def _shell(path: Path, *, before: str = "", df: str = "") -> str:
    """A ``ForceCommand`` standing in for a compromised remote shell: every command goes
    through it (logged to ``shell.log`` beside it); *before* runs first (it prints what it
    likes), *df* replaces ``df``; the SFTP subsystem is OpenSSH's sftp-server."""
    log = path.with_name("shell.log")
    return _script(
        path,
        f"""#!/bin/bash
echo "$SSH_ORIGINAL_COMMAND" >> {log}
case "$SSH_ORIGINAL_COMMAND" in
  internal-sftp) exec /usr/lib/openssh/sftp-server;;
  "df "*) {df or 'exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"'};;
esac
{before}
exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"
""",
    )


def _reconfigure(grid: SshGrid, name: str, **changes: object) -> None:
    """Restart the site's sshd with *changes* (``sftp_server``, ``force_command``)."""
    site = grid.bed.site(name)
    site.stop()
    for key, value in changes.items():
        setattr(site, key, value)
    site.start()


def _assert_alone(ran: Ran, grid: SshGrid, expect: str) -> str:
    """ALPHA failed with one line holding *expect*, BRAVO is OK; returns ALPHA's summary."""
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err and "internal error" not in ran.out, ran
    outcomes = _outcomes(grid)
    assert outcomes["BRAVO"][0] == "OK", outcomes
    state, summary = outcomes["ALPHA"]
    assert state == "UNKNOWN", outcomes
    assert _one_line(summary), summary
    assert expect in summary, summary
    assert f"ALPHA: UNKNOWN: {summary}" in ran.out
    return summary


# ----------------------------------------------------------------- over SSH, as a user runs it


def test_a_site_whose_sftp_never_answers_fails_alone_within_its_deadline(hostile) -> None:
    grid = hostile()
    _reconfigure(grid, "ALPHA", sftp_server="/bin/sleep 100000")

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5").wait(60)

    assert ran.seconds < 20, ran
    _assert_alone(ran, grid, "SFTP server did not answer within 5s")


def test_sigterm_stops_a_push_held_by_an_sftp_server_that_never_answers(hostile) -> None:
    grid = hostile(timeout=120)  # the site's own timeouts are far away: only the signal stops it
    _reconfigure(grid, "ALPHA", sftp_server="/bin/sleep 100000")
    alpha = grid.bed.site("ALPHA")
    push = Pps(grid, "push", "tool", "1.0", "--site", "ALPHA")
    push.until(lambda: any("sleep 100000" in c for c in alpha.session_commands()), 30,
               "the push opened its SFTP session")  # fmt: skip

    signalled = time.monotonic()
    push.proc.send_signal(signal.SIGTERM)
    ran = push.wait(60)

    assert time.monotonic() - signalled < 10, ran
    assert ran.code == 130, ran
    assert "Traceback" not in ran.err
    assert _outcomes(grid)["ALPHA"][0] == "INTERRUPTED"


def test_the_bulletin_is_not_held_by_a_site_whose_sftp_never_answers(hostile, tmp_path) -> None:
    grid = hostile()
    assert grid.invoke("push", "tool", "1.0", "--site", "BRAVO").exit_code == 0
    _reconfigure(grid, "ALPHA", sftp_server="/bin/sleep 100000")

    ran = Pps(grid, "bulletin", "build", "--out", str(tmp_path / "out"), "--json").wait(90)

    assert ran.seconds < 30, ran
    assert ran.code == 0, ran
    errors = json.loads(ran.out)["site_errors"]
    assert list(errors) == ["ALPHA"] and _one_line(errors["ALPHA"]), errors
    assert "did not answer within 5s" in errors["ALPHA"]
    data = json.loads((tmp_path / "out" / "map.json").read_text())
    assert data["components"]["tool"]["1.0"]["sites"] == ["BRAVO"]


def test_endless_df_output_after_a_failed_upload_fails_the_site_alone(hostile) -> None:
    grid = hostile()
    root = grid.site_root("ALPHA")
    shell = _shell(grid.root / "shell.sh", df="exec yes 1")
    _reconfigure(grid, "ALPHA", force_command=shell)
    blocker = root / "opt/pps/preview/.pps/incoming/tool-1.0/index.json.part"
    blocker.mkdir(parents=True)  # the upload of index.json cannot write its part file

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5").wait(60)

    assert ran.seconds < 20, ran
    assert ran.peak_rss < RSS_BOUND, ran.peak_rss
    _assert_alone(ran, grid, "cannot write")
    assert "df -Pk" in (grid.root / "shell.log").read_text()  # it did ask df, endless


def test_a_df_that_never_answers_after_a_failed_upload_still_says_what_failed(hostile) -> None:
    grid = hostile(timeout=30)  # the site's I/O timeout is far away: df's own bound must hold
    root = grid.site_root("ALPHA")
    shell = _shell(grid.root / "shell.sh", df="exec sleep 100000")
    _reconfigure(grid, "ALPHA", force_command=shell)
    blocker = root / "opt/pps/preview/.pps/incoming/tool-1.0/index.json.part"
    blocker.mkdir(parents=True)  # the upload of index.json cannot write its part file

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5").wait(60)

    assert ran.seconds < 25, ran
    summary = _assert_alone(ran, grid, "cannot write")
    assert "index.json" in summary
    assert "df -Pk" in (grid.root / "shell.log").read_text()


def test_a_site_that_floods_stdout_after_its_status_line_fails_alone(hostile) -> None:
    grid = hostile({"ALPHA": _script(Path(tempfile.mkdtemp()) / "python", FLOOD)})

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5").wait(60)

    assert ran.seconds < 20, ran
    assert ran.peak_rss < RSS_BOUND, ran.peak_rss
    summary = _assert_alone(ran, grid, f"printed more than {OUTPUT_LIMIT >> 20} MiB on stdout")
    assert "all is well" not in summary
    outcome = json.loads(grid.invoke("status", "tool", "1.0", "--json").output)
    (alpha,) = [o for o in outcome if o["site"] == "ALPHA"]
    assert "bytes of output cut" in alpha["output"]
    assert len(alpha["output"]) < 200_000


def test_an_endless_stderr_line_fails_the_site_alone(hostile) -> None:
    grid = hostile({"ALPHA": _script(Path(tempfile.mkdtemp()) / "python", ENDLESS_STDERR_LINE)})

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5").wait(60)

    assert ran.seconds < 20, ran
    assert ran.peak_rss < RSS_BOUND, ran.peak_rss
    _assert_alone(ran, grid, f"printed more than {OUTPUT_LIMIT >> 20} MiB on stderr")


def test_a_5000_digit_stream_request_is_refused_and_nothing_is_sent(hostile) -> None:
    grid = hostile({"ALPHA": _script(Path(tempfile.mkdtemp()) / "python", BIG_REQUEST)})

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "5", "--json").wait(60)

    assert ran.seconds < 20, ran
    assert "Traceback" not in ran.err, ran.err
    outcomes = {o["site"]: o for o in json.loads(ran.out)["outcomes"]}
    assert outcomes["BRAVO"]["state"] == "OK"
    alpha = outcomes["ALPHA"]
    assert (alpha["state"], alpha["summary"]) == ("UNKNOWN", "the push sent 0 bytes")
    said = "tarball: not sent: the site asked for it in a form pps does not send"
    assert said in alpha["output"]


def test_a_5000_digit_pid_line_from_the_sites_shell_does_not_stop_the_push(hostile) -> None:
    grid = hostile()
    digits = "9" * 5000
    shell = _shell(grid.root / "shell.sh", before=f"echo {digits}; echo PPS-PID {digits}; echo 12")
    _reconfigure(grid, "ALPHA", force_command=shell)

    ran = Pps(grid, "push", "tool", "1.0", "--timeout", "20").wait(90)

    assert ran.code == 0, ran
    assert "internal error" not in ran.out and "Traceback" not in ran.err
    assert {s: o[0] for s, o in _outcomes(grid).items()} == {"ALPHA": "OK", "BRAVO": "OK"}
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA")


def test_sigterm_stops_a_push_whose_remote_probe_ignores_it(hostile, tmp_path) -> None:
    flag = tmp_path / "alpha-pid"
    grid = hostile({"ALPHA": _script(tmp_path / "python", IGNORES_TERM.format(flag=flag))})
    push = Pps(grid, "push", "tool", "1.0", "--site", "ALPHA")  # --timeout 600: 630 s deadline
    push.until(flag.exists, 30, "the remote probe started")
    remote = int(flag.read_text())

    signalled = time.monotonic()
    push.proc.send_signal(signal.SIGTERM)
    ran = push.wait(60)

    assert time.monotonic() - signalled < 12, ran
    assert ran.code == 130, ran
    assert "Traceback" not in ran.err
    state, summary = _outcomes(grid)["ALPHA"]
    assert state == "INTERRUPTED" and _one_line(summary), summary
    assert "killed" in summary
    deadline = time.monotonic() + 10
    while sshd_helpers._stat(remote) is not None and _state_of(remote) != "Z":
        assert time.monotonic() < deadline, "the remote probe was not killed"
        time.sleep(0.05)


def _state_of(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text[text.rindex(")") + 2 :].split()[0]


def test_the_bulletin_bounds_a_gip_provider_that_floods(hostile, tmp_path) -> None:
    grid = hostile()
    assert grid.invoke("push", "tool", "1.0").exit_code == 0
    grid.pythons = {"ALPHA": _script(tmp_path / "python", FLOOD)}
    grid.write()

    ran = Pps(grid, "bulletin", "build", "--out", str(tmp_path / "out"), "--json").wait(90)

    assert ran.seconds < 30, ran
    assert ran.peak_rss < RSS_BOUND, ran.peak_rss
    assert ran.code == 0, ran
    errors = json.loads(ran.out)["site_errors"]
    assert list(errors) == ["ALPHA"] and _one_line(errors["ALPHA"]), errors
    assert f"printed more than {OUTPUT_LIMIT >> 20} MiB on stdout" in errors["ALPHA"]


# ------------------------------------------------------------------------ the local transport


class _HostileLocal(LocalTransport):
    """A local site whose probe is *script* (the transport is the real one)."""

    def __init__(self, site, script: str) -> None:
        super().__init__(site)
        self.script = script

    def _argv(self, program: str, args: list[str]) -> list[str]:
        return [self.script, *args]


def _local_site(grid: Grid, name: str = "ALPHA"):
    from pps.inventory import load_config

    return load_config(grid.config).site(name)


@pytest.mark.parametrize(
    ("script", "failure"),
    [(FLOOD, "printed more than 16 MiB on stdout: stopped"),
     (ENDLESS_STDERR_LINE, "printed more than 16 MiB on stderr: stopped")],
    ids=["stdout-flood", "endless-stderr-line"],
)  # fmt: skip
def test_a_local_sites_program_is_read_within_the_same_bounds(
    grid: Grid, tmp_path: Path, script: str, failure: str
) -> None:
    feed = StreamFeed(_file(tmp_path / "tarball", 1000))
    with _HostileLocal(_local_site(grid), _script(tmp_path / "hostile", script)) as t:
        started = time.monotonic()
        res = t.run("check_preview_client", [], timeout=30, stream=feed)

    assert time.monotonic() - started < 15
    assert res.exit_code == 3
    assert res.failure == f"check_preview_client {failure}"
    assert len(res.stdout) < 100_000 and len(res.stderr) < 100_000
    if script is FLOOD:
        assert res.stdout.startswith("PREVIEW_CLIENT OK - all is well\n")
        assert "bytes of output cut" in res.stdout


def test_a_local_sites_5000_digit_request_is_refused(grid: Grid, tmp_path: Path) -> None:
    feed = StreamFeed(_file(tmp_path / "tarball", 1000))
    with _HostileLocal(_local_site(grid), _script(tmp_path / "hostile", BIG_REQUEST)) as t:
        res = t.run("check_preview_client", [], timeout=30, stream=feed)

    assert res.exit_code == 3
    assert res.stdout.strip() == "PREVIEW_CLIENT UNKNOWN - the push sent 0 bytes"
    assert feed.describe().startswith("tarball: not sent:")


def test_a_local_probe_that_ignores_term_is_killed_after_a_grace(
    grid: Grid, tmp_path: Path
) -> None:
    flag = tmp_path / "pid"
    script = _script(tmp_path / "hostile", IGNORES_TERM.format(flag=flag))
    results = []
    with _HostileLocal(_local_site(grid), script) as t:
        runner = threading.Thread(
            target=lambda: results.append(t.run("check_preview_client", [], timeout=600))
        )
        runner.start()
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stopped = time.monotonic()
        t.interrupt()
        runner.join(timeout=30)

    assert time.monotonic() - stopped < 10
    (res,) = results
    assert res.exit_code == 3 and "did not stop within" in res.failure and "killed" in res.failure
    assert sshd_helpers._stat(int(flag.read_text())) is None  # killed and reaped


def test_a_misbehaving_local_site_fails_alone(grid: Grid, tmp_path: Path) -> None:
    from distributor.push.controller import push_release
    from distributor.push.targets import target_sites
    from distributor.store import Store
    from pps.inventory import load_config
    from pps.repository import Repository

    src = grid.source("tool", tests="[[tests]]\nname = 'ok'\ncommand = 'true'\ntimeout = 20\n")
    assert grid.invoke("release", "create", "tool", "1.0", "--from", str(src), "--class",
                       "bc-client", "--type", "revision").exit_code == 0  # fmt: skip
    config = load_config(grid.config)
    repo = Repository(config.repository)
    release = repo.load().find("tool", "1.0")
    flood = _script(tmp_path / "hostile", FLOOD)

    def factory(site):
        return _HostileLocal(site, flood) if site.name == "ALPHA" else LocalTransport(site)

    assert config.state_path is not None
    with Store(config.state_path) as store:
        report = push_release(repo, release, target_sites(config, release), store,
                              transport_factory=factory, timeout=60)  # fmt: skip
    states = {o.site: (o.state, o.summary) for o in report.outcomes}
    assert states.pop("ALPHA") == (
        "UNKNOWN", "check_preview_client printed more than 16 MiB on stdout: stopped"
    )  # fmt: skip
    assert {s for s, (state, _) in states.items()} == {"BRAVO", "CHARLIE", "DELTA"}
    assert all(state in ("OK", "WARNING") for state, _ in states.values()), states


def _file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


# --------------------------------------------------------------------- the readers, properties

_chunks = st.lists(st.binary(max_size=3000), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_chunks, st.integers(0, 2000), st.integers(0, 2000))
def test_the_output_buffer_keeps_a_head_and_a_tail_and_never_grows(chunks, head, tail) -> None:
    buf = OutputBuffer(head, tail)
    whole = b""
    for chunk in chunks:
        buf.extend(chunk)
        whole += chunk
        assert buf.held <= head + 2 * tail
    assert buf.total == len(whole)
    kept_head, kept_tail = buf.head, buf.tail
    assert whole.startswith(kept_head) and whole.endswith(kept_tail)
    assert len(kept_head) == min(head, len(whole))
    assert len(kept_tail) == min(tail, len(whole) - len(kept_head))
    assert buf.cut == len(whole) - len(kept_head) - len(kept_tail)
    text = buf.text()
    assert ("bytes of output cut" in text) == (buf.cut > 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=400), st.sampled_from(
    [b"\n", STREAM_REQUEST, b"PPS-SEND 0 " + b"a" * 64 + b"\n", b"PPS", b"9" * 300]
)), max_size=30), st.integers(1, 50))  # fmt: skip
def test_the_request_finder_passes_on_every_other_byte_and_holds_little(parts, size) -> None:
    data = b"".join(parts)
    finder = RequestFinder()
    passed = b""
    for at in range(0, len(data), size):
        passed += finder.feed(data[at : at + size])
        assert finder.held <= MAX_REQUEST_LINE + 1
    passed += finder.flush()
    # the request, if any, is the first line that starts with "PPS-SEND " and ends, or runs
    # past the bound (then it is the request, refused, even if it never ends)
    lines = data.split(b"\n")
    first = next((i for i, ln in enumerate(lines) if ln.startswith(STREAM_REQUEST)
                  and (i < len(lines) - 1 or len(ln) > MAX_REQUEST_LINE)), None)  # fmt: skip
    if first is None:
        assert finder.request is None
        assert passed == data
    else:
        line = lines[first]
        assert finder.request == line[:MAX_REQUEST_LINE]
        start = sum(len(ln) + 1 for ln in lines[:first])
        end = min(len(data), start + len(line) + 1)  # the line and its newline, if any
        assert passed == data[:start] + data[end:]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.builds(
    lambda kept, sha: b"PPS-SEND " + kept + b" " + sha,
    st.one_of(st.integers(0, 10**30).map(lambda n: str(n).encode()), st.binary(max_size=30)),
    st.one_of(st.text("0123456789abcdef", min_size=64, max_size=64).map(str.encode),
              st.binary(max_size=80)),
)))  # fmt: skip
def test_a_stream_request_is_parsed_by_its_grammar_and_never_raises(line: bytes) -> None:
    parsed = parse_stream_request(line)
    if parsed is not None:
        kept, sha = parsed
        assert line == b"PPS-SEND %d %s" % (kept, sha.encode())
        assert 0 <= kept < 10**19 and len(sha) == 64


def test_a_5000_digit_request_is_refused_without_an_exception(tmp_path: Path) -> None:
    feed = StreamFeed(_file(tmp_path / "tarball", 100))

    sent = list(feed.answer(b"PPS-SEND " + b"9" * 5000 + b" " + b"a" * 64))

    assert sent == []
    assert feed.describe().startswith("tarball: not sent:")
