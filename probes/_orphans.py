"""No local test outlives the probe: what a killed run left running, the next run kills.

A test runs in a session of its own, so the probe can kill everything it started when the test
times out or the probe is interrupted.  But Nagios kills a check that overruns with SIGKILL to
the probe's process group, and a SIGKILL cannot be caught: the test's group survives it.  So,
before a test starts, the probe writes ``.pps/running/<marker>.json`` (the test's process group,
when it started, its account) and gives the test the environment variable ``PPS_TEST_RUN=<marker>``;
it removes the file once the test's group is dead.  A file still there at the start of a run means
a run was killed: every process of that group, and every process whose environment carries the
marker (also one that left the group with ``setsid``), is killed, and the run says so.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

_log = logging.getLogger("nagiosplugin." + __name__)

ENV_MARKER = "PPS_TEST_RUN"


def new_marker() -> str:
    return os.urandom(8).hex()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command name), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.rsplit(b")", 1)[-1].decode("ascii", "replace").split()


def start_time(pid: int) -> int:
    """When *pid* started, in clock ticks since boot (0 if unknown)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else 0


def register(running_dir: Path, marker: str, pgid: int, uid: int, label: str) -> Path:
    """Note a running test of the release *label*.  Not fsync'd: after a crash of the machine
    nothing is running.

    ``start`` is a lower bound of when the group began: the probe's own start, read from
    ``/proc/self`` (reading the test's ``/proc/<pid>/stat`` while it execs waits for the exec,
    1 to 2 ms of a run).  It is as good as the test's own start: the group's id was a free pid
    until the test took it, so no process still alive in that group began before the test."""
    path = running_dir / f"{marker}.json"
    record = {"pgid": pgid, "start": start_time(os.getpid()), "uid": uid, "release": label}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
    return path


def unregister(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def reap(running_dir: Path) -> tuple[list[str], set[str]]:
    """Kill what earlier, killed runs left running: ``"pid 123 (sleep)"`` for each one killed,
    and the releases whose tests those runs were running."""
    try:
        records = sorted(p for p in running_dir.iterdir() if p.suffix == ".json")
    except FileNotFoundError:
        return [], set()
    if not records:
        return [], set()
    wanted: list[tuple[str, int, int, int]] = []
    releases: set[str] = set()
    for path in records:
        try:
            data = json.loads(path.read_bytes())
            wanted.append((path.stem, int(data["pgid"]), int(data["start"]), int(data["uid"])))
            releases.add(str(data.get("release", "")))
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            wanted.append((path.stem, 0, 0, -1))
    me = os.getpid()
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if not fields or len(fields) < 20:
            continue
        pgrp, started = int(fields[2]), int(fields[19])
        for marker, pgid, since, uid in wanted:
            in_group = pgid > 0 and pgrp == pgid and started >= since and _uid(pid) == uid
            if in_group or _environ_has(pid, f"{ENV_MARKER}={marker}".encode()):
                said = _kill(pid)
                if said:
                    killed.append(said)
                break
    for path in records:
        unregister(path)
    if killed:
        _log.warning("killed test processes left by an earlier run: %s", ", ".join(killed))
    return killed, releases


def sweep(marker: str, uid: int) -> list[str]:
    """Kill the processes of account *uid* that carry *marker* (a test's descendants that left
    its session); ``"pid 123 (sleep)"`` for each one killed."""
    needle = f"{ENV_MARKER}={marker}".encode()
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _uid(pid) == uid and _environ_has(pid, needle):
            said = _kill(pid)
            if said:
                killed.append(said)
    return killed


def _kill(pid: int) -> str | None:
    """SIGKILL *pid*; ``"pid 123 (sleep)"``, or None if it was gone (or not ours to kill)."""
    name = _comm(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return None
    return f"pid {pid} ({name})"


def _uid(pid: int) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -2
