"""Running a site command (a local test, the configuration hook) within a time limit.

The command gets its own session, so on timeout the whole process group is killed, including
whatever it started.  Output (stdout and stderr together) goes to an unlinked temporary file, not
a pipe: a chatty command cannot fill a pipe and block, and a grandchild that survives the kill
cannot keep the probe waiting for end-of-file.  Only the tail is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Characters of output kept for the state record.
TAIL_CHARS = 2000


@dataclass(frozen=True)
class Finished:
    """How a command ended."""

    #: Exit status, negative for a signal; ``None`` when it was killed for running out of time.
    exit_code: int | None
    seconds: float
    output_tail: str

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
) -> Finished:
    """Run *argv* in *cwd* with *env*; kill its process group after *timeout* seconds.

    If the probe itself is interrupted (its global timeout), the group is killed too.
    """
    with tempfile.TemporaryFile(dir=scratch_dir) as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        exit_code: int | None = None
        try:
            exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # Always, also when the probe itself is interrupted mid-wait or the command exited
            # but left something running in its group: nothing outlives the probe's budget.
            _kill_group(proc.pid)
            proc.wait()
        seconds = time.monotonic() - start
        return Finished(exit_code, round(seconds, 3), _tail(out))
