"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, on a free port, keeping what it
received (envelope, message, whether the session was TLS and who authenticated)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd", reason="pip install aiosmtpd (the test extras)")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

USER, PASSWORD = "pps-sender", "s3cret pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str

    @property
    def body(self) -> str:
        """The text body, with the line ends SMTP carried it with (CRLF) made plain again."""
        return str(self.message.get_content()).replace("\r\n", "\n")


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    #: Recipients answered with this (e.g. "550 5.1.1 no such list") instead of 250.
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:  # fmt: skip
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        data = session.auth_data
        login = data.login.decode() if isinstance(data, LoginPassword) else ""
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg,  # type: ignore[arg-type]
                                      session.ssl is not None, login))  # fmt: skip
        return "250 Message accepted for delivery"


@dataclass
class SMTPServer:
    port: int
    handler: Handler
    controller: Any = None
    ca_file: Path | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:  # fmt: skip
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)  # fmt: skip
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def start(port: int, handler: Handler, *, tls_dir: Path | None = None) -> SMTPServer:
    """An SMTP server on 127.0.0.1:*port*; with *tls_dir* it requires STARTTLS and AUTH."""
    kwargs: dict[str, Any] = {}
    ca = None
    if tls_dir is not None:
        import ssl

        cert, key = _self_signed(tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kwargs.update(tls_context=ctx, require_starttls=True, authenticator=_authenticator,
                      auth_required=True, auth_require_tls=True)  # fmt: skip
        ca = cert
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SMTPServer(port, handler, controller, ca)


def _self_signed(where: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    where.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = where / "smtp-cert.pem", where / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def notify_section(port: int, **extra: str) -> str:
    lines = ["", "[notify]", 'smtp_host = "127.0.0.1"', f"smtp_port = {port}",
             'sender = "pps@example.org"', 'broadcast = ["early-adopters@example.org"]',
             'announce = ["site-admins@example.org"]', "timeout = 10"]  # fmt: skip
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on a free 127.0.0.1 port, stopped after the test."""
    server = start(free_port(), Handler())
    yield server
    server.stop()
