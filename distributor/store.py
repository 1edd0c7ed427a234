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

Since schema 4 each push records whether it told its sites to *retire* the release (the index it
carried no longer lists it as a preview: closed, rejected, withdrawn).  A site whose latest
outcome for a release that left preview is not a successful retirement has not been told: it may
still publish the preview's tag (:func:`distributor.lifecycle.not_told`).

Commands that only read (``pps status``, ``release list``, dry runs, ...) open the store with
``readonly=True``: a store that does not exist is an empty one in memory (no file is created), an
existing one is opened ``query_only`` (SQLite refuses every write, and the WAL files it needs
while it reads go when it closes), and one of an older schema is migrated in a copy in memory,
never in place.
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

from distributor.lifecycle.clocks import iso, now
from pps.errors import BadInput
from pps.text import printable

SCHEMA_VERSION = 4
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


def _to_v4(db: sqlite3.Connection) -> None:
    """v4: whether a push told its sites to retire the release (every earlier push installed),
    and whether a site's probe said the version is live there (installed, verified, tagged: an
    OK run of an earlier pps, which did not say, counts as live)."""
    db.execute("ALTER TABLE push ADD COLUMN retire INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outcome ADD COLUMN live INTEGER NOT NULL DEFAULT 1")


#: ``MIGRATIONS[n]`` takes a store from version n to n + 1.
MIGRATIONS = {1: _to_v2, 2: _to_v3, 3: _to_v4}

#: States a site can be in.  The Nagios states, plus the push's own.
RUNNING = "RUNNING"
INTERRUPTED = "INTERRUPTED"
NEVER = "NEVER PUSHED"
#: A site that had a release which has left preview since, and has not retired it (yet).
NOT_TOLD = "NOT TOLD"


def _now() -> str:
    # PPS_NOW (tests and demos) moves the push records with the lifecycle's clocks

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
    #: The push told the site to retire the release (its index no longer listed it as a preview).
    retire: bool = False
    #: The probe said the version is live there: installed, verified and tagged (its ``live``
    #: perfdata).  An OK run may not be: the site opts out of the version, or retired it.
    live: bool = False

    @property
    def failed(self) -> bool:
        return self.state not in ("OK", "WARNING")

    @property
    def retired(self) -> bool:
        """The site was told to retire the release, and its probe said it did."""
        return self.retire and not self.failed


def _open_read_only(path: Path) -> sqlite3.Connection:
    """An existing store, for reading only: ``query_only`` on a read-write connection (a
    ``mode=ro`` one would leave the WAL files behind), ``mode=ro`` where the file cannot be
    written at all; never created (``mode=rw`` does not create)."""
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=30, check_same_thread=False)
    except sqlite3.OperationalError:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    db.execute("PRAGMA query_only=ON")
    return db


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring *db* from schema *version* to this pps's, in one transaction."""
    with db:
        if version == 0:
            db.executescript(_SCHEMA_V1)
            version = 1
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](db)
            version += 1
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


class Store:
    """Open with ``Store(path)``; one connection, safe to share between a push's threads
    for the short writes it makes (each in its own transaction).  ``readonly=True`` writes
    nothing, ever (see the module's docstring)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        if path.is_dir():
            raise BadInput(f"state store {path} is a directory: [state] path must name a file")
        self.readonly = readonly
        try:
            if readonly and not path.exists():
                self._db = sqlite3.connect(":memory:", check_same_thread=False)
            elif readonly:
                self._db = _open_read_only(path)
            else:
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
            if version != SCHEMA_VERSION:
                if readonly:  # read as this pps reads it: migrated in a copy, in memory
                    copy = sqlite3.connect(":memory:", check_same_thread=False)
                    self._db.backup(copy)
                    self._db.close()
                    self._db = copy
                _migrate(self._db, version)
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

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (deferred): what it reads is one consistent state, and it ends
        having written nothing (a dry run judges a step in it)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.rollback()

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """Rows of a read-only statement."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def push(self, component: str, version: str, *, retire: bool = False) -> Iterator[int]:
        """Record a push by this process (*retire*: it tells the sites to retire the release);
        yields its id; marks it finished when the block ends."""
        pid = os.getpid()
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO push(component, version, started, pid, pid_start, retire) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (component, version, _now(), pid, _start_time(pid), int(retire)),
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
        """Record *outcome* in *row*; the outcome as stored.  What the site said (the summary,
        the long output) is stored as printable text (:func:`pps.text.printable`): data, never
        terminal control, wherever it is shown later."""
        at = outcome.at or _now()
        summary = printable(outcome.summary)
        output = printable(outcome.output, multiline=True)
        with self._lock, self._db:
            self._db.execute(
                "UPDATE outcome SET state=?, summary=?, seconds=?, at=?, output=?, live=? "
                "WHERE id=?",
                (outcome.state, summary, outcome.seconds, at, output, int(outcome.live), row),
            )
        return Outcome(**{**outcome.__dict__, "at": at, "summary": summary, "output": output})

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
                "SELECT o.site, o.component, o.version, o.state, o.summary, o.seconds, o.at, "
                "o.output, COALESCE(p.retire, 0), o.push_id, o.live FROM outcome o "
                "LEFT JOIN push p ON p.id = o.push_id WHERE o.id IN (SELECT MAX(id) FROM outcome "
                f"{cond} GROUP BY site, component, version) "
                "ORDER BY o.component, o.version, o.site",
                args,
            ).fetchall()
            dead = self._dead_pushes() if any(r[3] == RUNNING for r in rows) else set()
        out = []
        for (site, component, version, state, summary, seconds, at, output, retire, push_id,
             live) in rows:  # fmt: skip
            o = Outcome(site, component, version, state, summary, seconds, at, output,
                        bool(retire), bool(live))  # fmt: skip
            if o.state == RUNNING and push_id in dead:
                cut = "the push was killed while working on this site"
                o = Outcome(**{**o.__dict__, "state": INTERRUPTED, "summary": cut})
            out.append(o)
        return out
