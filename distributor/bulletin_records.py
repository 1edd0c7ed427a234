"""The bulletin's release records, read from the distributor's state store, and the build.

:func:`load_records` fills the bulletin's plain input model (:mod:`bulletin.records`) from the
lifecycle the store keeps: each release's state as ``pps release list`` prints it (the same
:class:`~distributor.lifecycle.Rollout` histories), when it was verified, its early adopters and
their reports, the bugs it fixes (ID and title: the reporter's address stays in the store), the
feedback (time and text), each site's latest push outcome, every lifecycle step (the feed's
entries) and the sites live over time from every push outcome.  Embargoed releases get no
record at all.  The store is opened read-only: building the bulletin writes nothing to it.

:func:`build` is ``pps bulletin build``: what the sites publish (the BDII, or each site's GIP
output: :func:`distributor.infosys.read_published`), the index and these records, into
:func:`bulletin.build_map` and :func:`bulletin.write_site`.
"""

from __future__ import annotations

import datetime as _dt
import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bulletin.collect import Published
from bulletin.records import (
    AdopterRecord,
    BugRecord,
    FeedbackRecord,
    LivePoint,
    MoveRecord,
    OutcomeRecord,
    Records,
    ReleaseRecord,
)
from distributor.infosys.collect import InfosysSettings, read_published, settings
from distributor.lifecycle.model import FINAL, History
from distributor.lifecycle.rollout import Rollout
from distributor.lifecycle.sites import is_live
from distributor.push.targets import target_sites
from distributor.store import Outcome, Store
from pps.inventory import Config
from pps.repository import Index, Release, Repository

if TYPE_CHECKING:
    from bulletin.render import PreparedSite
    from distributor.transport.base import Transport
    from pps.inventory import Site

#: The lifecycle steps that are news (a new state, a close); notes such as feedback are not.
_MOVES = frozenset(
    {"unverified", "verify", "reject", "accept", "close", "remove", "withdrawn", "unembargo"}
)


def load_records(config: Config, store: Store, repo: Repository | None = None) -> Records:
    """Every public release's records, from *store* (see the module's docstring)."""
    repo = repo or Repository(config.repository)
    histories = Rollout(repo, store, config, who="pps bulletin").histories()
    latest: dict[tuple[str, str], list[Outcome]] = {}
    for o in store.latest():
        latest.setdefault((o.component, o.version), []).append(o)
    over_time = _outcomes_over_time(store)
    out: dict[tuple[str, str], ReleaseRecord] = {}
    for rel, history in histories:
        if rel.embargo:
            continue
        key = (rel.component, rel.version)
        targets = {s.name for s in target_sites(config, rel)}
        points, first, every = _live_over_time(over_time.get(key, []), targets)
        out[key] = _record(config, rel, history, latest.get(key, []), points, first, every)
    return Records(releases=out, source=f"state store {store.path}")


def _record(
    config: Config,
    rel: Release,
    history: History,
    latest: Sequence[Outcome],
    points: tuple[LivePoint, ...],
    first: str,
    every: str,
) -> ReleaseRecord:
    verified = history.first("verify")
    ended = history.ended
    end_data = ended.data if ended is not None and ended.kind == "close" else {}
    return ReleaseRecord(
        component=rel.component,
        version=rel.version,
        state=history.state,
        verified=verified.at if verified else "",
        first_live=first,
        all_live=every,
        ended=ended.at if ended is not None and history.state in FINAL else "",
        outcome=str(end_data.get("outcome", "")),
        summary=str(end_data.get("summary", "")),
        forced=str(end_data.get("forced", "") or ""),
        bugs=tuple(BugRecord(b.id, b.title) for b in history.bugs),
        adopters=_adopters(config, rel, history),
        feedback=tuple(
            FeedbackRecord(e.at, str(e.data.get("text", ""))) for e in history.all("feedback")
        ),
        outcomes=tuple(
            OutcomeRecord(o.site, o.state, o.summary, o.at, is_live(o), o.retire) for o in latest
        ),
        moves=tuple(
            MoveRecord(str(e.id) if e.id else e.kind, e.kind, e.state, e.at, e.why, e.site)
            for e in history.events
            if e.kind in _MOVES
        ),
        live_over_time=points,
    )


def _adopters(config: Config, rel: Release, history: History) -> tuple[AdopterRecord, ...]:
    accepted, reports = history.accepted, history.reports
    committed = [s.name for s in config.sites if rel.component in s.early_adopter]
    names = committed + [n for n in accepted if n not in committed]
    rows = []
    for name in names:
        a, r = accepted.get(name), reports.get(name)
        data = r.data if r is not None else {}
        rows.append(
            AdopterRecord(
                site=name,
                committed=name in committed,
                accepted=a.at if a is not None else "",
                outcome=str(data.get("outcome", "")),
                notes=str(data.get("notes", "")),
                effort=str(data.get("effort", "")),
                reported=r.at if r is not None else "",
            )
        )
    return tuple(rows)


def _outcomes_over_time(
    store: Store,
) -> dict[tuple[str, str], list[tuple[str, str, bool]]]:
    """Per release, every finished site outcome in the order recorded: (at, site, live)."""
    rows = store.query(
        "SELECT o.component, o.version, o.site, o.state, o.live, COALESCE(p.retire, 0), o.at "
        "FROM outcome o LEFT JOIN push p ON p.id = o.push_id ORDER BY o.id"
    )
    out: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    for component, version, site, state, live, retire, at in rows:
        if state == "RUNNING":
            continue
        now_live = state == "OK" and not retire and bool(live)
        out.setdefault((str(component), str(version)), []).append((str(at), str(site), now_live))
    return out


def _live_over_time(
    rows: Sequence[tuple[str, str, bool]], targets: set[str]
) -> tuple[tuple[LivePoint, ...], str, str]:
    """The steps of the live count, when the first site and when every target was live."""
    live: set[str] = set()
    points: list[LivePoint] = []
    first = every = ""
    for at, site, now_live in rows:
        before = len(live)
        (live.add if now_live else live.discard)(site)
        if live and not first:
            first = at
        if targets and targets <= live and not every:
            every = at
        if len(live) != before:
            if points and points[-1].at == at:
                points[-1] = LivePoint(at, len(live))
            else:
                points.append(LivePoint(at, len(live)))
    return tuple(points), first, every


def build(
    config: Config,
    out: Path,
    infosys_url: str | None = None,
    *,
    timeout: float | None = None,
    max_values: int | None = None,
    warn: Callable[[str], None] | None = None,
    transport_factory: Callable[[Site], Transport] | None = None,
) -> tuple[list[Path], dict[str, str]]:
    """``pps bulletin build``: read the sites, the index and the records, write the site into
    *out* atomically; returns (the main files written, site errors)."""
    from bulletin.render import expected_files, prepare_site

    how = settings(config, infosys_url, timeout, max_values)
    repo = Repository(config.repository)
    index = repo.load()
    # the new site's files are created while the sites are read (see PreparedSite)
    public = [(r.component, r.version) for r in index.releases if not r.embargo]
    prepared = prepare_site(out, expected_files(public, [s.name for s in config.sites]))
    # No cyclic garbage collection while it builds: a build makes millions of objects that
    # live until it ends (a BDII's entries, the map's cells, the pages), none in a cycle, and
    # each full collection would walk them all again (a quarter of a 500-site build).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(config, out, index, repo, how, prepared, warn, transport_factory)
    finally:
        if collecting:
            gc.enable()
        prepared.discard()


def _build(
    config: Config,
    out: Path,
    index: Index,
    repo: Repository,
    how: InfosysSettings,
    prepared: PreparedSite,
    warn: Callable[[str], None] | None,
    transport_factory: Callable[[Site], Transport] | None,
) -> tuple[list[Path], dict[str, str]]:
    from bulletin import build_map, write_site

    if config.state_path is not None:
        with Store(config.state_path, readonly=True) as store:
            records = load_records(config, store, repo)
    else:
        records = Records(source="no state store configured")
    pub, errors = read_published(config, how, transport_factory=transport_factory)
    for message in pub.warnings:
        if warn is not None:
            warn(message)
    published: dict[str, Published] = {}
    for site in config.sites:
        if site.name in errors:
            continue
        found = pub.site(site.name)
        # the reader's sorting, as it is: nothing is parsed twice
        published[site.name] = found if found is not None else []
    source = (
        f"the BDII at {how.url}" if how.url else "each site's own GIP output (embedded default)"
    )
    vmap = build_map(
        index,
        list(config.sites),
        published=published,
        errors=errors,
        generated=_dt.datetime.now(_dt.timezone.utc),
        records=records,
        source=source,
    )
    return [Path(p) for p in write_site(vmap, out, prepared=prepared)], errors
