"""Transports: how the distributor reaches a site.

A transport does three things and nothing more: map a path at the site to what the site-side
programs see, put bytes at a path at the site, and run one of the site-side programs there.  All
site changes are made by those programs (the probe, the GIP provider), never by the transport, so
every transport exercises the same site-side code.

``local``: the site is a directory tree on this machine (``root`` stands for the site's ``/``)
and the programs run as subprocesses of this Python.  ``ssh`` comes with the SSH distribution work
and will live in its own module, the only one importing paramiko.
"""

from __future__ import annotations

import subprocess
import sys
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

    def run(self, program: str, args: list[str], timeout: float) -> RunResult:
        if program not in PROGRAMS:
            raise BadInput(f"unknown site-side program {program!r}")
        argv = [sys.executable, "-m", PROGRAMS[program], *args]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else ""
            return RunResult(
                3, out, f"{program} did not finish within {timeout:g}s", time.monotonic() - start
            )
        return RunResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def open_transport(site: Site) -> Transport:
    """The transport the inventory names for *site*."""
    if site.transport == "local":
        return LocalTransport(site)
    raise TransportError(
        f"site {site.name}: transport {site.transport!r} is not available in this version "
        "(only 'local' is)"
    )
