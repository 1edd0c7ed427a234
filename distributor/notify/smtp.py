"""Sending the queued mails over SMTP: each one once, a failure recorded with why."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_string, policy
from typing import TYPE_CHECKING

from distributor.lifecycle import clocks
from distributor.notify.queue import QUEUED, SENT, QueuedMail, queue
from distributor.store import Store
from pps.settings import NotifySettings
from pps.text import printable

if TYPE_CHECKING:
    pass


@dataclass
class SendReport:
    sent: list[QueuedMail] = field(default_factory=list)
    #: (mail, why it is still queued)
    failed: list[tuple[QueuedMail, str]] = field(default_factory=list)


def _password(settings: NotifySettings) -> str:
    if os.environ.get("PPS_SMTP_PASSWORD"):
        return os.environ["PPS_SMTP_PASSWORD"]
    if settings.password_file is None:
        raise OSError("no SMTP password: set [notify] password_file or PPS_SMTP_PASSWORD")
    try:
        return settings.password_file.read_text().strip()
    except OSError as e:
        raise OSError(f"cannot read {settings.password_file}: {e.strerror or e}") from None


def _connect(settings: NotifySettings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            cafile = str(settings.ca_file) if settings.ca_file else None
            smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, _password(settings))
    except BaseException:
        smtp.close()
        raise
    return smtp


def _why(e: BaseException, settings: NotifySettings) -> str:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(e, ConnectionRefusedError):
        return f"SMTP server {where}: connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return f"SMTP server {where}: timed out"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        said = "; ".join(f"{a}: {c} {printable(m.decode(errors='replace'))}"
                         for a, (c, m) in e.recipients.items())  # fmt: skip
        return f"SMTP server {where} refused the recipients: {said}"
    if isinstance(e, smtplib.SMTPResponseException):
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else ""
        return f"SMTP server {where} said {e.smtp_code} {printable(text)}".rstrip()
    if isinstance(e, ssl.SSLError):
        return f"SMTP server {where}: TLS failed: {e.reason or e}"
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return f"SMTP server {where}: {e}"
    if isinstance(e, OSError):
        return f"SMTP server {where}: {e.strerror or e}"
    return f"SMTP server {where}: {e}"


def send_queued(
    store: Store, settings: NotifySettings | None, ids: Sequence[int] | None = None
) -> SendReport:
    """Send the queued mails (only *ids* when given) over one SMTP connection; each sent one
    is marked sent at once, each other keeps its reason and stays queued."""
    todo = [m for m in queue(store, (QUEUED,)) if ids is None or m.id in ids]
    report = SendReport()
    if not todo:
        return report
    if settings is None:
        report.failed = [(m, "no [notify] section in the configuration: mail is kept queued")
                         for m in todo]  # fmt: skip
        _failed(store, report.failed, attempt=False)
        return report
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as e:
        why = _why(e, settings)
        report.failed = [(m, why) for m in todo]
        _failed(store, report.failed)
        return report
    try:
        for m in todo:
            msg = message_from_string(m.message, policy=policy.default)
            if msg["From"] is None:
                msg["From"] = settings.sender
            try:
                smtp.send_message(msg, from_addr=settings.sender, to_addrs=list(m.to))
            except (OSError, smtplib.SMTPException) as e:
                report.failed.append((m, _why(e, settings)))
                _failed(store, [report.failed[-1]])
                # SMTPException is an OSError too: only a lost connection ends the run
                lost = not isinstance(e, smtplib.SMTPException)
                if lost or isinstance(e, smtplib.SMTPServerDisconnected):
                    rest = todo[todo.index(m) + 1 :]
                    report.failed += [(r, _why(e, settings)) for r in rest]
                    _failed(store, [(r, _why(e, settings)) for r in rest])
                    break
                continue
            with store.write() as db:
                db.execute(
                    "UPDATE mail SET status=?, sent=?, attempts=attempts+1, "
                    "last_error='' WHERE id=?",
                    (SENT, clocks.iso(clocks.now()), m.id),
                )
            report.sent.append(m)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return report


def _failed(store: Store, failed: Sequence[tuple[QueuedMail, str]],
            attempt: bool = True) -> None:  # fmt: skip
    with store.write() as db:
        for m, why in failed:
            db.execute("UPDATE mail SET attempts=attempts+?, last_error=? WHERE id=?",
                       (int(attempt), why, m.id))  # fmt: skip
