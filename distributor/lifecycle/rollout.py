"""The release lifecycle: the EGI staged rollout as a state machine, with its audit log.

::

    certified -> unverified -> verified -> rolling-out -> closed-success
                     |            |                    -> closed-warning
                     v            v                    -> closed-reject
                  rejected     closed-reject (--force: nobody accepted)

    unverified | verified | rolling-out -> withdrawn   (pps remove)

``pps release create`` records *certified* and, once the tarball's checksum matches the index,
*unverified*.  ``verify`` moves the files from ``unverified/`` to ``staged-rollout/``; the first
early adopter that accepts makes the release *rolling-out*; each accepting site reports (success,
warning, reject, notes, effort); ``close`` needs every accepting site's report (or ``--force``
with a reason on record) and moves the files to ``production/`` (success, warning) or removes
them and withdraws the release (reject), so that the sites retire it.  ``pps remove`` withdraws
a release that is not closed (*withdrawn*; its files stay); a release the index marks withdrawn
without a step on record (an older pps's remove) reads as *withdrawn* too.  A closed, rejected
or withdrawn release moves no further.

The steps check the real world as the store knows it: an early adopter accepts only a release
that is live at its site (its latest outcome is OK); the verification's mail names the sites where
the release is live and the tags their VOs publish, or says that it is live nowhere yet.  A step
that ends a preview (close, reject, remove) is followed by a push that tells every site the
release was pushed to to retire it (:func:`sites_to_tell`); a site that could not be told shows
as ``NOT TOLD`` in ``pps status`` (:func:`not_told`) until a push tells it.

Every step is one event appended to the store's ``event`` table (who, when it happened, when it
was recorded, why, and what it carried), in one ``BEGIN IMMEDIATE`` transaction that re-reads
the release's events first: two processes moving the same release are serialized, and the
second one is judged on the state the first left (refused if its step is no longer legal).
Steps that touch the repository hold its lock around that transaction (the lock first, always,
so no two processes wait for each other).  Files move by hard links: the new stage directory is
complete before ``index.json`` names it, and the old one goes only once the new index is written,
so a pull-mode site never reads an index naming a file that is not there.  The mail a step sends
is queued in the same transaction (:mod:`distributor.notify`): the step and its mail land
together or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from distributor.lifecycle import clocks
from distributor.lifecycle.model import (
    GONE,
    OUTCOMES,
    ROLLING_OUT,
    UNVERIFIED,
    VERIFIED,
    WITHDRAWN,
    Bug,
    Event,
    History,
    MailMaker,
    Moved,
    Plan,
    allowed_from,
    event_of_row,
    load_history,
    next_state,
    parse_effort,
    start_events,
    who_am_i,
)
from distributor.lifecycle.notes import release_notes
from distributor.lifecycle.sites import is_live
from distributor.lifecycle.workdays import WorkCalendar
from distributor.notify.queue import enqueue, release_held
from distributor.repository.check import check_tarball
from distributor.repository.signing import load_key, sign_index
from distributor.store import Store
from pps.errors import BadInput, NotFound
from pps.fsutil import atomic_write, fsync_dir
from pps.inventory import Config
from pps.repository import Index, Release, Repository, release_dir, with_stage
from pps.text import printable

#: Notes that only make sense for a release that is not withdrawn (they tell people it runs).
_NEEDS_A_LIVE_RELEASE = frozenset({"pilot-start", "pilot-remind"})
#: What the next step is, per state (for the error of an illegal one).
_NEXT = {
    UNVERIFIED: "'pps release verify' (or verify --reject)",
    VERIFIED: "an early adopter's 'pps release accept'",
    ROLLING_OUT: "'pps release report' per accepting site, then 'pps release close'",
}


def _insert(db: sqlite3.Connection, e: Event) -> Event:
    cur = db.execute(
        "INSERT INTO event(component, version, kind, state, site, who, at, recorded, why, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.component, e.version, e.kind, e.state, e.site, e.who, e.at, e.recorded, e.why,
         json.dumps(e.data, sort_keys=True)),
    )  # fmt: skip
    return Event(**{**e.__dict__, "id": int(cur.lastrowid or 0)})


class Rollout:
    """The lifecycle steps of the releases of one repository, recorded in one store."""

    def __init__(
        self,
        repo: Repository,
        store: Store,
        config: Config,
        *,
        who: str | None = None,
        mails: Callable[[str], MailMaker | None] | None = None,
    ) -> None:
        self.repo = repo
        self.store = store
        self.config = config
        self.who = who or who_am_i()
        #: ``mails(kind)``: what mails a step of *kind* sends (None: none).
        self.mails = mails or (lambda _kind: None)

    # ----------------------------------------------------------------------- reading

    def history(self, component: str, version: str) -> tuple[Release, History]:
        rel = self.repo.load().find(component, version)
        return rel, load_history(self.store, rel)

    def histories(self) -> list[tuple[Release, History]]:
        index = self.repo.load()
        releases = sorted(index.releases, key=lambda r: (r.component, r.version))
        rows = self.store.query(
            "SELECT id, component, version, kind, state, site, who, at, recorded, why, data "
            "FROM event ORDER BY id"
        )
        grouped: dict[tuple[str, str], list[Event]] = {}
        for row in rows:
            e = event_of_row(row)
            grouped.setdefault((e.component, e.version), []).append(e)
        out = []
        for rel in releases:
            events = grouped.get((rel.component, rel.version))
            history = (History(rel.component, rel.version, events, rel.withdrawn) if events
                       else load_history(self.store, rel))  # fmt: skip
            out.append((rel, history))
        return out

    # ----------------------------------------------------------------------- steps

    def record_created(
        self, release: Release, *, bugs: Sequence[Bug] = (), certified_at: str | None = None
    ) -> History:
        """Record a release just created: *certified*, then *unverified* once its tarball
        matches the index (an IntegrityError otherwise).  Nothing is written if the release
        already has events (another process moved it first)."""
        now = clocks.now()
        at = release.created or clocks.iso(now)
        certified = at
        if certified_at:
            moment = clocks.parse_past(certified_at, "--certified", now)
            certified = clocks.iso(moment)
        check_tarball(self.repo, release)
        with self.store.write() as db:
            if db.execute("SELECT 1 FROM event WHERE component=? AND version=?",
                          (release.component, release.version)).fetchone():  # fmt: skip
                return load_history(db, release)
            first, second = start_events(release, self.who, at, bugs)
            first = Event(**{**first.__dict__, "at": certified, "recorded": clocks.iso(now)})
            second = Event(**{**second.__dict__, "recorded": clocks.iso(now)})
            _insert(db, first)
            _insert(db, second)
            return load_history(db, release)

    def step(
        self,
        component: str,
        version: str,
        kind: str,
        decide: Callable[[Release, History, Index], Plan],
        *,
        site: str = "",
        why: str = "",
        at: str | None = None,
        dry_run: bool = False,
    ) -> Moved:
        """Run one step: under the repository lock and one IMMEDIATE transaction, read the
        release and its events, let *decide* judge the step (BadInput when it is illegal),
        apply its plan, append the event and queue its mail."""
        files = kind in ("verify", "reject", "close", "unembargo", "remove")
        hold = self.repo.locked() if files and not dry_run else contextlib.nullcontext()
        key = None
        if files and self.config.signing_key is not None:
            key = load_key(self.config.signing_key)  # a bad key is refused before any write
        # a dry run judges the step in a read transaction: it cannot write, even by mistake
        transaction = self.store.read() if dry_run else self.store.write()
        with hold, transaction as db:
            index = self.repo.load()
            rel = index.find(component, version)
            history = load_history(db, rel)
            now = clocks.now()
            when = self._when(at, history, now)
            plan = decide(rel, history, index)
            event = Event(0, rel.component, rel.version, kind, plan.state, site, self.who,
                          clocks.iso(when), clocks.iso(now), why, plan.data)  # fmt: skip
            new_rel = rel
            if plan.stage:
                new_rel = with_stage(rel, plan.stage)
            if plan.withdraw:
                new_rel = new_rel.replace(withdrawn=True)
            if plan.unembargo:
                new_rel = new_rel.replace(embargo=False)
            after = History(rel.component, rel.version, [*history.events, event])
            maker = self.mails(kind)
            mails = list(maker(new_rel, after, event)) if maker else []
            if dry_run:  # nothing was written: the transaction ends empty
                return Moved(new_rel, after, event, mails, [], dry_run=True)
            if not any(e.id for e in history.events):
                for start in history.events:  # a release that had no events yet
                    if not start.data.get("synthetic"):
                        _insert(db, start)
            if new_rel != rel:
                old_dir = self.repo.root / release_dir(rel.stage, rel.component, rel.version)
                if plan.stage:
                    self._link_stage(rel, plan.stage)
                if plan.notes is not None and not plan.withdraw:
                    notes_rel = (
                        f"{release_dir(new_rel.stage, rel.component, rel.version)}/"
                        f"{rel.component}-{rel.version}.release-notes.txt"
                    )
                    atomic_write(self.repo.path_of(notes_rel), plan.notes.encode())
                index.replace(new_rel)
                data = self.repo.save(index)
                if key is not None:
                    sign_index(self.repo, key, data)
                if plan.stage or (plan.withdraw and plan.remove_files):
                    _remove_tree(old_dir, self.repo.root)
            event = _insert(db, event)

            ids = [enqueue(db, m, held=new_rel.embargo and m.public, at=event.recorded)
                   for m in mails]  # fmt: skip
            if plan.unembargo:
                ids += release_held(db, rel.component, rel.version, drop=plan.drop_held,
                                    why=plan.data.get("dropped_why", ""))  # fmt: skip
            after = History(rel.component, rel.version, [*history.events, event])
        return Moved(new_rel, after, event, mails, ids)

    def _when(self, at: str | None, history: History, now: _dt.datetime) -> _dt.datetime:
        if not at:
            return now
        moment = clocks.parse_past(at, "--at", now)
        last = history.events[-1] if history.events else None
        if last is not None and moment < last.moment:
            raise BadInput(f"--at {at} is before the last recorded step ({last.kind} at "
                           f"{last.at})")  # fmt: skip
        return moment

    def _link_stage(self, rel: Release, stage: str) -> None:
        """Make the release's files appear whole in *stage* (hard links; copies across file
        systems); the old directory stays until the new index is written."""
        old = self.repo.root / release_dir(rel.stage, rel.component, rel.version)
        new = self.repo.root / release_dir(stage, rel.component, rel.version)
        if not old.is_dir():
            if new.is_dir():
                return  # moved before a crash that kept the index from saying so
            raise NotFound(f"the files of {rel.key} are missing from {old}")
        # '+' is outside the version grammar: no release can own this name
        tmp = new.with_name(new.name + "+moving")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for path in sorted(old.iterdir()):
            if path.is_file():
                try:
                    os.link(path, tmp / path.name)
                except OSError:
                    shutil.copy2(path, tmp / path.name)
        if new.exists():
            shutil.rmtree(new)  # left by a crash: the index never named it
        os.rename(tmp, new)
        fsync_dir(new.parent)

    # ----------------------------------------------------------------------- the steps

    def verify(self, component: str, version: str, *, why: str = "", at: str | None = None,
               dry_run: bool = False) -> Moved:  # fmt: skip
        """unverified -> verified: the checksum again, then the files to ``staged-rollout/``."""

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            _require(history, rel, "verify", allowed_from("verify"))
            check_tarball(self.repo, rel)
            return Plan(_to(history, "verify"), {"stage": "staged-rollout", "sha256": rel.sha256},
                        stage="staged-rollout")  # fmt: skip

        return self.step(component, version, "verify", decide, why=why or "verified", at=at,
                         dry_run=dry_run)  # fmt: skip

    def reject(self, component: str, version: str, *, why: str, at: str | None = None,
               dry_run: bool = False) -> Moved:  # fmt: skip
        """unverified -> rejected (the verification failed): withdrawn, files removed."""
        if not why.strip():
            raise BadInput("a rejection needs a reason: --why TEXT")

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            _require(history, rel, "reject at verification", allowed_from("reject"))
            return Plan(_to(history, "reject"), {"withdrawn": True}, withdraw=True)

        return self.step(component, version, "reject", decide, why=why, at=at, dry_run=dry_run)

    def accept(self, component: str, version: str, site: str, *, why: str = "",
               at: str | None = None, dry_run: bool = False) -> Moved:  # fmt: skip
        """An early adopter takes the staged rollout on: the first makes it rolling-out."""
        found = self.config.site(site)

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            _require(history, rel, f"accept (site {site})", allowed_from("accept"))
            if not found.takes(rel.update_class):
                raise BadInput(
                    f"site {site} (partner {found.partner.value}) does not take "
                    f"{rel.update_class.value} releases: it cannot roll {rel.key} out"
                )
            if site in history.accepted:
                raise BadInput(f"site {site} accepted {rel.key} already "
                               f"(at {history.accepted[site].at})")  # fmt: skip
            last = {o.site: o for o in self.store.latest(rel.component, rel.version)}.get(site)
            if last is None or not is_live(last):
                said = "never pushed" if last is None else (  # a site's words: made printable
                    f"{last.state} at {last.at}: {printable(last.summary)}" if last.summary
                    else f"{last.state} at {last.at}")  # fmt: skip
                raise BadInput(f"site {site} cannot accept {rel.key}: it is not live there "
                               f"({said}); 'pps push {rel.component} {rel.version} --site "
                               f"{site}' first")  # fmt: skip
            committed = rel.component in found.early_adopter
            return Plan(
                _to(history, "accept"), {"committed": committed, "first": not history.accepted}
            )

        return self.step(
            component,
            version,
            "accept",
            decide,
            site=site,
            why=why or "accepted the staged rollout",
            at=at,
            dry_run=dry_run,
        )

    def report(self, component: str, version: str, site: str, *, outcome: str, notes: str,
               effort: str, at: str | None = None, dry_run: bool = False) -> Moved:  # fmt: skip
        """An accepting site is done: its outcome, notes and effort."""
        self.config.site(site)
        if outcome not in OUTCOMES:
            raise BadInput(f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")
        hours = parse_effort(effort)

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            _require(history, rel, f"report (site {site})", allowed_from("report"))
            if site not in history.accepted:
                accepted = ", ".join(history.accepted) or "none"
                raise BadInput(f"site {site} did not accept {rel.key}: only accepting sites "
                               f"report (accepted: {accepted})")  # fmt: skip
            if site in history.reports:
                raise BadInput(f"site {site} reported on {rel.key} already "
                               f"(at {history.reports[site].at})")  # fmt: skip
            return Plan(_to(history, "report"), {"outcome": outcome, "notes": notes,
                                     "effort_hours": hours, "effort": effort.strip()})  # fmt: skip

        return self.step(component, version, "report", decide, site=site,
                         why=f"done: {outcome}", at=at, dry_run=dry_run)  # fmt: skip

    def close(self, component: str, version: str, *, outcome: str, summary: str,
              force: str | None = None, at: str | None = None,
              dry_run: bool = False) -> Moved:  # fmt: skip
        """rolling-out -> closed-success | closed-warning (files to ``production/``) |
        closed-reject (withdrawn, files removed).  Every accepting site must have reported;
        *force* (a reason) closes without them, or without any early adopter."""
        if outcome not in OUTCOMES:
            raise BadInput(f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")
        if force is not None and not force.strip():
            raise BadInput("--force needs a reason (it is recorded): --force 'REASON'")

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            allowed = allowed_from("close", forced=force is not None)
            if history.state == VERIFIED and not force:
                raise BadInput(
                    f"{rel.key} is verified but no early adopter accepted it: "
                    "nothing to close (--force 'REASON' closes it anyway)"
                )
            _require(history, rel, "close", allowed)
            missing = history.open_sites
            if missing and not force:
                raise BadInput(
                    f"cannot close {rel.key}: {', '.join(missing)} accepted and did "
                    "not report yet (--force 'REASON' closes without them)"
                )
            state = _to(history, "close", outcome=outcome, forced=force is not None)
            data: dict[str, Any] = {"outcome": outcome, "summary": summary}
            if force:
                data.update(forced=force, open_sites=missing)
            closing = Event(0, rel.component, rel.version, "close", state, "", self.who,
                            clocks.iso(clocks.now()), "", summary, data)  # fmt: skip
            notes = release_notes(rel, History(rel.component, rel.version,
                                               [*history.events, closing]),
                                  calendar=WorkCalendar(self.config.calendar))  # fmt: skip
            data["notes"] = notes
            if outcome == "reject":
                return Plan(state, data, withdraw=True, notes=notes)
            return Plan(state, data, stage="production", notes=notes)

        why = summary if not force else f"{summary} (forced: {force})"
        return self.step(component, version, "close", decide, why=why, at=at, dry_run=dry_run)

    def unembargo(self, component: str, version: str, *, why: str,
                  dry_run: bool = False) -> Moved:  # fmt: skip
        """Lift a release's embargo: from now on it is in every public output, and the mail
        held for it is sent."""

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            if not rel.embargo:
                raise BadInput(f"{rel.key} is not embargoed")
            if rel.in_preview and not history.final:
                return Plan(history.state, {}, unembargo=True)
            # the preview's mail says "is in preview": no longer true, so it is not sent
            why = (f"not sent: {rel.key} is no longer in preview ({history.state}) when its "
                   "embargo was lifted")  # fmt: skip
            return Plan(history.state, {"dropped_why": why}, unembargo=True,
                        drop_held=("broadcast", "reminder"))  # fmt: skip

        return self.step(component, version, "unembargo", decide,
                         why=why or "embargo lifted", dry_run=dry_run)  # fmt: skip

    def note(self, component: str, version: str, kind: str, data: dict[str, Any], *,
             why: str = "", site: str = "", at: str | None = None,
             check: Callable[[Release, History], None] | None = None,
             dry_run: bool = False) -> Moved:  # fmt: skip
        """An event that does not change the state (feedback, a classification, a pilot
        step); *check* may refuse it."""

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            if kind in _NEEDS_A_LIVE_RELEASE and (rel.withdrawn or history.state in GONE):
                raise BadInput(f"cannot {kind}: {rel.key} is {history.state} (next: "
                               f"{_hint(history)})")  # fmt: skip
            if check is not None:
                check(rel, history)
            return Plan(history.state, data)

        return self.step(component, version, kind, decide, why=why, site=site, at=at,
                         dry_run=dry_run)  # fmt: skip

    def remove(self, component: str, version: str, *, sites: Sequence[str] = (),
               now: bool = False, dry_run: bool = False) -> Moved:  # fmt: skip
        """``pps remove``: a release that is not closed becomes *withdrawn* (marked so in the
        index, signed; its files stay); a closed or withdrawn one keeps its state.  Either way
        the step is on record, and the caller then tells the sites to retire it."""

        def decide(rel: Release, history: History, _index: Index) -> Plan:
            data: dict[str, Any] = {"sites": list(sites), "now": now}
            if history.final:
                return Plan(_to(history, "remove"), data)
            return Plan(_to(history, "remove"), {**data, "withdrawn": True}, withdraw=True,
                        remove_files=False)  # fmt: skip

        why = "withdrawn from preview: the sites are told to retire it"
        return self.step(component, version, "remove", decide, why=why, dry_run=dry_run)


def _hint(history: History) -> str:
    if history.state == WITHDRAWN:
        return "nothing: the release is withdrawn"
    return _NEXT.get(history.state, "nothing: the release is closed" if history.final else "")


def _to(history: History, step: str, *, outcome: str = "", forced: bool = False) -> str:
    """The state *step* leads to (:func:`next_state`); the caller checked it may be taken."""
    state = next_state(history.state, step, outcome=outcome, forced=forced)
    if state is None:
        raise RuntimeError(f"{step} from {history.state}: not a transition")
    return state


def _require(history: History, rel: Release, what: str, allowed: Sequence[str]) -> None:
    if history.state in allowed:
        return
    raise BadInput(f"cannot {what}: {rel.key} is {history.state}, not "
                   f"{' or '.join(allowed)} (next: {_hint(history)})")  # fmt: skip


# --------------------------------------------------------------------------- the sites


def _remove_tree(path: Path, root: Path) -> None:
    """Remove a release directory and the component directory if it is left empty."""
    shutil.rmtree(path, ignore_errors=True)
    parent = path.parent
    with contextlib.suppress(OSError):
        if parent != root and not any(parent.iterdir()):
            parent.rmdir()
