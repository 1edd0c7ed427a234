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

import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
    def run(self, program: str, args: list[str], timeout: float) -> RunResult:
        """Run the site-side *program* with *args*; never raises for a non-zero exit."""

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

    def run(self, program: str, args: list[str], timeout: float) -> RunResult:
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
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                cwd=self.root, start_new_session=True,
            )  # fmt: skip
            self._proc = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return RunResult(3, out.decode("utf-8", "replace"),
                             f"{program} did not finish within {timeout:g}s",
                             time.monotonic() - start)  # fmt: skip
        finally:
            with self._lock:
                self._proc = None
        return RunResult(proc.returncode, out.decode("utf-8", "replace"),
                         err.decode("utf-8", "replace"), time.monotonic() - start)  # fmt: skip

    def interrupt(self) -> None:
        with self._lock:
            self._stopped = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def open_transport(site: Site) -> Transport:
    """The transport the inventory names for *site* (connected)."""
    if site.transport == "local":
        return LocalTransport(site)
    if site.transport == "ssh":
        from distributor.ssh import SshTransport

        return SshTransport(site)
    raise TransportError(f"site {site.name}: unknown transport {site.transport!r}")
