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
first, so that :meth:`SshTransport.interrupt` can stop it with SIGTERM through a second channel:
the probe then prints UNKNOWN and releases its lock.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Any

import paramiko

from distributor.transport import (
    RunResult,
    StreamFeed,
    Transport,
    TransportError,
    take_stream_request,
)
from pps.errors import BadInput
from pps.inventory import Site

CONNECT_TIMEOUT = 15.0
KEEPALIVE = 15
CHUNK = 1 << 20
#: Where the one-file probe lives at a site, below the preview root.
BIN_DIR = ".pps/bin"
GIP_NAME = "pps-gip-provider"


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


class SshTransport(Transport):
    """A site reached over SSH; connects at once (TransportError naming the reason)."""

    def __init__(self, site: Site, *, timeout: float | None = None) -> None:
        super().__init__(site)
        timeout = timeout or site.connect_timeout
        if not site.host or not site.known_hosts:
            raise BadInput(f"site {site.name}: the ssh transport needs 'host' and 'known_hosts'")
        self._lock = threading.Lock()
        self._running: tuple[Any, int] | None = None  # (channel, remote pid)
        self._stopped = False
        self._sftp: Any = None
        self.client = paramiko.SSHClient()
        try:
            self.client.load_host_keys(str(site.known_hosts))
        except FileNotFoundError:
            pass  # every host is unknown: the connection fails below, with the fix
        except (OSError, paramiko.SSHException) as e:
            raise TransportError(f"site {site.name}: cannot read {site.known_hosts}: {e}") from None
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{site.user}@{site.host}:{site.port}"
        try:
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
            )
        except paramiko.BadHostKeyException as e:
            self.client.close()
            raise TransportError(
                f"site {site.name}: the host key of {site.host}:{site.port} CHANGED "
                f"(now {e.key.get_name()} {fingerprint(e.key)}, known_hosts has "
                f"{fingerprint(e.expected_key)}): refusing it; if the change is expected, "
                f"check it and run 'pps site trust {site.name}'"
            ) from None
        except paramiko.AuthenticationException as e:
            self.client.close()
            raise TransportError(
                f"site {site.name}: authentication as {where} failed: {e}"
            ) from None
        except paramiko.SSHException as e:
            self.client.close()
            text = str(e)
            if "No existing session" in text or "protocol banner" in text:
                raise TransportError(
                    f"site {site.name}: no SSH server answered at {where} within {timeout:g}s "
                    "(timed out)"
                ) from None
            if "No authentication methods available" in text:
                raise TransportError(
                    f"site {site.name}: authentication as {where} impossible: no 'identity' in "
                    "the inventory and no key in the SSH agent (SSH_AUTH_SOCK)"
                ) from None
            if "not found in known_hosts" in text:
                raise TransportError(
                    f"site {site.name}: the host key of {site.host}:{site.port} is unknown "
                    f"(not in {site.known_hosts}): check it and run 'pps site trust {site.name}'"
                ) from None
            raise TransportError(f"site {site.name}: ssh to {where} failed: {text}") from None
        except (OSError, EOFError) as e:
            self.client.close()
            raise TransportError(
                f"site {site.name}: cannot connect to {where}: {_reason(e)}"
            ) from None
        transport = self.client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE)

    # -- files
    @property
    def sftp(self) -> Any:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
        return self._sftp

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
                self.sftp.stat(current)
            except FileNotFoundError:
                try:
                    self.sftp.mkdir(current, 0o755)
                except OSError:
                    self.sftp.stat(current)  # someone else made it: fine; else it raises

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
            have = self.sftp.stat(part).st_size or 0
            if 0 < have <= size:
                offset = have  # a cut upload: go on from where it stopped
        except FileNotFoundError:
            pass
        try:
            with self.sftp.open(part, "ab" if offset else "wb") as f:
                f.set_pipelined(True)
                for chunk in chunks(offset):
                    f.write(chunk)
            # A pipelined write can fail without a word (a full disk): the size tells.
            written = self.sftp.stat(part).st_size
            if written != size:
                raise OSError(errno.EIO, f"{written} of {size} bytes written")
            self.sftp.posix_rename(part, path)
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
            self.sftp.remove(path)
        except OSError:
            pass

    def _free_bytes(self, directory: str) -> int | None:
        """Free bytes where *directory* is (``df``; SFTP reports a full disk as 'Failure')."""
        try:
            transport = self.client.get_transport()
            if transport is None:
                return None
            channel = transport.open_session(timeout=5)
            channel.exec_command(f"df -Pk {shlex.quote(directory)}")
            channel.settimeout(5)
            out = b""
            while True:
                data = channel.recv(4096)
                if not data:
                    break
                out += data
            channel.close()
            return int(out.decode().strip().splitlines()[-1].split()[3]) * 1024
        except (paramiko.SSHException, OSError, EOFError, ValueError, IndexError):
            return None

    def exists(self, path: str) -> bool:
        try:
            self.sftp.stat(self.site_path(path))
        except FileNotFoundError:
            return False
        return True

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        try:
            with self.sftp.open(self.site_path(path), "rb") as f:
                return bytes(f.read(limit + 1))
        except FileNotFoundError:
            return None

    def ensure_probe(self, bundle: bytes) -> None:
        """Upload the one-file probe unless this content is already there."""
        sha = hashlib.sha256(bundle).hexdigest()[:16]
        base = f"{self.site.preview_root.rstrip('/')}/{BIN_DIR}"
        self.pyz = f"{base}/check_preview_client-{sha}.pyz"
        self.gip = f"{base}/{GIP_NAME}-{sha}"
        try:
            if self.sftp.stat(self.pyz).st_size == len(bundle):
                return
        except FileNotFoundError:
            pass
        self.put_bytes(bundle, self.pyz)
        try:
            self.sftp.symlink(f"check_preview_client-{sha}.pyz", self.gip)
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
        line = f"echo $$; exec {python} {shlex.quote(target)} {command}"
        start = time.monotonic()
        with self._lock:
            if self._stopped:
                raise TransportError(f"site {self.site.name}: interrupted")
            transport = self.client.get_transport()
            if transport is None:
                raise TransportError(f"site {self.site.name}: the connection is gone")
            channel = transport.open_session(timeout=CONNECT_TIMEOUT)
            channel.exec_command(line)
        channel.settimeout(1.0)
        out, err = bytearray(), bytearray()
        pid_seen = False
        sender: threading.Thread | None = None
        deadline = start + timeout
        while True:
            if time.monotonic() > deadline:
                self._signal(channel, "KILL")
                channel.close()
                return RunResult(3, out.decode("utf-8", "replace"),
                                 f"{program} did not finish within {timeout:g}s",
                                 time.monotonic() - start)  # fmt: skip
            if channel.recv_ready():
                out += channel.recv(65536)
                if not pid_seen and b"\n" in out:
                    first, _, rest = bytes(out).partition(b"\n")
                    out = bytearray(rest)
                    pid_seen = True
                    if first.strip().isdigit():
                        with self._lock:
                            self._running = (channel, int(first))
            elif channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                if stream is not None and sender is None:
                    request = take_stream_request(err)
                    if request is not None:
                        sender = threading.Thread(
                            target=_feed_channel, args=(stream, request, channel), daemon=True
                        )
                        sender.start()
            elif channel.exit_status_ready() and not channel.recv_ready():
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                break
            else:
                time.sleep(0.01)
        code = channel.recv_exit_status()
        with self._lock:
            self._running = None
        channel.close()
        if sender is not None:
            sender.join(timeout=5)
        if code == -1:  # no exit status: the connection dropped
            raise TransportError(f"site {self.site.name}: the connection dropped during {program}")
        return RunResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                         time.monotonic() - start)  # fmt: skip

    def _signal(self, channel: Any, name: str) -> None:
        with self._lock:
            running = self._running
        if running is None:
            return
        try:
            transport = self.client.get_transport()
            if transport is None:
                return
            killer = transport.open_session(timeout=5)
            killer.exec_command(f"kill -{name} {running[1]}")
            killer.recv_exit_status()
            killer.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass

    def interrupt(self) -> None:
        """Stop the program running now (SIGTERM: it says UNKNOWN and releases its lock)."""
        with self._lock:
            self._stopped = True
            running = self._running
        if running is not None:
            self._signal(running[0], "TERM")

    def close(self) -> None:
        try:
            if self._sftp is not None:
                self._sftp.close()
        finally:
            self.client.close()


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


def known_key(site: Site) -> paramiko.PKey | None:
    """The key the inventory's known_hosts holds for *site*, if any."""
    assert site.known_hosts is not None
    keys = paramiko.HostKeys()
    try:
        keys.load(str(site.known_hosts))
    except FileNotFoundError:
        return None
    entry = keys.lookup(_host_entry(site))
    if not entry:
        return None
    return next(iter(entry.values()), None)


def trust(site: Site, key: paramiko.PKey) -> None:
    """Record *key* for *site* in the inventory's known_hosts (replacing an older key)."""
    assert site.known_hosts is not None
    keys = paramiko.HostKeys()
    try:
        keys.load(str(site.known_hosts))
    except FileNotFoundError:
        pass
    host = _host_entry(site)
    if host in keys:
        del keys[host]
    keys.add(host, key.get_name(), key)
    site.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    tmp = site.known_hosts.with_name(site.known_hosts.name + ".tmp")
    keys.save(str(tmp))
    tmp.replace(site.known_hosts)
