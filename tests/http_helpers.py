"""A real web server for the probe's network tests: TLS, Range, and faults on purpose.

:func:`serve` runs a :class:`~http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a
thread, serving the files of a directory over https (a self-signed certificate for 127.0.0.1 made
here with ``cryptography``; the probe trusts it through ``SSL_CERT_FILE``, see
:meth:`Server.env`) or plain http.  ``Range: bytes=N-`` is honoured (206 and ``Content-Range``)
unless a fault says otherwise.  Faults follow a small, explicit plan: a :class:`Fault` per path
(relative to the served root).  Every request is recorded (path, ``Range`` header, status).

Real sockets and real TLS: nothing in the probe is mocked.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import functools
import ipaddress
import re
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.probe_helpers import environ_without

#: Seconds a handler waits for a slow client before giving up on it (the server side only).
HANDLER_TIMEOUT = 20.0


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and its private key (PEM files)."""

    cert_file: Path
    key_file: Path


@functools.cache
def certificate() -> Certificate:
    """The test certificate (made once per test session, in a temporary directory)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="pps-test-tls-"))
    atexit.register(shutil.rmtree, directory, True)
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@dataclass(frozen=True)
class Fault:
    """What the server does to the requests for one path, instead of simply serving the file.

    Checked in this order:

    * ``hang``: accept the request and never answer (until the server stops);
    * ``status``: answer this HTTP status (no file) to the first ``times`` requests (``None``:
      to every request); later requests are served normally;
    * ``redirect``: answer ``302`` with this ``Location``;
    * ``cut_after``: on the first request only, promise the whole body (``Content-Length``),
      send this many bytes of it and close the connection (``reset``: abort it with a TCP RST
      instead of a clean close);
    * ``ignore_range``: answer every request with the whole file (200), ``Range`` or not.
    """

    hang: bool = False
    status: int = 0
    times: int | None = None
    redirect: str = ""
    cut_after: int | None = None
    reset: bool = False
    ignore_range: bool = False


@dataclass(frozen=True)
class Seen:
    """One request the server received, and the status it answered (0: none)."""

    path: str
    range: str | None
    status: int


class _HTTPServer(ThreadingHTTPServer):
    """The server with its plan, its record of requests and, for https, its TLS context."""

    daemon_threads = False  # server_close() joins every handler: nothing outlives the test
    block_on_close = True

    def __init__(self, root: Path, faults: Mapping[str, Fault], tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.faults = dict(faults)
        self.tls = tls
        self.seen: list[Seen] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake happens here, in the handler's thread.  The TLS socket takes over the
        # connection (the plain one is detached): close it here, shutdown_request cannot.
        request.settimeout(HANDLER_TIMEOUT)
        wrapped = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(wrapped, client_address)
        finally:
            super().shutdown_request(wrapped)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (the probe gave up, a failed handshake): noted, not printed."""
        self.errors.append(repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = HANDLER_TIMEOUT
    protocol_version = "HTTP/1.0"  # one request per connection

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _record(self, path: str, status: int) -> int:
        """Record the request; how many requests for *path* came so far, this one included."""
        with self.server.lock:
            self.server.seen.append(Seen(path, self.headers.get("Range"), status))
            count = self.server.counts.get(path, 0) + 1
            self.server.counts[path] = count
        return count

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = unquote(urlsplit(self.path).path).lstrip("/")
        fault = self.server.faults.get(path, Fault())
        with self.server.lock:
            count = self.server.counts.get(path, 0) + 1
        if fault.hang:
            self._record(path, 0)
            self.server.stopping.wait()
            self.close_connection = True
            return
        if fault.status and (fault.times is None or count <= fault.times):
            self._record(path, fault.status)
            self.send_error(fault.status)
            return
        if fault.redirect:
            self._record(path, 302)
            self.send_response(302)
            self.send_header("Location", fault.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = (self.server.root / path).resolve()
        if not file.is_relative_to(self.server.root) or not file.is_file():
            self._record(path, 404)
            self.send_error(404, "File not found")
            return
        data = file.read_bytes()
        start = 0
        wanted = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and not fault.ignore_range:
            start = int(match[1])
            if start >= len(data):
                self._record(path, 416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        status = 206 if start else 200
        count = self._record(path, status)
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault.cut_after is not None and count == 1:
            self.wfile.write(body[: fault.cut_after])
            self.wfile.flush()
            self._cut(fault.reset)
            return
        self.wfile.write(body)

    def _cut(self, reset: bool) -> None:
        """End the connection now, in the middle of the body."""
        self.close_connection = True
        sock = self.connection
        if reset:  # SO_LINGER 0: closing sends a RST instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the socket is really closed when its last file is
            sock.close()


@dataclass
class Server:
    """A running server: its base URL, what it was asked, and how to reach it."""

    url: str
    _server: _HTTPServer

    @property
    def requests(self) -> list[Seen]:
        with self._server.lock:
            return list(self._server.seen)

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.requests if s.path == path]

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment for a probe that trusts this server's certificate (and no other
        extra CA), with *overrides*."""
        cert = str(certificate().cert_file)
        return environ_without("SSL_CERT_DIR", SSL_CERT_FILE=cert, **overrides)


def _tls_context() -> ssl.SSLContext:
    cert = certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    return context


@contextlib.contextmanager
def serve(
    root: Path, *, tls: bool = True, faults: Mapping[str, Fault] | None = None
) -> Iterator[Server]:
    """Serve *root* on 127.0.0.1 (a free port) in a thread until the block ends.

    Over https unless ``tls=False``; *faults* maps a path relative to *root* (e.g. a release's
    ``tarball``) to what goes wrong with it.  On exit, hanging requests are released and every
    handler thread is joined.
    """
    server = _HTTPServer(root, faults or {}, _tls_context() if tls else None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield Server(f"{scheme}://127.0.0.1:{server.server_address[1]}/", server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
