"""The ``ssh`` transport: a partner site reached over SSH (the only module importing paramiko).

One connection per site, reused for every upload and command of a push: key authentication
(the site's ``identity``, else the operator's SSH agent), the inventory's ``known_hosts`` with
paramiko's RejectPolicy (an unknown or changed host key fails that site with the reason and the
command that fixes it, ``pps site trust``), connect, authentication and command timeouts, and a
keepalive so that a NAT box does not drop a long probe run.

Uploads go through SFTP to ``<path>.part`` and are renamed into place when complete; a ``.part``
that a cut connection left is resumed from its length (the site checks the sha256 of what it
gets, and a bad resume is redone from scratch by the next push).  The site-side programs run
from the one-file probe (``pps probe-bundle``), uploaded once per content (its sha256 is in its
name) into ``<preview_root>/.pps/bin/``: ``python3 <pyz> ARGS``.  A command prints its remote pid
first (``PPS-PID <pid>``), so that :meth:`SshTransport.interrupt` can stop it with SIGTERM
through a second channel: the probe then prints UNKNOWN and releases its lock; one that does
not stop within ``STOP_GRACE`` seconds gets SIGKILL and its channel is closed.

A site is never trusted to be quick or brief.  Every remote call (connecting, each SFTP open,
stat, read and rename, each 256 KiB of a write, the exec, ``df``, the kill, a channel's close)
has a deadline: the site's ``connect_timeout``, never past the transport's ``deadline`` or an
interruption's grace; a call still blocked then is ended by cutting the connection (paramiko's
own waits have none).  What a run prints is read through
:class:`distributor.transport.base.RunOutput` (bounded in bytes kept and read), ``df`` is read for
at most 4 KiB and 5 s, and the pid is looked for in the first 16 KiB.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import itertools
import logging
import math
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko

from distributor.transport.base import (
    DRAIN,
    STOP_GRACE,
    RunOutput,
    RunResult,
    StreamFeed,
    Transport,
    TransportError,
)
from pps.errors import BadInput
from pps.inventory import Site

CONNECT_TIMEOUT = 15.0
KEEPALIVE = 15
CHUNK = 1 << 20
#: Bytes of an upload written under one bound of :attr:`SshTransport.io_timeout` (a site as
#: slow as UPLOAD_PIECE per io_timeout, some 17 KB/s with the default 15 s, still gets its
#: file; one that takes longer for a piece is cut).
UPLOAD_PIECE = 256 << 10
#: Where the one-file probe lives at a site, below the preview root.
BIN_DIR = ".pps/bin"
GIP_NAME = "pps-gip-provider"
#: Seconds a kill (or a close) at the site may take, even past the site's deadline.
KILL_TIMEOUT = 3.0
#: ``df`` after a failed upload: at most this long, and this many bytes of its output.
DF_TIMEOUT = 5.0
DF_LIMIT = 4096
#: A run's command prints ``PPS-PID <pid>`` first (looked for in this many bytes of stdout).
PID_MARK = "PPS-PID"
PID_SEARCH = 16 << 10
_PID_LINE = re.compile(rb"PPS-PID ([1-9][0-9]{0,9})\r?")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: ``SHA256:<base64 of the key's sha256>``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _host_entry(site: Site) -> str:
    return site.host if site.port == 22 else f"[{site.host}]:{site.port}"


# paramiko logs a failed connection at ERROR level; without a handler Python would print it on
# the operator's terminal beside pps's own one-line reason.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def _reason(e: BaseException) -> str:
    if isinstance(e, socket.timeout):
        return "timed out"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        causes = list(e.errors.values())
        if causes and all(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        return "; ".join(_reason(c) for c in causes) or str(e)
    return str(e) or type(e).__name__


class _Watch:
    """Cuts a connection when a remote call outlives its time: one thread per connection,
    started with the first call, waiting on the earliest end of the calls in progress."""

    def __init__(self, cut: Callable[[str], None]) -> None:
        self._cut = cut
        self._cv = threading.Condition()
        self._calls: dict[int, tuple[float, str]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, until: float, reason: str) -> int:
        """Watch a call that must be over by *until* (else the connection is cut for
        *reason*); returns the token for :meth:`remove`."""
        with self._cv:
            token = next(self._tokens)
            self._calls[token] = (until, reason)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()
            self._cv.notify()
        return token

    def remove(self, token: int) -> None:
        with self._cv:
            self._calls.pop(token, None)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()

    def _run(self) -> None:
        with self._cv:
            while not self._closed:
                if not self._calls:
                    self._cv.wait()
                    continue
                until, reason = min(self._calls.values())
                left = until - time.monotonic()
                if left > 0:
                    self._cv.wait(left)
                    continue
                self._closed = True
                break
            else:
                return
        self._cut(reason)


class _PidLine:
    """The line ``PPS-PID <pid>`` that a run's command prints first, looked for in at most
    :data:`PID_SEARCH` bytes of its stdout: what the site's shell printed before it (login
    scripts) is dropped; without it (a shell that printed none) every byte is output."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._start = 0  # where the line being read begins in _buf
        self.done = False
        self.pid: int | None = None

    def feed(self, data: bytes) -> bytes:
        """Take *data*; return what of it is the program's output."""
        if self.done:
            return data
        self._buf += data
        while (nl := self._buf.find(b"\n", self._start)) >= 0:
            m = _PID_LINE.fullmatch(self._buf, self._start, nl)
            if m is not None and int(m[1]) > 1:
                self.pid = int(m[1])
                rest = bytes(self._buf[nl + 1 :])
                self._buf.clear()
                self.done = True
                return rest
            self._start = nl + 1
        if len(self._buf) > PID_SEARCH:
            return self.flush()
        return b""

    def flush(self) -> bytes:
        """No pid line: what was held is output."""
        self.done = True
        held = bytes(self._buf)
        self._buf.clear()
        return held


class SshTransport(Transport):
    """A site reached over SSH; entering it connects (TransportError naming the reason).

    Every remote call is bounded in time: at most the site's ``connect_timeout`` (its I/O
    timeout, :attr:`io_timeout`), never past :attr:`deadline`, nor past a few seconds after
    :meth:`interrupt`.  A call still blocked then is ended by cutting the connection (a
    watchdog thread, :class:`_Watch`): paramiko's own waits have no timeout of their own, and
    an SFTP server that never answers would block forever.  The site then fails with one line
    naming the call."""

    def __init__(self, site: Site, *, timeout: float | None = None) -> None:
        super().__init__(site)
        if not site.host or not site.known_hosts:
            raise BadInput(f"site {site.name}: the ssh transport needs 'host' and 'known_hosts'")
        #: Seconds one remote call may take (connecting: each of its stages).
        self.io_timeout = timeout or site.connect_timeout
        self._lock = threading.Lock()
        self._in_run = False
        self._stopped_at: float | None = None
        self._stop_by = math.inf  # calls end by then, once interrupted
        self._cut_reason = ""
        self._sock: socket.socket | None = None
        self._sftp: Any = None
        self._watch = _Watch(self._cut)
        self.client = paramiko.SSHClient()

    # -- the connection and its bounds
    def connect(self) -> None:
        site = self.site
        timeout = self.io_timeout
        try:
            self.client.load_host_keys(str(site.known_hosts))
        except FileNotFoundError:
            pass  # every key is unknown: the connection fails below, with the fix
        except (OSError, paramiko.SSHException) as e:
            raise TransportError(f"site {site.name}: cannot read {site.known_hosts}: {e}") from None
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{site.user}@{site.host}:{site.port}"
        try:
            sock = self._open_socket(timeout)
            self.client.connect(
                site.host,
                port=site.port,
                username=site.user,
                key_filename=str(site.identity) if site.identity else None,
                look_for_keys=False,
                allow_agent=site.identity is None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                sock=sock,
            )
        except TransportError:
            raise
        except Exception as e:
            self.client.close()
            if self._stopped_at is not None:
                raise TransportError(f"site {site.name}: interrupted while connecting") from None
            raise self._connect_error(e, where, timeout) from None
        transport = self.client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE)

    def _open_socket(self, timeout: float) -> socket.socket:
        """A TCP connection to the site, that :meth:`interrupt` can close while it connects."""
        site = self.site
        error: OSError = OSError(f"no address for {site.host}")
        for family, kind, proto, _, address in socket.getaddrinfo(
            site.host, site.port, type=socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self._stopped_at is not None:
                    sock.close()
                    raise TransportError(f"site {site.name}: interrupted while connecting")
                self._sock = sock
            try:
                sock.settimeout(timeout)
                sock.connect(address)
                return sock
            except OSError as e:
                sock.close()
                error = e
        raise error

    def _connect_error(self, e: BaseException, where: str, timeout: float) -> TransportError:
        site = self.site
        if isinstance(e, paramiko.BadHostKeyException):
            return TransportError(
                f"site {site.name}: the host key of {site.host}:{site.port} CHANGED "
                f"(now {e.key.get_name()} {fingerprint(e.key)}, known_hosts has "
                f"{fingerprint(e.expected_key)}): refusing it; if the change is expected, "
                f"check it and run 'pps site trust {site.name}'"
            )
        if isinstance(e, paramiko.AuthenticationException):
            return TransportError(f"site {site.name}: authentication as {where} failed: {e}")
        if isinstance(e, paramiko.SSHException):
            text = str(e)
            if "No existing session" in text or "protocol banner" in text:
                return TransportError(
                    f"site {site.name}: no SSH server answered at {where} within {timeout:g}s "
                    "(timed out)"
                )
            if "No authentication methods available" in text:
                return TransportError(
                    f"site {site.name}: authentication as {where} impossible: no 'identity' in "
                    "the inventory and no key in the SSH agent (SSH_AUTH_SOCK)"
                )
            if "not found in known_hosts" in text:
                return TransportError(
                    f"site {site.name}: the host key of {site.host}:{site.port} is unknown "
                    f"(not in {site.known_hosts}): check it and run 'pps site trust {site.name}'"
                )
            return TransportError(f"site {site.name}: ssh to {where} failed: {text}")
        if isinstance(e, (OSError, EOFError)):
            return TransportError(f"site {site.name}: cannot connect to {where}: {_reason(e)}")
        return TransportError(f"site {site.name}: ssh to {where} failed: {_reason(e)}")

    def _cut(self, reason: str) -> None:
        """End the connection (from any thread): every call blocked on it returns or raises,
        and every later call raises TransportError(*reason*)."""
        with self._lock:
            if not self._cut_reason:
                self._cut_reason = reason
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        transport = self.client.get_transport()
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def _gone(self) -> TransportError:
        return TransportError(
            f"site {self.site.name}: {self._cut_reason or 'the connection is gone'}"
        )

    @contextlib.contextmanager
    def _call(
        self, what: str, seconds: float | None = None, *, after_deadline: bool = False
    ) -> Iterator[None]:
        """Bound the remote call *what*: at most *seconds* (default :attr:`io_timeout`), and
        unless *after_deadline* (a kill, a close) not past :attr:`deadline` nor past an
        interruption's grace.  Past its time the connection is cut, and the call raises
        TransportError naming it."""
        if self._cut_reason:
            raise self._gone()
        now = time.monotonic()
        limit = self.io_timeout if seconds is None else seconds
        if not after_deadline:
            if self._stopped_at is not None and self._stop_by <= now:
                raise TransportError(f"site {self.site.name}: interrupted")
            left = min(self.deadline, self._stop_by) - now
            if left <= 0:
                raise TransportError(f"site {self.site.name}: out of time before {what}")
            limit = min(limit, left)
        token = self._watch.add(now + limit, f"{what} did not answer within {round(limit, 1):g}s")
        try:
            yield
        except (OSError, EOFError, paramiko.SSHException) as e:
            if self._cut_reason:
                raise self._gone() from None
            if isinstance(e, OSError):
                raise  # what the site said (no such file, no space): the caller decides
            raise TransportError(f"site {self.site.name}: {what} failed: {_reason(e)}") from None
        finally:
            self._watch.remove(token)

    def _transport(self) -> Any:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self._gone()
        return transport

    # -- files
    @property
    def sftp(self) -> Any:
        """The SFTP session (opened on first use, bounded like every call)."""
        if self._sftp is None:
            with self._call("the SFTP server"):
                channel = self._transport().open_session(timeout=self.io_timeout)
                channel.invoke_subsystem("sftp")
                self._sftp = paramiko.SFTPClient(channel)
        return self._sftp

    def _sftp_call(self, what: str, method: str, *args: Any) -> Any:
        sftp = self.sftp
        with self._call(f"SFTP {what}"):
            return getattr(sftp, method)(*args)

    def site_path(self, path: str) -> str:
        if not path.startswith("/") or ".." in path.split("/"):
            raise BadInput(f"site path {path!r} must be absolute, without '..'")
        return path

    def _makedirs(self, directory: str) -> None:
        parts = [p for p in directory.split("/") if p]
        current = ""
        for part in parts:
            current += "/" + part
            try:
                self._sftp_call(f"stat of {current}", "stat", current)
            except FileNotFoundError:
                try:
                    self._sftp_call(f"mkdir of {current}", "mkdir", current, 0o755)
                except OSError:
                    # someone else made it: fine; else it raises
                    self._sftp_call(f"stat of {current}", "stat", current)

    def put_file(self, local: Path, path: str) -> None:
        self._upload(path, local.stat().st_size, lambda offset: _file_chunks(local, offset))

    def put_bytes(self, data: bytes, path: str) -> None:
        self._upload(path, len(data), lambda offset: iter([data[offset:]]))

    def _upload(self, path: str, size: int, chunks: Any) -> None:
        path = self.site_path(path)
        self._makedirs(path.rsplit("/", 1)[0] or "/")
        part = path + ".part"
        offset = 0
        try:
            have = self._sftp_call(f"stat of {part}", "stat", part).st_size or 0
            if 0 < have <= size:
                offset = have  # a cut upload: go on from where it stopped
        except FileNotFoundError:
            pass
        try:
            f = self._sftp_call(f"open of {part}", "open", part, "ab" if offset else "wb")
            try:
                f.set_pipelined(True)
                for chunk in chunks(offset):
                    for at in range(0, len(chunk), UPLOAD_PIECE):
                        with self._call(f"SFTP write to {part}"):
                            f.write(chunk[at : at + UPLOAD_PIECE])
            finally:
                with self._call(f"SFTP close of {part}"):
                    f.close()
            # A pipelined write can fail without a word (a full disk): the size tells.
            written = self._sftp_call(f"stat of {part}", "stat", part).st_size
            if written != size:
                raise OSError(errno.EIO, f"{written} of {size} bytes written")
            self._sftp_call(f"rename of {part}", "posix_rename", part, path)
        except OSError as e:
            free = self._free_bytes(path.rsplit("/", 1)[0] or "/")
            full = getattr(e, "errno", None) == errno.ENOSPC or "No space" in str(e)
            self._remove_quietly(part)
            if full or (free is not None and free < size - offset + (1 << 20)):
                said = f" ({free >> 10} KiB free)" if free is not None else ""
                raise TransportError(
                    f"site {self.site.name}: no space left for {path}{said}"
                ) from None
            raise TransportError(f"site {self.site.name}: cannot write {path}: {e}") from None

    def _remove_quietly(self, path: str) -> None:
        try:
            self._sftp_call(f"remove of {path}", "remove", path)
        except (OSError, TransportError):
            pass  # (the connection may be gone: what failed before says why)

    def _free_bytes(self, directory: str) -> int | None:
        """Free bytes where *directory* is (``df``; SFTP reports a full disk as 'Failure'):
        at most :data:`DF_LIMIT` bytes of its output read, within :data:`DF_TIMEOUT`."""
        until = time.monotonic() + DF_TIMEOUT
        try:
            # the read below ends by *until*; the watch, a second later, only for a site that
            # does not even answer the session's open or exec (then the connection is cut)
            with self._call("df", DF_TIMEOUT + 1):
                channel = self._transport().open_session(timeout=DF_TIMEOUT)
                try:
                    channel.exec_command(f"df -Pk {shlex.quote(directory)}")
                    out = bytearray()
                    while len(out) <= DF_LIMIT:
                        left = until - time.monotonic()
                        if left <= 0:
                            return None
                        channel.settimeout(left)
                        data = channel.recv(DF_LIMIT + 1 - len(out))
                        if not data:
                            break
                        out += data
                    else:
                        return None  # more than df says: not its answer
                finally:
                    channel.close()
        except (TransportError, paramiko.SSHException, OSError, EOFError):
            return None
        fields = bytes(out).strip().splitlines()[-1:]
        free = fields[0].split()[3:4] if fields else []
        if not free or not re.fullmatch(rb"[0-9]{1,18}", free[0]):
            return None
        return int(free[0]) * 1024

    def exists(self, path: str) -> bool:
        try:
            self._sftp_call(f"stat of {path}", "stat", self.site_path(path))
        except FileNotFoundError:
            return False
        return True

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        path = self.site_path(path)
        try:
            f = self._sftp_call(f"open of {path}", "open", path, "rb")
        except FileNotFoundError:
            return None
        try:
            with self._call(f"SFTP read of {path}"):
                return bytes(f.read(limit + 1))
        finally:
            with self._call(f"SFTP close of {path}"):
                f.close()

    def ensure_probe(self, bundle: bytes) -> None:
        """Upload the one-file probe unless this content is already there."""
        sha = hashlib.sha256(bundle).hexdigest()[:16]
        base = f"{self.site.preview_root.rstrip('/')}/{BIN_DIR}"
        self.pyz = f"{base}/check_preview_client-{sha}.pyz"
        self.gip = f"{base}/{GIP_NAME}-{sha}"
        try:
            if self._sftp_call(f"stat of {self.pyz}", "stat", self.pyz).st_size == len(bundle):
                return
        except FileNotFoundError:
            pass
        self.put_bytes(bundle, self.pyz)
        try:
            self._sftp_call(f"symlink at {self.gip}", "symlink",
                            f"check_preview_client-{sha}.pyz", self.gip)  # fmt: skip
        except OSError:
            pass  # already there

    # -- programs
    def run(
        self, program: str, args: list[str], timeout: float, stream: StreamFeed | None = None
    ) -> RunResult:
        if not hasattr(self, "pyz"):
            raise TransportError(f"site {self.site.name}: the probe was not uploaded")
        target = {"check_preview_client": self.pyz, GIP_NAME: self.gip}.get(program)
        if target is None:
            raise BadInput(f"unknown site-side program {program!r}")
        python = shlex.quote(self.site.python)
        command = " ".join(shlex.quote(a) for a in args)
        # The pid first (for interrupt), then the program in the shell's place.
        line = f"echo {PID_MARK} $$; exec {python} {shlex.quote(target)} {command}"
        start = time.monotonic()
        with self._lock:
            if self._stopped_at is not None:
                raise TransportError(f"site {self.site.name}: interrupted")
            self._in_run = True
        try:
            return self._run(program, line, timeout, min(start + timeout, self.deadline),
                             stream, start)  # fmt: skip
        finally:
            with self._lock:
                self._in_run = False

    def _run(self, program: str, line: str, timeout: float, deadline: float,
             stream: StreamFeed | None, start: float) -> RunResult:  # fmt: skip
        with self._call(f"the start of {program}"):
            channel = self._transport().open_session(timeout=self.io_timeout)
            channel.exec_command(line)
        channel.settimeout(1.0)
        reading = RunOutput(program, stream)
        pid_line = _PidLine()
        sender: threading.Thread | None = None
        term_sent = False
        exited_at: float | None = None
        try:
            while not reading.failure:
                now = time.monotonic()
                if self._stopped_at is not None:
                    if not term_sent and pid_line.pid is not None:
                        term_sent = True
                        self._signal(pid_line.pid, "TERM")
                    if now > self._stopped_at + STOP_GRACE:
                        how = "killed" if pid_line.pid is not None else "its channel closed"
                        reading.failure = (f"{program} was interrupted and did not stop within "
                                           f"{STOP_GRACE:g}s of SIGTERM: {how}")  # fmt: skip
                        break
                if now > deadline:
                    reading.failure = f"{program} did not finish within {timeout:g}s"
                    break
                if channel.recv_ready():
                    data = channel.recv(65536)
                    reading.stdout(pid_line.feed(data))
                elif channel.recv_stderr_ready():
                    request = reading.stderr(channel.recv_stderr(65536))
                    if request is not None and stream is not None:
                        sender = threading.Thread(
                            target=_feed_channel, args=(stream, request, channel), daemon=True
                        )
                        sender.start()
                elif channel.exit_status_ready():
                    if channel.eof_received or channel.closed:
                        break
                    exited_at = exited_at or now
                    if now > exited_at + DRAIN:
                        break  # a child it left holds its output: enough
                    time.sleep(0.01)
                else:
                    time.sleep(0.01)
            # what came with the exit (after the checks above): bounded like the rest
            while not reading.failure and channel.recv_ready():
                reading.stdout(pid_line.feed(channel.recv(65536)))
            while not reading.failure and channel.recv_stderr_ready():
                reading.stderr(channel.recv_stderr(65536))
            reading.stdout(pid_line.flush())
            if reading.failure and pid_line.pid is not None:
                self._signal(pid_line.pid, "KILL")
            code = -1 if reading.failure else channel.recv_exit_status()
        finally:
            self._close_channel(channel)
            if sender is not None:
                sender.join(timeout=5)
        if code == -1 and not reading.failure:  # no exit status: the connection dropped
            if self._cut_reason:
                raise self._gone()
            raise TransportError(f"site {self.site.name}: the connection dropped during {program}")
        return reading.result(code, time.monotonic() - start)

    def _close_channel(self, channel: Any) -> None:
        """Close *channel* (bounded: a site that stops reading would hold the close)."""
        try:
            with self._call("the close of a channel", KILL_TIMEOUT, after_deadline=True):
                channel.close()
        except (TransportError, paramiko.SSHException, OSError, EOFError):
            pass  # the connection is gone (or was cut): so is the channel

    def _signal(self, pid: int, name: str) -> None:
        """``kill -NAME pid`` at the site, through a channel of its own (bounded)."""
        try:
            with self._call(f"kill -{name}", KILL_TIMEOUT, after_deadline=True):
                killer = self._transport().open_session(timeout=KILL_TIMEOUT)
                try:
                    killer.exec_command(f"kill -{name} {pid}")
                    killer.status_event.wait(KILL_TIMEOUT)
                finally:
                    killer.close()
        except (TransportError, paramiko.SSHException, OSError, EOFError):
            pass

    def interrupt(self) -> None:
        """Stop at once, without waiting: the program running now gets SIGTERM (it says
        UNKNOWN and releases its lock), SIGKILL after :data:`STOP_GRACE` seconds (the run
        does it); outside a run the connection is cut (an upload, connecting)."""
        with self._lock:
            first = self._stopped_at is None
            if first:
                self._stopped_at = time.monotonic()
                self._stop_by = self._stopped_at + STOP_GRACE
            in_run = self._in_run
        if not in_run:
            self._cut("interrupted")
        elif first:
            # The run stops by itself (TERM, the grace, KILL); a call it is blocked in (its
            # start, the kill, a close) is cut once the kill has had its time.
            self._watch.add(self._stop_by + KILL_TIMEOUT + 1.0, "interrupted")

    def close(self) -> None:
        try:
            if self._sftp is not None and not self._cut_reason:
                with contextlib.suppress(TransportError, paramiko.SSHException, OSError, EOFError):
                    with self._call("SFTP close", KILL_TIMEOUT, after_deadline=True):
                        self._sftp.close()
        finally:
            self.client.close()
            self._watch.close()
            if self._sock is not None:
                self._sock.close()


def _feed_channel(stream: StreamFeed, request: bytes, channel: Any) -> None:
    """Send the answer to the probe's stream request on *channel*'s stdin, then EOF.  Waits on
    the site's window as long as the channel is open (the site unpacks as fast as it can)."""
    try:
        for piece in stream.answer(request):
            view = memoryview(piece)
            while view:
                try:
                    sent = channel.send(view)
                except socket.timeout:
                    continue  # the site's window is full: it is still unpacking
                if sent == 0:
                    return  # the channel is closed: the run's exit says why
                view = view[sent:]
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the run ended (or the connection did): its exit status says what happened


def _file_chunks(path: Path, offset: int) -> Any:
    with open(path, "rb") as f:
        f.seek(offset)
        yield from iter(lambda: f.read(CHUNK), b"")


def scan_host_key(site: Site, timeout: float = CONNECT_TIMEOUT) -> paramiko.PKey:
    """The host key *site* presents (no authentication, nothing trusted)."""
    try:
        sock = socket.create_connection((site.host, site.port), timeout=timeout)
    except OSError as e:
        raise TransportError(f"site {site.name}: cannot connect to {site.host}:{site.port}: "
                             f"{_reason(e)}") from None  # fmt: skip
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as e:
        raise TransportError(f"site {site.name}: no SSH host key from {site.host}:{site.port}: "
                             f"{_reason(e)}") from None  # fmt: skip
    finally:
        transport.close()


def _require_known_hosts(site: Site) -> Path:
    """The known_hosts file of *site* (the inventory always sets one for an SSH site)."""
    if site.known_hosts is None:
        raise TransportError(f"site {site.name}: no known_hosts file for its SSH host key")
    return site.known_hosts


def known_key(site: Site) -> paramiko.PKey | None:
    """The key the inventory's known_hosts holds for *site*, if any."""
    known_hosts = _require_known_hosts(site)
    keys = paramiko.HostKeys()
    try:
        keys.load(str(known_hosts))
    except FileNotFoundError:
        return None
    entry = keys.lookup(_host_entry(site))
    if not entry:
        return None
    return next(iter(entry.values()), None)


def trust(site: Site, key: paramiko.PKey) -> None:
    """Record *key* for *site* in the inventory's known_hosts (replacing an older key)."""
    known_hosts = _require_known_hosts(site)
    keys = paramiko.HostKeys()
    try:
        keys.load(str(known_hosts))
    except FileNotFoundError:
        pass
    host = _host_entry(site)
    if host in keys:
        del keys[host]
    keys.add(host, key.get_name(), key)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    tmp = known_hosts.with_name(known_hosts.name + ".tmp")
    keys.save(str(tmp))
    tmp.replace(known_hosts)
