"""Transports: how the distributor reaches a site.

A transport does three things and nothing more: map a path at the site to what the site-side
programs see, put bytes at a path at the site, and run one of the site-side programs there.  All
site changes are made by those programs (the probe, the GIP provider), never by the transport, so
every transport exercises the same site-side code.

``local``: the site is a directory tree on this machine (``root`` stands for the site's ``/``)
and the programs run as subprocesses of this Python.  ``ssh``: :mod:`distributor.ssh`, the only
module importing paramiko; the programs run from the one-file probe it uploads.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from pps.errors import BadInput, PPSError
from pps.fsutil import atomic_copy, atomic_write
from pps.inventory import Site

#: Site-side programs and the modules that implement them.
PROGRAMS = {
    "check_preview_client": "probes.check_preview_client",
    "pps-gip-provider": "probes.gip_provider",
}


class TransportError(PPSError):
    """The site could not be reached or refused what was asked."""


#: How a probe run with ``--push-stream`` asks for the tarball, on its stderr (the exchange is
#: described in probes/_pushed.py, the other end).
STREAM_REQUEST = b"PPS-SEND "
STREAM_CHUNK = 1 << 20


class StreamFeed:
    """The local tarball a probe run may ask for: the push's side of ``--push-stream``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What the site asked for: None (nothing), else the offset the stream started at.
        self.start: int | None = None
        self.kept = 0

    def describe(self) -> str:
        """One line on what went, for the site's long output ("" when nothing was asked)."""
        if self.start is None:
            return ""
        size = self.path.stat().st_size
        if self.start:
            return f"tarball: resumed at byte {self.start} of {size} (the site kept the rest)"
        dropped = ""
        if self.kept:
            dropped = f" (the site's {self.kept} kept bytes did not match: dropped)"
        return f"tarball: streamed, {size} bytes{dropped}"

    def answer(self, request: bytes) -> Iterator[bytes]:
        """What to send for *request* (``PPS-SEND <kept> <sha256>``): the start offset and a
        newline, then the tarball from there.  The site resumes from what it kept only when
        those bytes are the first bytes of this tarball."""
        start = 0
        parts = request.split()
        if len(parts) == 3 and parts[1].isdigit():
            self.kept = kept = int(parts[1])
            if 0 < kept <= self.path.stat().st_size and _prefix_sha256(self.path, kept) == (
                parts[2].decode("ascii", "replace")
            ):
                start = kept
        self.start = start
        yield b"%d\n" % start
        with open(self.path, "rb") as f:
            f.seek(start)
            yield from iter(lambda: f.read(STREAM_CHUNK), b"")


def _prefix_sha256(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        left = size
        while left > 0:
            block = f.read(min(STREAM_CHUNK, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def take_stream_request(err: bytearray) -> bytes | None:
    """Cut the probe's stream request out of its stderr *err* once the whole line is there."""
    at = err.find(STREAM_REQUEST)
    while at > 0 and err[at - 1 : at] != b"\n":
        at = err.find(STREAM_REQUEST, at + 1)
    if at < 0:
        return None
    end = err.find(b"\n", at)
    if end < 0:
        return None
    line = bytes(err[at:end])
    del err[at : end + 1]
    return line


@dataclass(frozen=True)
class RunResult:
    """What one site-side program run gave back."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float


class Transport(ABC):
    """One open connection to one site; use as a context manager."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def site_path(self, path: str) -> str:
        """The path the site-side programs must be given for the site path *path*."""

    @abstractmethod
    def put_file(self, local: Path, path: str) -> None:
        """Copy the local file *local* to the site path *path* (atomically)."""

    @abstractmethod
    def put_bytes(self, data: bytes, path: str) -> None:
        """Write *data* to the site path *path* (atomically)."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether the site path *path* exists (e.g. the site's own site file)."""

    @abstractmethod
    def read_bytes(self, path: str, limit: int) -> bytes | None:
        """The content of the site path *path* (at most *limit* + 1 bytes), None if missing."""

    def ensure_probe(self, bundle: bytes) -> None:  # noqa: B027 - optional hook
        """Make the site-side programs available at the site (the one-file probe *bundle*)."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Stop the program running now, from another thread: it says UNKNOWN, releases its
        lock; the running :meth:`run` returns what it printed."""

    @abstractmethod
    def run(
        self, program: str, args: list[str], timeout: float, stream: StreamFeed | None = None
    ) -> RunResult:
        """Run the site-side *program* with *args*; never raises for a non-zero exit.  With
        *stream*, the program's request for the tarball (``--push-stream``) is answered on its
        standard input."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""


class LocalTransport(Transport):
    """A site that is a directory tree on this machine."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        if site.root is None:
            raise BadInput(f"site {site.name}: the local transport needs 'root'")
        self.root = Path(site.root)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
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

    def run(
        self, program: str, args: list[str], timeout: float, stream: StreamFeed | None = None
    ) -> RunResult:
        if program not in PROGRAMS:
            raise BadInput(f"unknown site-side program {program!r}")
        argv = [sys.executable, "-m", PROGRAMS[program], *args]
        start = time.monotonic()
        with self._lock:
            if self._stopped:
                raise TransportError(f"site {self.site.name}: interrupted")
            # A session of its own: a Ctrl-C at the operator's terminal reaches the push, which
            # decides, not every probe at once.
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.root,
                stdin=subprocess.PIPE if stream else subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            self._proc = proc
        out, err = bytearray(), bytearray()
        assert proc.stdout is not None and proc.stderr is not None

        def read_err() -> None:
            assert proc.stderr is not None
            sender = None
            for block in iter(lambda: proc.stderr.read1(65536), b""):  # type: ignore[union-attr,attr-defined]
                err.extend(block)  # a bytearray only this thread changes until the end
                if stream is not None and sender is None:
                    request = take_stream_request(err)
                    if request is not None:
                        sender = _thread(_feed_pipe, stream, request, proc.stdin)
            if sender is not None:
                sender.join()

        readers = [_thread(_drain, proc.stdout, out), _thread(read_err)]
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        finally:
            for reader in readers:
                reader.join(timeout=5)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    _close_quietly(pipe)
            with self._lock:
                self._proc = None
        stderr = err.decode("utf-8", "replace")
        if timed_out:
            stderr = f"{program} did not finish within {timeout:g}s"
        return RunResult(3 if timed_out else proc.returncode, out.decode("utf-8", "replace"),
                         stderr, time.monotonic() - start)  # fmt: skip

    def interrupt(self) -> None:
        with self._lock:
            self._stopped = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def _thread(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def _drain(pipe: IO[bytes], into: bytearray) -> None:
    for block in iter(lambda: pipe.read1(65536), b""):  # type: ignore[attr-defined]
        into.extend(block)


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


def open_transport(site: Site) -> Transport:
    """The transport the inventory names for *site* (connected)."""
    if site.transport == "local":
        return LocalTransport(site)
    if site.transport == "ssh":
        from distributor.ssh import SshTransport

        return SshTransport(site)
    raise TransportError(f"site {site.name}: unknown transport {site.transport!r}")
