"""The distributor's state store: every push and every site's outcome, in SQLite.

One file (``[state] path`` in ``pps.toml``), written in WAL mode so that a reader (``pps status``,
the bulletin) never blocks a push, and each outcome committed as soon as the site answers: a push
interrupted half-way keeps what it learnt.  The schema carries a version in ``PRAGMA user_version``
so later releases can migrate it.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
_SCHEMA = """
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outcome:
    """The result of one site-side run, as recorded."""

    site: str
    component: str
    version: str
    #: Nagios state name: OK, WARNING, CRITICAL or UNKNOWN.
    state: str
    summary: str
    seconds: float
    at: str = ""

    @property
    def failed(self) -> bool:
        return self.state in ("CRITICAL", "UNKNOWN")


class StateStore:
    """Open with ``StateStore(path)``; cheap, one connection per store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{path} was written by a newer pps (schema {version})")
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def push(self, component: str, version: str) -> Iterator[int]:
        """Record a push; yields its id; marks it finished when the block ends."""
        with self._db:
            cur = self._db.execute(
                "INSERT INTO push(component, version, started) VALUES (?, ?, ?)",
                (component, version, _now()),
            )
        push_id = int(cur.lastrowid or 0)
        try:
            yield push_id
        finally:
            with self._db:
                self._db.execute("UPDATE push SET finished=? WHERE id=?", (_now(), push_id))

    def record(self, push_id: int, outcome: Outcome) -> Outcome:
        at = outcome.at or _now()
        with self._db:
            self._db.execute(
                "INSERT INTO outcome(push_id, site, component, version, state, summary,"
                " seconds, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    push_id,
                    outcome.site,
                    outcome.component,
                    outcome.version,
                    outcome.state,
                    outcome.summary,
                    outcome.seconds,
                    at,
                ),
            )
        return Outcome(**{**outcome.__dict__, "at": at})

    def latest(self, component: str | None = None, version: str | None = None) -> list[Outcome]:
        """The newest outcome per (site, component, version), optionally for one release."""
        where, args = [], []
        if component:
            where.append("component = ?")
            args.append(component)
        if version:
            where.append("version = ?")
            args.append(version)
        cond = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self._db.execute(
            f"SELECT site, component, version, state, summary, seconds, at FROM outcome "
            f"WHERE id IN (SELECT MAX(id) FROM outcome {cond} GROUP BY site, component, version) "
            "ORDER BY component, version, site",
            args,
        ).fetchall()
        return [Outcome(*r) for r in rows]
