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


#: util-linux's setpriv, which switches the account of a command started with posix_spawn
#: where the probe cannot lend it its ids (see :func:`_spawn`); looked for only here, never on
#: the test's PATH.
_SETPRIV = ("/usr/bin/setpriv", "/bin/setpriv")


def _setpriv() -> str | None:
    for candidate in _SETPRIV:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _may_lend_ids() -> bool:
    """Whether this process can start a command as another account by lending it its real ids
    (:func:`_spawn_as`): it is root by its effective id and holds no ambient capabilities (which
    a command exec'd by a process that kept its saved id 0 would keep; ``setuid`` clears them)."""
    if not hasattr(os, "setresuid") or os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/status", "rb") as f:
            status = f.read()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith(b"CapAmb:"):
            return int(line.split()[1], 16) == 0
    return False


def _spawn_as(user: tuple[int, int], path: str, args: list[str], env: dict[str, str],
              actions: list[tuple[int, int, int]]) -> int:  # fmt: skip
    """posix_spawn *args* as *user* (uid, gid), no supplementary groups, in a session of its own.

    posix_spawn cannot switch accounts, but ``POSIX_SPAWN_RESETIDS`` gives the command the
    spawning process's real ids as its effective ones, and the exec makes them its saved ones
    too.  So, around the call, the probe (effective and saved ids 0 all along: it keeps its
    rights) sets its real ids and its groups to the command's, and puts its own back at once.
    The command gets what ``os.setgroups([]); os.setgid(gid); os.setuid(uid)`` gives.
    """
    uid, gid = user
    ruid, rgid, groups = os.getuid(), os.getgid(), os.getgroups()
    os.setgroups([])
    try:
        os.setresgid(gid, -1, -1)
        try:
            os.setresuid(uid, -1, -1)
            try:
                return os.posix_spawn(
                    path, args, env, file_actions=actions, setsid=True, resetids=True,
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores these: undo it
                )  # fmt: skip
            finally:
                os.setresuid(ruid, -1, -1)
        finally:
            os.setresgid(rgid, -1, -1)
    finally:
        os.setgroups(groups)


def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], out: int, user: tuple[int, int] | None
) -> int:
    """Start *argv* in a session of its own, stdin from /dev/null, stdout and stderr to *out*,
    as *user* (uid, gid, no supplementary groups) if given; its pid.  OSError if it could not
    be started.

    With :func:`os.posix_spawn` (a vfork: the probe's memory is neither copied nor
    write-protected), not :mod:`subprocess`, whose import alone costs the probe's steady state
    some 6 ms, nor a fork, which costs it 2 to 3 ms more than the spawn: the page tables of the
    whole interpreter, and a page fault for every page the probe writes afterwards.  posix_spawn
    cannot change directory or account: the probe (one thread) enters *cwd* around the call, and
    lends the command its account (:func:`_spawn_as`).  Where it cannot, the account is switched
    by ``setpriv --reuid --regid --clear-groups`` (util-linux, an exec more: some 1.3 ms), which
    sets real, effective and saved ids, as :func:`os.setuid` does.  Without either, or where
    posix_spawn lacks ``setsid``, it forks as before.  Every file the probe opens is
    close-on-exec (Python's default), so the command keeps only the three descriptors it gets.
    """
    path = _which(argv[0], env)
    args = list(argv)
    lend = user is not None and _may_lend_ids()
    if user is not None and not lend:
        setpriv = _setpriv()
        if setpriv is None:
            return _fork_exec(path, args, cwd, env, out, user)
        # setpriv finds argv[0] on the same PATH as _which did: the command sees the same argv
        args = [setpriv, f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--",
                *args]  # fmt: skip
        path = setpriv
    try:
        here = os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
    except OSError:  # no handle on the current directory to come back to
        return _fork_exec(_which(argv[0], env), list(argv), cwd, env, out, user)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out, 1),
               (os.POSIX_SPAWN_DUP2, out, 2)]  # fmt: skip
    pid = None
    try:
        try:
            os.chdir(cwd)
        except OSError as e:
            raise OSError(e.errno, f"cannot run {argv[0]}: {e}") from None
        try:
            if lend and user is not None:
                pid = _spawn_as(user, path, args, dict(env), actions)
            else:
                pid = os.posix_spawn(
                    path, args, dict(env), file_actions=actions, setsid=True,
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores these: undo it
                )  # fmt: skip
        except NotImplementedError:  # a C library without POSIX_SPAWN_SETSID: fork, below
            pass
        except OSError as e:
            raise OSError(e.errno, f"cannot run {argv[0]}: {e}") from None
        finally:
            os.fchdir(here)
    finally:
        os.close(here)
        os.close(devnull)
    if pid is None:
        return _fork_exec(_which(argv[0], env), list(argv), cwd, env, out, user)
    return pid


def _fork_exec(
    path: str,
    args: list[str],
    cwd: Path,
    env: Mapping[str, str],
    out: int,
    user: tuple[int, int] | None,
) -> int:
    """:func:`_spawn` by fork and exec, where posix_spawn cannot do it; the child says why it
    could not exec through a close-on-exec pipe."""
    environ = dict(env)
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
        raise OSError(int(number) if number.isdigit() else 0, f"cannot run {args[0]}: {text}")
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
    stopped: list[Finished] | None = None,
) -> Finished:
    """Run *argv* in *cwd* with *env*; kill its process group after *timeout* seconds.

    With *user* (uid, gid) the command runs as that account, without supplementary groups.
    With *running_dir* the run is registered there while it lasts, under *label* (see
    :mod:`probes._orphans`).  When the probe itself is stopped while the command runs (its
    --timeout, a signal: an exception), what the command printed so far is appended to
    *stopped* (if given) before the exception goes on.
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
        reaped = waited = False
        try:
            if running_dir is not None:
                uid = user[0] if user else os.geteuid()
                registered = _orphans.register(running_dir, marker, pid, uid, label)
            exit_code = _wait(pid, timeout)
            reaped, waited = exit_code is not None, True
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
            if not waited and stopped is not None:
                elapsed = round(time.monotonic() - start, 3)
                stopped.append(Finished(None, elapsed, _tail(out), tuple(left)))
        seconds = time.monotonic() - start
        return Finished(exit_code, round(seconds, 3), _tail(out), tuple(left))
