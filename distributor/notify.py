"""The lifecycle's mail: composed, queued in the store, sent over SMTP, retried; nothing lost.

When a preview starts (``pps release verify``) a general broadcast goes to the configured lists
(``[notify] broadcast``: VOs, ROCs, site admins, the early adopters' lists) and a personal mail
to the reporter of each bug the release fixes, inviting them to verify the fix; when a release
is closed, an announcement with its release notes goes to ``[notify] announce``.

Every mail is first written to the store's ``mail`` table, in the same transaction as the step
that caused it (:mod:`distributor.lifecycle`), then sent; a mail the server refuses, or that
cannot be sent because the server is down or not configured, stays ``queued`` with the reason,
and ``pps notify retry`` sends it later.  Mail to lists about an embargoed release is ``held``
until ``pps release unembargo``; held mail that is no longer true by then (the preview's
broadcast of a release that has left preview) is ``dropped``, with the reason, never sent.
Sending is real SMTP (:mod:`smtplib`): STARTTLS with the system's CA store (or ``ca_file``) and
AUTH when configured.

A mail says only what the state store and the sites' outcomes say, dated: the preview's mail
names the sites where the release is live (their latest outcome OK) and the tags their VOs
publish, or says that it is live nowhere yet, and gives no ``Requirements`` line then.
"""

from __future__ import annotations

import email.utils
import json
import os
import smtplib
import socket
import sqlite3
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from distributor import clocks
from distributor.lifecycle import live
from distributor.state import StateStore
from pps.names import rte_requirement, version_tag
from pps.repository import Release
from pps.settings import NotifySettings
from pps.text import printable

if TYPE_CHECKING:
    from distributor.lifecycle import Event, History, MailMaker
    from pps.inventory import Config

QUEUED = "queued"
HELD = "held"
SENT = "sent"
#: Held mail that was no longer true when its embargo was lifted: kept, never sent.
DROPPED = "dropped"


@dataclass(frozen=True)
class Mail:
    """One mail to send."""

    #: broadcast, personal, announce or reminder.
    kind: str
    to: tuple[str, ...]
    subject: str
    body: str
    #: Sent to lists: held while the release is embargoed.
    public: bool
    component: str = ""
    version: str = ""

    def message(self, sender: str = "", date: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        if sender:
            msg["From"] = sender
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = self.subject
        moment = clocks.parse_time(date) if date else clocks.now()
        msg["Date"] = email.utils.format_datetime(moment)
        msg["Message-ID"] = email.utils.make_msgid("pps")
        if self.component:
            msg["X-PPS-Release"] = f"{self.component} {self.version}"
        msg.set_content(self.body)
        return msg


@dataclass(frozen=True)
class QueuedMail:
    """A mail in the store's queue."""

    id: int
    component: str
    version: str
    kind: str
    public: bool
    to: tuple[str, ...]
    message: str
    created: str
    status: str
    attempts: int
    last_error: str
    sent: str

    @property
    def subject(self) -> str:
        return str(message_from_string(self.message, policy=policy.default)["Subject"])

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["to"] = list(self.to)
        d["subject"] = self.subject
        return d


def enqueue(db: sqlite3.Connection, mail: Mail, *, held: bool, at: str) -> int:
    """Queue *mail* in the transaction *db* is in; its id."""
    cur = db.execute(
        "INSERT INTO mail(component, version, kind, public, recipients, message, created, "
        "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (mail.component, mail.version, mail.kind, int(mail.public), json.dumps(list(mail.to)),
         mail.message(date=at).as_string(), at, HELD if held else QUEUED),
    )  # fmt: skip
    return int(cur.lastrowid or 0)


def release_held(db: sqlite3.Connection, component: str, version: str, *,
                 drop: Sequence[str] = (), why: str = "") -> list[int]:  # fmt: skip
    """Queue the mail held for an embargoed release, but for the *drop* kinds, which are
    marked dropped with *why* (what they say is no longer true); the ids queued."""
    ids = []
    for mail_id, kind in db.execute(
        "SELECT id, kind FROM mail WHERE status=? AND component=? AND version=? ORDER BY id",
        (HELD, component, version),
    ).fetchall():
        if kind in drop:
            db.execute("UPDATE mail SET status=?, last_error=? WHERE id=?",
                       (DROPPED, why, mail_id))  # fmt: skip
        else:
            db.execute("UPDATE mail SET status=? WHERE id=?", (QUEUED, mail_id))
            ids.append(int(mail_id))
    return ids


def queue(store: StateStore, statuses: Iterable[str] = (QUEUED, HELD)) -> list[QueuedMail]:
    """The mails in the queue with one of *statuses*, oldest first."""
    wanted = list(statuses)
    marks = ",".join("?" * len(wanted))
    rows = store.query(
        "SELECT id, component, version, kind, public, recipients, message, created, status, "
        f"attempts, last_error, sent FROM mail WHERE status IN ({marks}) ORDER BY id",
        tuple(wanted),
    )
    return [
        QueuedMail(
            int(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            bool(r[4]),
            tuple(json.loads(str(r[5]))),
            str(r[6]),
            str(r[7]),
            str(r[8]),
            int(r[9]),
            str(r[10]),
            str(r[11]),
        )
        for r in rows
    ]


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
    store: StateStore, settings: NotifySettings | None, ids: Sequence[int] | None = None
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


def _failed(store: StateStore, failed: Sequence[tuple[QueuedMail, str]],
            attempt: bool = True) -> None:  # fmt: skip
    with store.write() as db:
        for m, why in failed:
            db.execute("UPDATE mail SET attempts=attempts+?, last_error=? WHERE id=?",
                       (int(attempt), why, m.id))  # fmt: skip


# ------------------------------------------------------------------------------- composing


def _preview_body(release: Release, config: Config, live: Sequence[str], at: str) -> list[str]:
    """What the preview's mail says about the sites: where the release is *live* (as of *at*,
    from the store) and the tags those sites' VOs publish, or that it is live nowhere yet."""
    c, v = release.component, release.version
    lines = [f"{c} {v} ({release.update_class.value}, {release.release_type.value}) is "
             "verified and in staged rollout.", ""]  # fmt: skip
    if live:
        vos = sorted({vo for s in config.sites if s.name in live for vo in s.vos})
        lines += [
            f"Live at {at} (installed beside production, its local tests passed): "
            f"{', '.join(live)}",
            "Select it in a job with the tag of your VO:",
        ]
        lines += [f"  Requirements = {rte_requirement(version_tag(vo, c, v))};" for vo in vos]
    else:
        lines += [
            f"It is not live at any site yet ({at}): no site has installed and tested it, so "
            "no job can select it yet. Once a site has, it publishes the tag "
            f"VO-<your VO>-PPS-{c}-{v}.",
        ]
    if release.notes_url:
        lines.append(f"Release notes: {release.notes_url}")
    if release.feedback_url:
        lines.append(f"Feedback: {release.feedback_url}")
    return lines


def mail_makers(config: Config, store: StateStore) -> Callable[[str], MailMaker | None]:
    """The mails each lifecycle step sends, as configured in *config*, from what *store* says
    (read in the step's own transaction)."""
    settings = config.notify

    def on_verify(release: Release, history: History, event: Event) -> list[Mail]:
        c, v = release.component, release.version
        where = sorted(o.site for o in live(store, release))
        preview = _preview_body(release, config, where, event.recorded or event.at)
        mails = []
        if settings is not None and settings.broadcast:
            body = preview
            mails.append(Mail("broadcast", settings.broadcast,
                              f"[pps] {c} {v} is in preview (staged rollout)",
                              "\n".join(body) + "\n", True, c, v))  # fmt: skip
        for bug in history.bugs:
            ask = ("please verify that it solves your problem, and tell us." if where else
                   "once a site has it live, please verify that it solves your problem, and "
                   "tell us.")  # fmt: skip
            body = ["Hello,", "",
                    f"you reported bug {bug.id}, \"{bug.title}\". Its fix is in {c} {v}, "
                    f"now in preview: {ask}",
                    "", *preview, "",
                    "Thank you,", "the pps release team"]  # fmt: skip
            mails.append(Mail("personal", (bug.reporter,),
                              f"[pps] please verify the fix of bug {bug.id} in {c} {v}",
                              "\n".join(body) + "\n", False, c, v))  # fmt: skip
        return mails

    def on_close(release: Release, history: History, event: Event) -> list[Mail]:
        if settings is None or not settings.announce:
            return []
        c, v = release.component, release.version
        outcome = event.data.get("outcome", "")
        subject = (f"[pps] {c} {v} was rejected in staged rollout" if outcome == "reject"
                   else f"[pps] {c} {v} is released to production ({outcome})")  # fmt: skip
        return [Mail("announce", settings.announce, subject, str(event.data.get("notes", "")),
                     True, c, v)]  # fmt: skip

    def on_remind(release: Release, history: History, event: Event) -> list[Mail]:
        if settings is None or not settings.broadcast:
            return []
        c, v = release.component, release.version
        start = history.first("pilot-start")
        end = start.data.get("end", "?") if start else "?"
        sites = ", ".join(start.data.get("sites", [])) if start else "?"
        began = f" (started {start.at}, not ended)" if start else ""
        body = (f"The pilot of {c} {v} runs at {sites} until {end}{began}, as recorded. "
                "Please send your feedback"
                + (f" to {release.feedback_url}" if release.feedback_url else "")
                + ": it goes into the release notes.\n")  # fmt: skip
        return [Mail("reminder", settings.broadcast, f"[pps] reminder: feedback on the pilot "
                     f"of {c} {v}", body, True, c, v)]  # fmt: skip

    makers: dict[str, MailMaker] = {"verify": on_verify, "close": on_close,
                                    "pilot-remind": on_remind}  # fmt: skip
    return makers.get
