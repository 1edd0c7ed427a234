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


def _which(program: str, env: Mapping[str, str]) -> str:
    if "/" in program:
        return program
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(2, f"{program} not found on PATH", program)


def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], out: int, user: tuple[int, int] | None
) -> int:
    """Start *argv* in a session of its own, stdin from /dev/null, stdout and stderr to *out*,
    as *user* (uid, gid, no supplementary groups) if given; its pid.  OSError if it could not
    be started (the child says why through a close-on-exec pipe).

    Done by hand rather than with :mod:`subprocess`, whose import alone costs the probe's
    steady state some 6 ms.  The probe has one thread, and every file it opens is
    close-on-exec (Python's default), so the child keeps only the three descriptors it gets.
    """
    path = _which(argv[0], env)
    args, environ = list(argv), dict(env)
    read_end, write_end = os.pipe()  # both close-on-exec
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the child: set up, then exec; never return into the probe's code
        try:
            os.close(read_end)
            os.setsid()
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(cwd)
            if user is not None:
                os.setgroups([])
                os.setgid(user[1])
                os.setuid(user[0])
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these: undo it
                signal.signal(sig, signal.SIG_DFL)
            os.execve(path, args, environ)
        except BaseException as e:  # noqa: BLE001 - report anything, then leave at once
            try:
                os.write(write_end, f"{getattr(e, 'errno', 0) or 0}:{e}".encode()[:1000])
            finally:
                os._exit(127)
    os.close(write_end)
    os.close(devnull)
    try:
        said = os.read(read_end, 1024)  # end of file: the exec happened
    finally:
        os.close(read_end)
    if said:
        os.waitpid(pid, 0)
        number, _, text = said.decode("utf-8", "replace").partition(":")
        raise OSError(int(number) if number.isdigit() else 0, f"cannot run {argv[0]}: {text}")
    return pid


def _wait(pid: int, timeout: float) -> int | None:
    """The exit code of *pid* (negative: killed by that signal), ``None`` if it is still
    running after *timeout* seconds.

    Where Linux has ``pidfd_open`` the wait wakes the moment the process ends; elsewhere it
    polls every few milliseconds.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.01)
    try:
        import select

        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        return None
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _reap(pid: int) -> None:
    """Collect *pid* if it has not been (it was killed, or the wait was interrupted)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
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
        pid = _spawn(argv, cwd, env, out.fileno(), user if switch else None)
        registered = None
        exit_code: int | None = None
        left: list[str] = []
        reaped = False
        try:
            if running_dir is not None:
                uid = user[0] if user else os.geteuid()
                registered = _orphans.register(running_dir, marker, pid, uid, label)
            exit_code = _wait(pid, timeout)
            reaped = exit_code is not None
        finally:
            # Always, also when the probe itself is interrupted mid-wait or the command exited
            # but left something running in its group: nothing outlives the probe's budget.
            _kill_group(pid)
            if not reaped:
                _reap(pid)
            if switch and user:  # another account: find what escaped the group by its marker
                left = _orphans.sweep(marker, user[0])
            if registered is not None:
                _orphans.unregister(registered)
        seconds = time.monotonic() - start
        return Finished(exit_code, round(seconds, 3), _tail(out), tuple(left))
