"""Transports: how the distributor reaches a site.

A transport does three things and nothing more: map a path at the site to what the site-side
programs see, put bytes at a path at the site, and run one of the site-side programs there.  All
site changes are made by those programs (the probe, the GIP provider), never by the transport, so
every transport exercises the same site-side code.

``local``: the site is a directory tree on this machine (``root`` stands for the site's ``/``)
and the programs run as subprocesses of this Python (:mod:`distributor.transport.local`).
``ssh``: :mod:`distributor.transport.ssh`, the only
module importing paramiko; the programs run from the one-file probe it uploads.

What a site sends back is bounded, the same way for both transports (:class:`RunOutput`): of
each output stream the first 48 KiB (the status line first) and the last 16 KiB are kept, with
a line saying how much was cut between them; a program that prints more than 16 MiB on one
stream is stopped (a GIP provider's LDIF is kept whole up to that bound, never cut); the
stream request is found in one pass over stderr holding at most 256 bytes, and parsed by its
grammar (:func:`parse_stream_request`).  A run ends by its timeout and :attr:`Transport.deadline`
whatever the program does, and an interruption stops it within :data:`STOP_GRACE` seconds
(SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pps.errors import PPSError
from pps.inventory import Site

#: Site-side programs and the modules that implement them.
PROGRAMS = {
    "check_preview_client": "probes.check_preview_client",
    "pps-gip-provider": "probes.gip_provider",
}


#: Seconds a run gets beyond the program's own --timeout (it stops its tests, says UNKNOWN).
RUN_SLACK = 30.0


def site_budget(site: Site, timeout: float) -> float:
    """Seconds everything at *site* may take, for a program *timeout*: connecting and the
    uploads (twice the site's ``connect_timeout``), then the run (*timeout* and
    :data:`RUN_SLACK`); no remote call outlives it."""
    return 2 * site.connect_timeout + timeout + RUN_SLACK


class TransportError(PPSError):
    """The site could not be reached or refused what was asked."""


#: How a probe run with ``--push-stream`` asks for the tarball, on its stderr (the exchange is
#: described in probes/_pushed.py, the other end).
STREAM_REQUEST = b"PPS-SEND "
STREAM_CHUNK = 1 << 20
#: The longest stream request read: ``PPS-SEND <kept> <sha256>`` is under 100 bytes.
MAX_REQUEST_LINE = 256
#: The request's grammar: a count of at most 19 digits (no leading zero), a lowercase sha256.
_REQUEST = re.compile(rb"PPS-SEND (0|[1-9][0-9]{0,18}) ([0-9a-f]{64})")

#: What is kept of each output stream of a site-side run: its first and its last bytes.
OUTPUT_HEAD = 48 << 10
OUTPUT_TAIL = 16 << 10
#: Bytes a run may print on one stream; past that the program is stopped (an honest probe
#: prints a few KiB, a GIP provider some KiB per tag).
OUTPUT_LIMIT = 16 << 20
#: Seconds a program gets to stop after SIGTERM (an interrupted push) before SIGKILL.
STOP_GRACE = 5.0
#: Seconds the output of a program that exited is still read (a child it left may hold it).
DRAIN = 2.0


def output_limits(program: str) -> tuple[int, int]:
    """(head, tail) kept of *program*'s output streams: a GIP provider's LDIF is kept whole
    (up to :data:`OUTPUT_LIMIT`; a cut LDIF would be read as a smaller publication)."""
    if program == "pps-gip-provider":
        return OUTPUT_LIMIT, 0
    return OUTPUT_HEAD, OUTPUT_TAIL


class OutputBuffer:
    """What a program printed on one stream, in bounded memory: the first *head* bytes, the
    last *tail* bytes, and how many came (:attr:`total`)."""

    def __init__(self, head: int = OUTPUT_HEAD, tail: int = OUTPUT_TAIL) -> None:
        self._head_max = head
        self._tail_max = tail
        self._head = bytearray()
        self._tail = bytearray()  # up to twice the tail, trimmed when longer: linear
        self.total = 0

    def extend(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_max - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data or not self._tail_max:
            return
        if len(data) >= self._tail_max:
            self._tail[:] = data[-self._tail_max :]
        else:
            self._tail += data
            if len(self._tail) > 2 * self._tail_max:
                del self._tail[: -self._tail_max]

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def tail(self) -> bytes:
        return bytes(self._tail[-self._tail_max :]) if self._tail_max else b""

    @property
    def held(self) -> int:
        """Bytes in memory now."""
        return len(self._head) + len(self._tail)

    @property
    def cut(self) -> int:
        """Bytes that came and were not kept."""
        return self.total - len(self._head) - len(self.tail)

    def text(self) -> str:
        """What was kept, as text; a line in the middle says how much was cut."""
        if not self.cut:
            return (self.head + self.tail).decode("utf-8", "replace")
        marker = f"\n[... {self.cut} bytes of output cut ...]\n"
        return self.head.decode("utf-8", "replace") + marker + self.tail.decode("utf-8", "replace")


class RequestFinder:
    """Finds the probe's stream request in its stderr as the bytes arrive, in one pass and
    holding at most :data:`MAX_REQUEST_LINE` bytes: the first line that starts with
    ``PPS-SEND`` is the request (cut at that bound when longer: then it is not understood);
    every other byte is passed on (:meth:`feed` returns them), in order."""

    def __init__(self) -> None:
        #: The request line once seen (without its newline), else None.
        self.request: bytes | None = None
        self._line = bytearray()  # the start of the current line while it may be the request
        self._other = False  # in a line that is not the request: passed on up to its newline
        self._skip = False  # in the rest of a request line longer than the bound: dropped

    @property
    def held(self) -> int:
        return len(self._line)

    def feed(self, data: bytes) -> bytes:
        """Take *data*; return what of it is not the request (some may be held until its line
        says whether it is the request)."""
        out = bytearray()
        i, n = 0, len(data)
        while i < n:
            if self.request is not None and not self._skip:
                out += data[i:]
                break
            if self._other or self._skip:
                nl = data.find(b"\n", i)
                end = n if nl < 0 else nl + 1
                if self._other:
                    out += data[i:end]
                i = end
                if nl >= 0:
                    self._other = self._skip = False
                continue
            room = MAX_REQUEST_LINE + 1 - len(self._line)
            nl = data.find(b"\n", i, i + room)
            end = nl if nl >= 0 else min(n, i + room)
            self._line += data[i:end]
            i = end
            line = self._line
            if not (line.startswith(STREAM_REQUEST) or STREAM_REQUEST.startswith(line)):
                out += line  # not the request: passed on, with the rest of its line
                self._line = bytearray()
                self._other = nl < 0
                continue
            if nl >= 0:  # a whole line
                i = nl + 1
                if line.startswith(STREAM_REQUEST):
                    self.request = bytes(line)
                else:  # a piece of "PPS-SEND " alone on its line
                    out += line + b"\n"
                self._line = bytearray()
            elif len(line) > MAX_REQUEST_LINE:  # the request, and too long to be understood
                self.request = bytes(line[:MAX_REQUEST_LINE])
                self._line = bytearray()
                self._skip = True
        return bytes(out)

    def flush(self) -> bytes:
        """The end of the stream: what was held (a line that never ended is not a request)."""
        held, self._line = bytes(self._line), bytearray()
        return held


def parse_stream_request(line: bytes) -> tuple[int, str] | None:
    """``(kept, sha256)`` from a stream request ``PPS-SEND <kept> <sha256>``, or None when the
    line is not one (any other bytes: never raises)."""
    m = _REQUEST.fullmatch(line)
    if m is None:
        return None
    return int(m[1]), m[2].decode("ascii")


class StreamFeed:
    """The local tarball a probe run may ask for: the push's side of ``--push-stream``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What the site asked for: None (nothing), else the offset the stream started at.
        self.start: int | None = None
        self.kept = 0
        #: The site asked in a form pps does not send: nothing was sent.
        self.refused = False

    def describe(self) -> str:
        """One line on what went, for the site's long output ("" when nothing was asked)."""
        if self.refused:
            return ("tarball: not sent: the site asked for it in a form pps does not send "
                    "(not 'PPS-SEND <bytes> <sha256>')")  # fmt: skip
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
        those bytes are the first bytes of this tarball.  A request that does not follow the
        grammar gets nothing (the site's standard input then ends)."""
        asked = parse_stream_request(request)
        if asked is None:
            self.refused = True
            return
        self.kept, digest = asked
        start = 0
        if 0 < self.kept <= self.path.stat().st_size and (
            _prefix_sha256(self.path, self.kept) == digest
        ):
            start = self.kept
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


class RunOutput:
    """The reading side of one run, shared by the transports: both streams bounded (kept and
    read, :data:`OUTPUT_LIMIT`), the stream request taken out of stderr as it arrives."""

    def __init__(self, program: str, stream: StreamFeed | None) -> None:
        head, tail = output_limits(program)
        self.program = program
        self.out = OutputBuffer(head, tail)
        self.err = OutputBuffer(head, tail)
        self.finder = RequestFinder() if stream is not None else None
        #: Why the run was stopped ("" while it was not).
        self.failure = ""

    def stdout(self, data: bytes) -> None:
        self.out.extend(data)
        self._check(self.out, "stdout")

    def stderr(self, data: bytes) -> bytes | None:
        """Take *data* from stderr; the stream request when it has just arrived."""
        request = None
        if self.finder is not None:
            before = self.finder.request
            data = self.finder.feed(data)
            if before is None:
                request = self.finder.request
        self.err.extend(data)
        self._check(self.err, "stderr")
        return request

    def _check(self, buf: OutputBuffer, name: str) -> None:
        if buf.total > OUTPUT_LIMIT and not self.failure:
            self.failure = (f"{self.program} printed more than {OUTPUT_LIMIT >> 20} MiB on "
                            f"{name}: stopped")  # fmt: skip

    def result(self, exit_code: int, seconds: float) -> RunResult:
        if self.finder is not None:
            self.err.extend(self.finder.flush())
        stderr = self.err.text()
        if self.failure:
            exit_code = 3
            stderr = f"{stderr.rstrip()}\n{self.failure}".lstrip()
        return RunResult(exit_code, self.out.text(), stderr, seconds, self.failure)


@dataclass(frozen=True)
class RunResult:
    """What one site-side program run gave back."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    #: Why the transport stopped the program ("" when it ended by itself): it did not finish
    #: in time, printed too much, or ignored an interruption; one line.
    failure: str = ""


class Transport(ABC):
    """One connection to one site; use as a context manager (entering it connects).

    Every read from the site is bounded in bytes (:class:`RunOutput`) and every remote call in
    time, never past :attr:`deadline` (a ``time.monotonic()`` value, set by the caller; none by
    default); :meth:`interrupt`, from another thread, stops whatever the transport is doing
    within :data:`STOP_GRACE` seconds and a little more."""

    def __init__(self, site: Site) -> None:
        self.site = site
        #: When everything at this site must be over (``time.monotonic()``).
        self.deadline = math.inf

    def __enter__(self) -> Transport:
        try:
            self.connect()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:  # noqa: B027 - optional hook
        """Reach the site (TransportError naming the reason)."""

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
        """Stop, from another thread, without waiting: the program running now gets SIGTERM
        (it says UNKNOWN, releases its lock), and SIGKILL after :data:`STOP_GRACE` seconds;
        the running :meth:`run` returns what it printed; any other call fails at once."""

    @abstractmethod
    def run(
        self, program: str, args: list[str], timeout: float, stream: StreamFeed | None = None
    ) -> RunResult:
        """Run the site-side *program* with *args* for at most *timeout* seconds (and never
        past :attr:`deadline`); never raises for a non-zero exit, a timeout or too much
        output (:attr:`RunResult.failure` says).  With *stream*, the program's request for the
        tarball (``--push-stream``) is answered on its standard input."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""
