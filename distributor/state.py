"""The distributor's state store: every push and every site's outcome, in SQLite.

One file (``[state] path`` in ``pps.toml``), written in WAL mode so that a reader (``pps status``,
the bulletin) never blocks a push.  A site's row is written when the push starts working on it
(``RUNNING``) and updated as soon as it answers, so a push interrupted half-way keeps what it
learnt; a push killed outright leaves ``RUNNING`` rows, which are shown (and, at the next push,
recorded) as ``INTERRUPTED`` once the process that wrote them is gone.

The schema carries its version in ``PRAGMA user_version`` and migrates itself, one small function
per step; a store written by a newer pps is refused, never changed.

Since schema 3 the store also holds the release lifecycle (:mod:`distributor.lifecycle`): an
append-only ``event`` table (every transition, report, feedback and pilot step, with who, when
and why; triggers refuse any UPDATE or DELETE of it) and the ``mail`` outbox
(:mod:`distributor.notify`), where every mail is queued in the same transaction as the step that
caused it and marked sent once the SMTP server took it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pps.errors import BadInput

SCHEMA_VERSION = 3
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS push (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component TEXT NOT NULL,
    version TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT
);
CREATE TABLE IF NOT EXISTS outcome (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    push_id INTEGER NOT NULL REFERENCES push(id),
    site TEXT NOT NULL,
    component TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    seconds REAL NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcome_release ON outcome(component, version, site);
"""


def _to_v2(db: sqlite3.Connection) -> None:
    """v2: which process runs a push (to tell a running push from a killed one), and each
    site's long output."""
    db.execute("ALTER TABLE push ADD COLUMN pid INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE push ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outcome ADD COLUMN output TEXT NOT NULL DEFAULT ''")


def _to_v3(db: sqlite3.Connection) -> None:
    """v3: the release lifecycle's audit log (append-only) and the mail outbox."""
    db.executescript(
        """
        CREATE TABLE event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            component TEXT NOT NULL,
            version TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            site TEXT NOT NULL DEFAULT '',
            who TEXT NOT NULL,
            at TEXT NOT NULL,
            recorded TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX event_release ON event(component, version, id);
        CREATE TRIGGER event_append_only_update BEFORE UPDATE ON event
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER event_append_only_delete BEFORE DELETE ON event
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TABLE mail (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            component TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            public INTEGER NOT NULL DEFAULT 0,
            recipients TEXT NOT NULL,
            message TEXT NOT NULL,
            created TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            sent TEXT NOT NULL DEFAULT ''
        );
        """
    )


#: ``MIGRATIONS[n]`` takes a store from version n to n + 1.
MIGRATIONS = {1: _to_v2, 2: _to_v3}

#: States a site can be in.  The Nagios states, plus the push's own.
RUNNING = "RUNNING"
INTERRUPTED = "INTERRUPTED"
NEVER = "NEVER PUSHED"


def _now() -> str:
    # PPS_NOW (tests and demos) moves the push records with the lifecycle's clocks
    from distributor.clocks import iso, now

    return iso(now())


def _start_time(pid: int) -> int:
    """When process *pid* started (clock ticks since boot), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class Outcome:
    """The result of one site-side run, as recorded."""

    site: str
    component: str
    version: str
    #: OK, WARNING, CRITICAL, UNKNOWN (Nagios), or RUNNING, INTERRUPTED, NEVER PUSHED.
    state: str
    summary: str
    seconds: float
    at: str = ""
    #: The probe's long output (its other lines), and warnings of the push about the site.
    output: str = ""

    @property
    def failed(self) -> bool:
        return self.state not in ("OK", "WARNING")


class StateStore:
    """Open with ``StateStore(path)``; one connection, safe to share between a push's threads
    for the short writes it makes (each in its own transaction)."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            raise BadInput(f"state store {path} is a directory: [state] path must name a file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise BadInput(f"state store {path} is not a pps state store ({e})") from None
        except OSError as e:
            raise BadInput(f"state store {path}: {e.strerror or e}") from None
        self.path = path
        #: One connection serves a push's threads: one statement (and commit) at a time.
        self._lock = threading.RLock()
        if version > SCHEMA_VERSION:
            self._db.close()
            raise BadInput(
                f"state store {path} was written by a newer pps (schema {version}, this pps "
                f"knows {SCHEMA_VERSION}): upgrade pps; the store is left as it is"
            )
        try:
            with self._db:
                if version == 0:
                    self._db.executescript(_SCHEMA_V1)
                    version = 1
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](self._db)
                    version += 1
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise BadInput(f"state store {path} is damaged ({e}): move it aside") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``): what it reads cannot be
        changed by another process before it commits, so a check-then-append (a lifecycle
        transition) never loses a concurrent one.  Rolled back if the block raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """Rows of a read-only statement."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def push(self, component: str, version: str) -> Iterator[int]:
        """Record a push by this process; yields its id; marks it finished when the block ends."""
        pid = os.getpid()
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO push(component, version, started, pid, pid_start) "
                "VALUES (?, ?, ?, ?, ?)",
                (component, version, _now(), pid, _start_time(pid)),
            )
        push_id = int(cur.lastrowid or 0)
        try:
            yield push_id
        finally:
            with self._lock, self._db:
                self._db.execute("UPDATE push SET finished=? WHERE id=?", (_now(), push_id))

    def start(self, push_id: int, site: str, component: str, version: str) -> int:
        """A RUNNING row for *site*; its id, for :meth:`finish`."""
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO outcome(push_id, site, component, version, state, summary, seconds,"
                " at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (push_id, site, component, version, RUNNING, "the push is working on it", _now()),
            )
        return int(cur.lastrowid or 0)

    def finish(self, row: int, outcome: Outcome) -> Outcome:
        at = outcome.at or _now()
        with self._lock, self._db:
            self._db.execute(
                "UPDATE outcome SET state=?, summary=?, seconds=?, at=?, output=? WHERE id=?",
                (outcome.state, outcome.summary, outcome.seconds, at, outcome.output, row),
            )
        return Outcome(**{**outcome.__dict__, "at": at})

    def record(self, push_id: int, outcome: Outcome) -> Outcome:
        """A finished outcome in one step."""
        return self.finish(
            self.start(push_id, outcome.site, outcome.component, outcome.version), outcome
        )

    def _dead_pushes(self) -> set[int]:
        """Unfinished pushes whose process is gone (killed): their RUNNING rows were cut."""
        dead = set()
        for push_id, pid, pid_start in self._db.execute(
            "SELECT id, pid, pid_start FROM push WHERE finished IS NULL"
        ):
            if not pid or _start_time(pid) != pid_start:
                dead.add(push_id)
        return dead

    def close_dead_pushes(self) -> int:
        """Record the RUNNING rows of killed pushes as INTERRUPTED; how many."""
        with self._lock:
            dead = self._dead_pushes()
        if not dead:
            return 0
        marks = ",".join("?" * len(dead))
        with self._lock, self._db:
            cur = self._db.execute(
                f"UPDATE outcome SET state=?, summary=? WHERE state=? AND push_id IN ({marks})",
                (INTERRUPTED, "the push was killed while working on this site", RUNNING, *dead),
            )
            self._db.execute(
                f"UPDATE push SET finished=? WHERE id IN ({marks})", (_now(), *sorted(dead))
            )
        return cur.rowcount

    def latest(self, component: str | None = None, version: str | None = None) -> list[Outcome]:
        """The newest outcome per (site, component, version), optionally for one release; a
        RUNNING row of a push that was killed reads INTERRUPTED."""
        where, args = [], []
        if component:
            where.append("component = ?")
            args.append(component)
        if version:
            where.append("version = ?")
            args.append(version)
        cond = ("WHERE " + " AND ".join(where)) if where else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT site, component, version, state, summary, seconds, at, output, push_id "
                "FROM outcome WHERE id IN (SELECT MAX(id) FROM outcome "
                f"{cond} GROUP BY site, component, version) ORDER BY component, version, site",
                args,
            ).fetchall()
            dead = self._dead_pushes() if any(r[3] == RUNNING for r in rows) else set()
        out = []
        for *fields, push_id in rows:
            o = Outcome(*fields)
            if o.state == RUNNING and push_id in dead:
                cut = "the push was killed while working on this site"
                o = Outcome(**{**o.__dict__, "state": INTERRUPTED, "summary": cut})
            out.append(o)
        return out
