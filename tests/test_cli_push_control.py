"""A push under control: redo only what is not OK, dry runs, canaries, failure limits, Ctrl-C,
a killed push, ``pps status`` telling every site's state, ``pps remove``, and the operator's own
files refused with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.grid import Grid

PASSING = """
[[tests]]
name = "tool-runs"
command = "tool | grep -q 1.0"
timeout = 20
"""


def _tests(command: str) -> str:
    """A pps-tests.toml with one test running *command*."""
    return f"[[tests]]\nname = 'tool-runs'\ncommand = '{command}'\ntimeout = 20\n"


def _release(grid: Grid, tests: str = PASSING, version: str = "1.0") -> None:
    src = grid.source(f"tool-{version}", tests=tests)
    result = grid.invoke("release", "create", "tool", version, "--from", str(src),
                         "--class", "bc-client", "--type", "revision")  # fmt: skip
    assert result.exit_code == 0, result.output


def _states(grid: Grid, version: str = "1.0") -> dict[str, str]:
    out = grid.invoke("status", "tool", version, "--json")
    assert out.exit_code == 0, out.output
    return {o["site"]: o["state"] for o in json.loads(out.output)}


def test_status_lists_every_targeted_site_never_pushed_before_a_push(grid: Grid) -> None:
    _release(grid)

    assert _states(grid) == {s: "NEVER PUSHED" for s in ("ALPHA", "BRAVO", "CHARLIE", "DELTA")}


def test_a_second_push_redoes_only_the_sites_not_yet_ok_unless_forced(grid: Grid) -> None:
    _release(grid, tests=_tests('test "$SITE_NAME" != DELTA'))
    first = grid.invoke("push", "tool", "1.0")
    assert first.exit_code == 1
    assert _states(grid)["DELTA"] == "CRITICAL"
    (grid.site_root("DELTA") / "etc/profile.d/grid.sh").write_text('export SITE_NAME="D"\n')

    again = grid.invoke("push", "tool", "1.0")
    forced = grid.invoke("push", "tool", "1.0", "--force", "--json")

    assert again.exit_code == 0, again.output
    assert "pushing tool 1.0 to 1 site(s) (3 already OK)" in again.stderr
    assert _states(grid) == {s: "OK" for s in ("ALPHA", "BRAVO", "CHARLIE", "DELTA")}
    assert len(json.loads(forced.stdout)["outcomes"]) == 4
    assert grid.invoke("push", "tool", "1.0").output == (
        "every targeted site is OK for tool 1.0 already (--force to redo)\n"
    )


def test_dry_run_lists_the_targets_and_touches_nothing(grid: Grid) -> None:
    _release(grid)

    result = grid.invoke("push", "tool", "1.0", "--dry-run")

    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == [
        "ALPHA", "BRAVO", "CHARLIE", "DELTA",
    ]  # fmt: skip
    assert not (grid.site_root("ALPHA") / "opt/pps/preview/.pps").exists()
    assert _states(grid)["ALPHA"] == "NEVER PUSHED"


def test_a_failing_canary_stops_the_push_before_the_other_sites(grid: Grid) -> None:
    _release(grid, tests=_tests('test "$SITE_NAME" != ALPHA'))

    result = grid.invoke("push", "tool", "1.0", "--canary", "1")

    assert result.exit_code == 1
    assert (
        "stopped early (the canary site ALPHA came back CRITICAL); not started: BRAVO, "
        "CHARLIE, DELTA" in result.output
    )
    assert _states(grid) == {"ALPHA": "CRITICAL", "BRAVO": "NEVER PUSHED",
                             "CHARLIE": "NEVER PUSHED", "DELTA": "NEVER PUSHED"}  # fmt: skip


def test_max_fail_stops_launching_once_too_many_sites_failed(grid: Grid) -> None:
    _release(grid, tests=_tests("false"))

    result = grid.invoke("push", "tool", "1.0", "--parallel", "1", "--max-fail", "25")

    assert result.exit_code == 1
    assert "stopped early (more than 25% of the sites failed)" in result.output
    assert sorted(_states(grid).values()).count("CRITICAL") == 2  # 1/4 is not more than 25%


def _push_in_background(grid: Grid, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), "push", "tool",
         "1.0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _hanging(grid: Grid) -> Path:
    flag = grid.root / "started"
    # each test says its pid (the sleep's, after exec) before the flag: killed by pid at the end
    _release(grid, tests=f'[[tests]]\nname = "hangs"\ncommand = "echo $$ > {flag}.$$; '
                         f'touch {flag}; exec sleep 300"\ntimeout = 600\n')  # fmt: skip
    (grid.root).chmod(0o777)  # the test runs as nobody and touches the flag
    return flag


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def _kill_hanging_tests(flag: Path) -> None:
    """Kill the hanging tests by the pids they wrote (never by a name: another test's process
    could match it)."""
    for pid_file in flag.parent.glob(f"{flag.name}.*"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass  # gone already (its probe stopped it), or not written yet


class _Stderr:
    """What a process writes on stderr, read as it comes (a thread), to wait on a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stderr is not None
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for chunk in iter(lambda: stream.read(1), ""):
            with self._lock:
                self.text += chunk

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"{needle!r} not on stderr: {self.text}"
            time.sleep(0.02)

    def rest(self) -> str:
        """All it wrote (it has exited), its stream closed."""
        self._thread.join(timeout=30)
        self._stream.close()
        return self.text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_push_at_once_and_records_the_running_sites_interrupted(
    grid: Grid, sig: signal.Signals
) -> None:
    flag = _hanging(grid)
    push = _push_in_background(grid, "--parallel", "2")
    _wait_for(flag)

    stderr = _Stderr(push)
    started = time.monotonic()
    push.send_signal(sig)
    stderr.wait_for("stopping: no new site starts")  # the first one has been taken
    push.send_signal(sig)  # a second one: never a traceback
    push.wait(timeout=30)
    assert push.stdout is not None
    with push.stdout:
        out = push.stdout.read()
    err = stderr.rest()

    assert time.monotonic() - started < 10
    assert push.returncode == 130, out + err
    assert "Traceback" not in err
    assert "stopping: no new site starts" in err
    states = _states(grid)
    assert sorted(states.values()).count("INTERRUPTED") == 2
    assert sorted(states.values()).count("NEVER PUSHED") == 2
    for site, state in states.items():  # the probes there stopped and released their locks
        if state == "INTERRUPTED":
            lock = grid.site_root(site) / "opt/pps/preview/.pps/lock"
            from pps.fsutil import locked

            with locked(lock):
                pass
    assert "stopped early (interrupted)" in out


def test_a_push_killed_outright_shows_its_sites_interrupted_not_running(grid: Grid) -> None:
    flag = _hanging(grid)
    push = _push_in_background(grid, "--parallel", "1")
    _wait_for(flag)
    assert _states(grid)["ALPHA"] == "RUNNING"

    os.kill(push.pid, signal.SIGKILL)
    push.communicate()

    assert _states(grid)["ALPHA"] == "INTERRUPTED"
    _kill_hanging_tests(flag)


def test_remove_withdraws_the_tags_and_the_trees_at_the_sites(grid: Grid) -> None:
    _release(grid)
    assert grid.invoke("push", "tool", "1.0").exit_code == 0
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA", "dteam")

    result = grid.invoke("remove", "tool", "1.0", "--now", "--yes", "--site", "ALPHA")

    assert result.exit_code == 0, result.output
    assert (
        "tool 1.0 is not a preview any more (it was withdrawn): tags withdrawn, tree "
        "removed" in result.output
    )
    assert "VO-dteam-PPS-tool-1.0" not in grid.tags("ALPHA", "dteam")
    assert not grid.install_dir("ALPHA", "tool", "1.0").exists()
    index = json.loads((grid.root / "repo" / "index.json").read_text())
    assert index["releases"][0]["withdrawn"] is True
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("BRAVO", "dteam")  # not asked there (yet)


def test_remove_asks_before_it_withdraws_anything(grid: Grid) -> None:
    from click.testing import CliRunner

    from distributor.cli import cli

    _release(grid)

    result = CliRunner().invoke(cli, ["--config", str(grid.config), "remove", "tool", "1.0"],
                                input="\n")  # no --yes, and no terminal to ask on  # fmt: skip

    assert result.exit_code == 2
    assert result.output == ("Error: pps remove asks before it withdraws tool 1.0 and there is "
                             "no terminal to ask on: pass --yes\n")  # fmt: skip
    index = json.loads((grid.root / "repo" / "index.json").read_text())
    assert index["releases"][0]["withdrawn"] is False


@pytest.mark.parametrize(
    "case",
    ["config-is-a-directory", "config-not-utf8", "repository-is-a-file", "repository-missing",
     "store-corrupt", "store-is-a-directory", "store-from-a-newer-pps"],
)  # fmt: skip
def test_the_operators_own_files_are_refused_with_one_line(
    grid: Grid, case: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from distributor.cli import cli

    config = grid.config
    text = config.read_text()
    if case == "config-is-a-directory":
        config = grid.root
    elif case == "config-not-utf8":
        config.write_bytes(text.encode() + b"# caf\xe9\n")
    elif case == "repository-is-a-file":
        (tmp_path / "a-file").write_text("x")
        config.write_text(text.replace('path = "repo"', f'path = "{tmp_path / "a-file"}"', 1))
    elif case == "repository-missing":
        config.write_text(text.replace('path = "repo"', f'path = "{tmp_path / "typo"}"', 1))
    else:
        store = grid.root / "pps-state.sqlite"
        if case == "store-corrupt":
            store.write_bytes(b"this is not sqlite" * 100)
        elif case == "store-is-a-directory":
            store.mkdir()
        else:
            import sqlite3

            db = sqlite3.connect(store)
            db.execute("PRAGMA user_version=99")
            db.commit()
            db.close()

    commands = [["status", "tool", "1.0"], ["push", "tool", "1.0"]]
    if not case.startswith("store"):
        commands.append(["release", "list"])  # reads no store
    for command in commands:
        result = CliRunner().invoke(cli, ["--config", str(config), *command])

        assert result.exit_code == 2, (command, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "typo").exists()


def test_a_store_written_by_the_landed_pps_is_migrated_and_kept(grid: Grid) -> None:
    import sqlite3

    store = grid.root / "pps-state.sqlite"
    db = sqlite3.connect(store)
    db.executescript(
        """
        CREATE TABLE push (id INTEGER PRIMARY KEY AUTOINCREMENT, component TEXT NOT NULL,
            version TEXT NOT NULL, started TEXT NOT NULL, finished TEXT);
        CREATE TABLE outcome (id INTEGER PRIMARY KEY AUTOINCREMENT, push_id INTEGER NOT NULL,
            site TEXT NOT NULL, component TEXT NOT NULL, version TEXT NOT NULL,
            state TEXT NOT NULL, summary TEXT NOT NULL, seconds REAL NOT NULL, at TEXT NOT NULL);
        INSERT INTO push VALUES (1, 'tool', '1.0', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z');
        INSERT INTO outcome VALUES (1, 1, 'ALPHA', 'tool', '1.0', 'OK', 'verified', 1.5,
            '2026-01-01T00:00:30Z');
        PRAGMA user_version=1;
        """
    )
    db.commit()
    db.close()
    _release(grid)

    result = grid.invoke("status", "tool", "1.0", "--json")

    assert result.exit_code == 0, result.output
    alpha = next(o for o in json.loads(result.output) if o["site"] == "ALPHA")
    assert (alpha["state"], alpha["summary"], alpha["at"]) == ("OK", "verified",
                                                               "2026-01-01T00:00:30Z")  # fmt: skip
    from distributor.store import SCHEMA_VERSION

    assert sqlite3.connect(store).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_status_checks_the_names_it_is_given(grid: Grid) -> None:
    _release(grid)

    unknown = grid.invoke("status", "nosuch")
    bad = grid.invoke("status", "to/ol")
    version = grid.invoke("status", "tool", "9.9")

    assert (unknown.exit_code, bad.exit_code, version.exit_code) == (2, 2, 2)
    assert unknown.output == "Error: no component 'nosuch' in the repository\n"
    assert "component 'to/ol' is not valid" in bad.output
    assert "no release tool 9.9 in the repository" in version.output


def _push_output(grid: Grid, *, tty: bool) -> tuple[int, str]:
    """Run ``pps push --force`` as a program, its stderr a terminal (a pty) or a pipe."""
    import pty

    argv = [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), "push",
            "tool", "1.0", "--parallel", "1", "--force"]  # fmt: skip
    if not tty:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stderr
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    seen = b""
    while True:
        try:
            block = os.read(primary, 4096)
        except OSError:  # EIO: the other end closed
            break
        if not block:
            break
        seen += block
    os.close(primary)
    return proc.wait(timeout=120), seen.decode()


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_site_otherwise(grid: Grid) -> None:
    _release(grid)

    code, bar = _push_output(grid, tty=True)
    again, lines = _push_output(grid, tty=False)

    assert code == 0 and again == 0
    assert "\r[" + "-" * 30 + "] 0/4 done, 0 failed, 1 running" in bar
    assert "\r[" + "#" * 30 + "] 4/4 done, 0 failed, 0 running" in bar
    assert "[1/4]" not in bar
    assert "\r" not in lines and "#" not in lines
    assert [line.split(" (")[0] for line in lines.splitlines()[1:]] == [
        "[1/4] ALPHA: OK", "[2/4] BRAVO: OK", "[3/4] CHARLIE: OK", "[4/4] DELTA: OK",
    ]  # fmt: skip
