"""Truthful tags under every fault: timeouts, kills, signals, and what a killed run leaves behind.

A tag never claims a version that was not fully verified, and whatever kills the probe, no test
process survives it for long: killed with it, or found and killed by the next run, which says so.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pps.fsutil import locked
from tests.probe_helpers import (
    add_release,
    files_under,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
    status_line,
)

TAG = "VO-dteam-PPS-fake-client-1.0.0"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def _shared(tmp_path: Path) -> Path:
    """A directory the tests (run as the site's test_user) can write into."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    return shared


def _toggle_release(tmp_path: Path, shared: Path, timeout: float = 0.5):
    """A release whose test hangs while ``shared/hang`` exists."""
    command = f"if [ -e {shared}/hang ]; then sleep 30; fi"
    return add_release(tmp_path / "repo", make_manifest([("maybe-hangs", command, timeout)]))


def _verified_then_hanging(tmp_path: Path, release: Callable[[Path, Path], object]):
    """A site where the release was verified and tagged, whose test now hangs."""
    shared = _shared(tmp_path)
    release(tmp_path, shared)
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    (shared / "hang").write_text("")
    return site, shared


def test_a_test_that_times_out_once_keeps_the_tag_and_twice_withdraws_it(tmp_path: Path) -> None:
    site, shared = _verified_then_hanging(tmp_path, _toggle_release)

    first = run_probe(site, tmp_path / "repo")

    assert first.returncode == 1, first.stdout
    assert status_line(first).startswith(
        "PREVIEW_CLIENT WARNING - fake-client 1.0.0 at ce01.example.org: test maybe-hangs timed "
        "out after 0.5s (0/1 tests passed); tag kept for dteam,ops for now: withdrawn if the "
        "tests cannot complete on the next run too |"
    )
    assert TAG in site.tags_text("dteam")
    assert site.state()["status"] == "verified"

    second = run_probe(site, tmp_path / "repo")

    assert second.returncode == 2, second.stdout
    assert status_line(second).startswith(
        "PREVIEW_CLIENT CRITICAL - fake-client 1.0.0 at ce01.example.org: test maybe-hangs timed "
        "out after 0.5s (0/1 tests passed); tag withdrawn for dteam,ops: the tests could not "
        "complete on 2 runs in a row |"
    )
    assert site.tags_text("dteam") == "PPS-PREVIEW\n"
    assert site.state()["status"] == "untested"

    (shared / "hang").unlink()
    back = run_probe(site, tmp_path / "repo")

    assert back.returncode == 0, back.stdout
    assert TAG in site.tags_text("dteam")
    assert site.state()["incomplete_runs"] == 0


def _start_probe(site, repository: Path, timeout: float = 60) -> subprocess.Popen[str]:
    """The probe as Nagios starts it: a process group of its own."""
    argv = [sys.executable, "-m", "probes.check_preview_client", *probe_args(site, repository)]
    argv[argv.index("--timeout") + 1] = f"{timeout:g}"
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _hanging_release(tmp_path: Path, shared: Path) -> None:
    command = f"if [ -e {shared}/hang ]; then sleep 300 & echo $! > {shared}/sleeper; wait; fi"
    add_release(tmp_path / "repo", make_manifest([("maybe-hangs", command, 600)]))


def test_a_run_killed_like_nagios_does_leaves_no_test_running_after_the_next_run(
    tmp_path: Path,
) -> None:
    site, shared = _verified_then_hanging(tmp_path, _hanging_release)
    probe = _start_probe(site, tmp_path / "repo")
    _wait_for(shared / "sleeper")
    sleeper = int((shared / "sleeper").read_text())

    os.killpg(probe.pid, signal.SIGKILL)  # Nagios at its check timeout: the plugin's group
    probe.communicate()
    assert _alive(sleeper)  # the test's own session survived the kill...
    (shared / "hang").unlink()

    proc = run_probe(site, tmp_path / "repo")

    assert not _alive(sleeper)  # ...until the next run
    assert proc.returncode == 1, proc.stdout
    assert re.match(
        r"PREVIEW_CLIENT WARNING - fake-client 1\.0\.0 verified at ce01\.example\.org: 1/1 tests "
        r"passed, tagged for dteam,ops; killed \d test process\(es\) a killed earlier run left "
        rf"running: .*pid {sleeper} \(sleep\).*; the previous run was killed while testing "
        r"\(1 in a row\) \|",
        status_line(proc),
    )
    assert files_under(site.preview_root / ".pps" / "running") == []
    assert TAG in site.tags_text("dteam")


def test_a_run_killed_alone_is_cleaned_up_the_same_way(tmp_path: Path) -> None:
    site, shared = _verified_then_hanging(tmp_path, _hanging_release)
    probe = _start_probe(site, tmp_path / "repo")
    _wait_for(shared / "sleeper")
    sleeper = int((shared / "sleeper").read_text())

    os.kill(probe.pid, signal.SIGKILL)
    probe.communicate()
    (shared / "hang").unlink()
    proc = run_probe(site, tmp_path / "repo")

    assert not _alive(sleeper)
    assert "a killed earlier run left running" in status_line(proc)


def test_two_killed_runs_in_a_row_withdraw_the_tag(tmp_path: Path) -> None:
    site, shared = _verified_then_hanging(tmp_path, _hanging_release)
    for _ in range(2):
        (shared / "sleeper").unlink(missing_ok=True)
        probe = _start_probe(site, tmp_path / "repo")
        _wait_for(shared / "sleeper")
        os.killpg(probe.pid, signal.SIGKILL)
        probe.communicate()
    assert TAG in site.tags_text("dteam")  # nobody has looked yet

    proc = _start_probe(site, tmp_path / "repo", timeout=3)  # this one hangs too, and says so
    out, _ = proc.communicate(timeout=30)

    assert site.tags_text("dteam") == "PPS-PREVIEW\n"  # withdrawn before the tests ran again
    assert proc.returncode == 3
    assert out.startswith("PREVIEW_CLIENT UNKNOWN: Timeout: check execution aborted after 3s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_run_says_unknown_kills_its_test_and_releases_the_lock(
    tmp_path: Path, sig: signal.Signals
) -> None:
    shared = _shared(tmp_path)
    _hanging_release(tmp_path, shared)
    site = make_site(tmp_path)
    (shared / "hang").write_text("")
    probe = _start_probe(site, tmp_path / "repo")
    _wait_for(shared / "sleeper")
    sleeper = int((shared / "sleeper").read_text())

    started = time.monotonic()
    probe.send_signal(sig)
    out, err = probe.communicate(timeout=10)

    assert time.monotonic() - started < 5
    assert probe.returncode == 3
    assert out == (
        f"PREVIEW_CLIENT UNKNOWN - interrupted by {sig.name}: stopped, tests killed, lock "
        "released; the next run carries on\n"
    )
    assert err == ""
    deadline = time.monotonic() + 5
    while _alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(sleeper)
    with locked(site.preview_root / ".pps" / "lock"):  # free at once
        pass
    assert site.tags_text("dteam") is None
    assert site.state()["status"] == "untested"


def test_a_test_that_escapes_its_session_is_found_and_killed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the marker sweep runs for tests run as another account (root only)")
    shared = _shared(tmp_path)
    command = f"setsid sleep 300 & echo $! > {shared}/daemon; sleep 0.2"
    add_release(tmp_path / "repo", make_manifest([("daemonizes", command)]))
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    daemon = int((shared / "daemon").read_text())
    assert not _alive(daemon)
    tail = site.state()["tests"][0]["output_tail"]
    assert f"pps: killed what the test left running: pid {daemon} (sleep)" in tail


def test_stale_downloads_and_work_trees_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    cache = site.preview_root / ".pps" / "cache"
    cache.mkdir(parents=True)
    (cache / "fake-client-1.0.0.tar.gz.part").write_bytes(b"half a download")
    (cache / "other-2.0.tar.gz").write_bytes(b"a verified tarball awaiting its hook")
    work = site.preview_root / ".pps" / "tmp" / "install-fake-client-x1y2"
    (work / "bin").mkdir(parents=True)
    (work / "bin").chmod(0o500)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert files_under(cache) == ["other-2.0.tar.gz"]
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_a_second_run_at_the_same_time_waits_and_agrees(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest([("slow", "sleep 1")]))
    site = make_site(tmp_path)

    runs = [_start_probe(site, tmp_path / "repo") for _ in range(3)]
    outs = [p.communicate(timeout=60)[0] for p in runs]

    assert [p.returncode for p in runs] == [0, 0, 0], outs
    assert site.tags_text("dteam") == f"{TAG}\nPPS-PREVIEW\n"
    assert files_under(site.preview_root / ".pps" / "tmp") == []
    assert sum("installed now" in o for o in outs) == 0  # -v not given: just one line each
    assert all(o.count("\n") == 1 for o in outs)


def test_the_probe_holds_the_lock_only_through_its_own_file(tmp_path: Path) -> None:
    """A symlinked lock file (someone else's file) is refused, never opened."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    (site.preview_root / ".pps").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (site.preview_root / ".pps" / "lock").symlink_to(victim)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - lock file {site.preview_root / '.pps' / 'lock'} is a symbolic "
        "link: not following it\n"
    )
    assert victim.read_text() == "precious\n"


def test_two_runs_in_a_row_stopped_by_their_own_timeout_withdraw_the_tag(tmp_path: Path) -> None:
    site, shared = _verified_then_hanging(tmp_path, _hanging_release)

    first = run_probe(site, tmp_path / "repo", timeout=2)

    assert first.stdout == "PREVIEW_CLIENT UNKNOWN: Timeout: check execution aborted after 2s\n"
    assert TAG in site.tags_text("dteam")  # one run that could not complete: the tag stays
    assert site.state()["incomplete_runs"] == 1

    second = run_probe(site, tmp_path / "repo", timeout=2)

    assert second.returncode == 3
    assert site.tags_text("dteam") == "PPS-PREVIEW\n"
    assert (site.state()["status"], site.state()["incomplete_runs"]) == ("untested", 2)
    assert files_under(site.preview_root / ".pps" / "running") == []

    (shared / "hang").unlink()
    assert run_probe(site, tmp_path / "repo").returncode == 0
    assert TAG in site.tags_text("dteam")
