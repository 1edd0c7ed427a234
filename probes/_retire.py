"""Retiring a version the repository no longer lists as a preview.

A release that was closed (moved to production), rejected or removed loses its tags at once: no
new job may be sent to it.  Its tree stays for a grace period (the site file's ``retire_grace``)
so that jobs already running on it are not pulled away, and after that it is removed only when
no process uses it (its working directory, root, executable, an open file or a mapped library
under the tree).  pps removes only a tree its state record names (device and inode) and that
carries its install marker; the record goes with the tree.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

from pps.errors import BadInput
from pps.record import Record
from pps.repository import INDEX_NAME, Release
from probes._fetch import open_source
from probes._records import (
    RETIRED,
    VersionRecord,
    iter_record_files,
    read_record,
    utc_now,
    write_record,
)
from probes._run import Outcome, Request, Run, lexists, owns, prepare
from probes._site import remove_tree

_log = logging.getLogger("nagiosplugin." + __name__)


def parse_utc(stamp: str | None) -> _dt.datetime | None:
    if not stamp:
        return None
    try:
        return _dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def grace_left(retired_at: str | None, grace: float, now: _dt.datetime | None = None) -> float:
    """Seconds until a tree retired at *retired_at* may go (0 when it may go now)."""
    start = parse_utc(retired_at)
    if start is None:
        return grace
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, grace - (now - start).total_seconds())


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def users_of(tree: Path) -> list[str]:
    """Processes that use something under *tree*: ``"pid 123 (bash)"`` each."""
    root = os.path.realpath(tree)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        base = entry.path
        if _uses(base, root):
            try:
                with open(f"{base}/comm", "rb") as f:
                    name = f.read().decode("utf-8", "replace").strip()
            except OSError:
                name = "?"
            found.append(f"pid {entry.name} ({name})")
    return found


def _uses(base: str, root: str) -> bool:
    for link in ("cwd", "root", "exe"):
        try:
            if _under(os.readlink(f"{base}/{link}"), root):
                return True
        except OSError:
            pass
    try:
        for fd in os.scandir(f"{base}/fd"):
            try:
                if _under(os.readlink(fd.path), root):
                    return True
            except OSError:
                pass
    except OSError:
        pass
    try:
        with open(f"{base}/maps", "rb") as f:
            needle = root.encode() + b"/"
            for line in f:
                if needle in line:
                    return True
    except OSError:
        pass
    return False


def retire(run: Run, record: VersionRecord | None, why: str, release: Release | None) -> Outcome:
    """Withdraw the tags of a version that is no longer a preview; remove its tree after the
    grace period, when nothing uses it."""
    req = run.req
    if record is None:  # never installed here: nothing of pps's to withdraw or remove
        return run.outcome(
            RETIRED,
            release,
            f"{req.component} {req.version} is not a preview any more ({why}); not installed here",
        )
    message = retire_record(run, record, why)
    return run.outcome(RETIRED, release, message)


def retire_record(run: Run, record: VersionRecord, why: str, *, headline: str = "") -> str:
    """Retire the version of *record*; one sentence saying what became of it (beginning with
    *headline*, by default "... is not a preview any more")."""
    req, layout = run.req, run.layout
    key = f"{record.component} {record.version}"
    run.withdraw(record.component, record.version, run.every_vo(record), retire=True)
    state_file = layout.state_file(record.component, record.version)
    if record.status != RETIRED:
        record = record.replace(status=RETIRED, retired_at=utc_now())
        write_record(state_file, record)
    tree = layout.install_dir(record.component, record.version)
    said = f"{headline or f'{key} is not a preview any more'} ({why}): tags withdrawn"
    cache = layout.cache_dir / f"{record.component}-{record.version}.tar.gz"
    if cache.exists():
        cache.unlink()
    if not lexists(tree):
        state_file.unlink()
        return f"{said}, nothing installed"
    if not owns(tree, record):
        return f"{said}; {tree} was not installed by pps: left alone"
    left = grace_left(record.retired_at, req.retire_grace)
    if left > 0:
        return f"{said}; the tree goes in {_duration(left)} (grace period)"
    users = users_of(tree)
    if users:
        return f"{said}; the tree stays while in use by {', '.join(users[:3])}"
    remove_tree(tree)
    state_file.unlink()
    return f"{said}, tree removed"


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 90:
        return f"{seconds / 60:.0f}min"
    return f"{seconds:.0f}s"


class CleanupOutcome(Record):
    """What a cleanup run did: one sentence per retired version."""

    request: Request
    retired: tuple[str, ...]
    kept: int
    notes: tuple[str, ...] = ()


def cleanup(req: Request) -> CleanupOutcome:
    """Retire every installed version the (complete) index no longer lists as a preview."""
    run = Run(req)
    prepare(run)
    source = open_source(req.repository, signed=bool(req.public_key), deadline=req.deadline)
    index = run.read_index(source)
    if index.extra.get("subset"):
        raise BadInput(
            f"{source.describe(INDEX_NAME)} lists only some releases (a push's index): cleanup "
            "needs the repository's whole index"
        )
    previews = {(r.component, r.version) for r in index.releases if r.in_preview}
    stages = {(r.component, r.version): "withdrawn" if r.withdrawn else r.stage
              for r in index.releases}  # fmt: skip
    said, kept = [], 0
    for path in iter_record_files(run.layout.state_dir):
        try:
            record = read_record(path)
        except BadInput as e:
            run.notes.append(f"skipped {path}: {e}")
            continue
        if record is None:
            continue
        key = (record.component, record.version)
        if req.skips(*key):
            said.append(
                retire_record(run, record, req.skip_reason, headline=" ".join(key) + " skipped")
            )
            continue
        if key in previews:
            kept += 1
            continue
        why = "it is no longer in the repository"
        if key in stages:
            withdrawn = stages[key] == "withdrawn"
            why = "it was withdrawn" if withdrawn else f"its stage is now {stages[key]}"
        said.append(retire_record(run, record, why))
    return CleanupOutcome(req, tuple(said), kept, tuple(run.notes))
