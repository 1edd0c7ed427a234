"""The mail queue in the store: mails waiting (queued, or held until an embargo lifts), sent or
dropped.
"""

from __future__ import annotations

import email.utils
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from distributor.lifecycle import clocks
from distributor.store import Store

if TYPE_CHECKING:
    pass


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


def queue(store: Store, statuses: Iterable[str] = (QUEUED, HELD)) -> list[QueuedMail]:
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
