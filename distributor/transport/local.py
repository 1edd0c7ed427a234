"""A site reached on this machine: the probe run as a local process (the test grid, and a site
whose preview root is mounted here).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from typing import IO

from distributor.transport import base
from distributor.transport.base import RunOutput, RunResult, StreamFeed, Transport, TransportError
from pps.errors import BadInput
from pps.fsutil import atomic_copy, atomic_write
from pps.inventory import Site


class LocalTransport(Transport):
    """A site that is a directory tree on this machine."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        if site.root is None:
            raise BadInput(f"site {site.name}: the local transport needs 'root'")
        self.root = Path(site.root)
        self._lock = threading.Lock()
        self._stopped_at: float | None = None
        if not self.root.is_dir():
            raise TransportError(f"site {site.name}: root {self.root} is not a directory")

    def site_path(self, path: str) -> str:
        p = PurePosixPath(path)
        if not p.is_absolute() or ".." in p.parts:
            raise BadInput(f"site path {path!r} must be absolute, without '..'")
        return str(self.root.joinpath(*p.parts[1:]))

    def put_file(self, local: Path, path: str) -> None:
        atomic_copy(local, self.site_path(path))

    def put_bytes(self, data: bytes, path: str) -> None:
        atomic_write(self.site_path(path), data)

    def exists(self, path: str) -> bool:
        return Path(self.site_path(path)).exists()

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        try:
            with open(self.site_path(path), "rb") as f:
                return f.read(limit + 1)
        except FileNotFoundError:
            return None

    def _argv(self, program: str, args: list[str]) -> list[str]:
        """The command line of the site-side *program*."""
        return [sys.executable, "-m", base.PROGRAMS[program], *args]

    def run(
        self, program: str, args: list[str], timeout: float, stream: StreamFeed | None = None
    ) -> RunResult:
        if program not in base.PROGRAMS:
            raise BadInput(f"unknown site-side program {program!r}")
        argv = self._argv(program, args)
        start = time.monotonic()
        deadline = min(start + timeout, self.deadline)
        with self._lock:
            if self._stopped_at is not None:
                raise TransportError(f"site {self.site.name}: interrupted")
            # A session of its own: a Ctrl-C at the operator's terminal reaches the push, which
            # decides, not every probe at once.
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.root,
                stdin=subprocess.PIPE if stream else subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        reading = RunOutput(program, stream)
        pipes = {proc.stdout.fileno(): reading.stdout}  # type: ignore[union-attr]
        err_fd = proc.stderr.fileno()  # type: ignore[union-attr]
        sender: threading.Thread | None = None
        selector = selectors.DefaultSelector()
        for fd in (*pipes, err_fd):
            selector.register(fd, selectors.EVENT_READ)
        term_sent = False
        exited_at: float | None = None
        try:
            while selector.get_map():
                now = time.monotonic()
                stopped_at = self._stopped_at
                if stopped_at is not None and proc.poll() is None:
                    if not term_sent:
                        term_sent = True
                        _signal(proc, signal.SIGTERM)
                    elif now > stopped_at + base.STOP_GRACE:
                        reading.failure = (f"{program} was interrupted and did not stop within "
                                           f"{base.STOP_GRACE:g}s of SIGTERM: killed")  # fmt: skip
                        break
                if now > deadline:
                    if proc.poll() is None:
                        reading.failure = f"{program} did not finish within {timeout:g}s"
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now > exited_at + base.DRAIN:
                    break  # a child it left holds its output: enough
                for key, _ in selector.select(timeout=max(0.0, min(0.2, deadline - now))):
                    data = os.read(key.fd, 65536)
                    if not data:
                        selector.unregister(key.fd)
                    elif key.fd == err_fd:
                        request = reading.stderr(data)
                        if request is not None and stream is not None:
                            sender = _thread(_feed_pipe, stream, request, proc.stdin)
                    else:
                        reading.stdout(data)
                if reading.failure:
                    break
        finally:
            selector.close()
            if proc.poll() is None:
                _signal(proc, signal.SIGKILL, group=True)
            proc.wait()
            if sender is not None:
                sender.join(timeout=5)
            for pipe in (proc.stdout, proc.stderr):
                _close_quietly(pipe)  # type: ignore[arg-type]
            if proc.stdin is not None and (sender is None or not sender.is_alive()):
                _close_quietly(proc.stdin)  # (a sender still blocked on it closes it itself)
        return reading.result(proc.returncode, time.monotonic() - start)

    def interrupt(self) -> None:
        with self._lock:
            if self._stopped_at is None:
                self._stopped_at = time.monotonic()


def _signal(proc: subprocess.Popen[bytes], sig: int, group: bool = False) -> None:
    """Send *sig* to *proc* (and with *group* to its whole process group: a session of its
    own), unless it is gone."""
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def _thread(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def _feed_pipe(stream: StreamFeed, request: bytes, pipe: IO[bytes] | None) -> None:
    if pipe is None:
        return
    try:
        for piece in stream.answer(request):
            pipe.write(piece)
        pipe.flush()
    except (OSError, ValueError):
        pass  # the program is gone (or stopped reading): its exit says why
    finally:
        _close_quietly(pipe)


def _close_quietly(pipe: IO[bytes]) -> None:
    try:
        pipe.close()
    except (OSError, ValueError):
        pass
