"""Running a site command (a local test, the configuration hook) within a time limit.

The command gets its own session, so on timeout the whole process group is killed, including
whatever it started; so it is when the probe itself is interrupted (its ``--timeout``, SIGTERM,
SIGINT).  What a SIGKILL of the probe leaves behind, the next run kills (:mod:`probes._orphans`).
Output (stdout and stderr together) goes to an unlinked temporary file, not a pipe: a chatty
command cannot fill a pipe and block, and a grandchild that survives the kill cannot keep the
probe waiting for end-of-file.  Only the tail is kept.

A command can run as another account (*user*: uid and gid): the probe, running as root, runs
the release's local tests as the site's ``test_user``, so a test cannot write the production
area, the tags files or another version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from pps.record import Record
from probes import _orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

#: Characters of output kept for the state record.
TAIL_CHARS = 2000


class Finished(Record):
    """How a command ended."""

    #: Exit status, negative for a signal; ``None`` when it was killed for running out of time.
    exit_code: int | None
    seconds: float
    output_tail: str
    #: Processes the command left running outside its process group, killed after it.
    left_behind: tuple[str, ...] = ()

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit status of *proc*, ``None`` if it is still running after *timeout* seconds.

    Where Linux has ``pidfd_open`` the wait wakes the moment the process ends; ``Popen.wait``
    with a timeout polls with growing sleeps, a few milliseconds late for a quick test.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        import select

        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return proc.wait() if ready else None


def _tail(f: IO[bytes]) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 4 * TAIL_CHARS))
    text = f.read().decode("utf-8", errors="replace")
    return text[-TAIL_CHARS:]


def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    scratch_dir: Path | None = None,
    user: tuple[int, int] | None = None,
    running_dir: Path | None = None,
    label: str = "",
) -> Finished:
    """Run *argv* in *cwd* with *env*; kill its process group after *timeout* seconds.

    With *user* (uid, gid) the command runs as that account, without supplementary groups.
    With *running_dir* the run is registered there while it lasts, under *label* (see
    :mod:`probes._orphans`).
    """
    env = dict(env)
    marker = _orphans.new_marker()
    env[_orphans.ENV_MARKER] = marker
    switch = user is not None and user != (os.geteuid(), os.getegid())
    with tempfile.TemporaryFile(dir=scratch_dir) as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user[0] if switch and user else None,
            group=user[1] if switch and user else None,
            extra_groups=[] if switch else None,
        )
        registered = None
        exit_code: int | None = None
        left: list[str] = []
        try:
            if running_dir is not None:
                uid = user[0] if user else os.geteuid()
                registered = _orphans.register(running_dir, marker, proc.pid, uid, label)
            exit_code = _wait(proc, timeout)
        finally:
            # Always, also when the probe itself is interrupted mid-wait or the command exited
            # but left something running in its group: nothing outlives the probe's budget.
            _kill_group(proc.pid)
            proc.wait()
            if switch and user:  # another account: find what escaped the group by its marker
                left = _orphans.sweep(marker, user[0])
            if registered is not None:
                _orphans.unregister(registered)
        seconds = time.monotonic() - start
        return Finished(exit_code, round(seconds, 3), _tail(out), tuple(left))
