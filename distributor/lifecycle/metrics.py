"""Staged-rollout metrics (EGI procedure, section 4), from the audit log and the push outcomes.

* early-adopter sites: committed (``early_adopter`` in the inventory) and active (accepted a
  release in the period), with each site's accepted releases, reports, effort and credits
  (1 credit = 1 PH);
* per component: releases, rejections (at verification or at the close) and warnings;
* per release type and step: the working time each step took against its budget;
* per release: the time from its creation to its first site OK and to every targeted site OK
  (wall-clock hours, from the push outcomes).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from distributor.lifecycle import clocks
from distributor.lifecycle.model import REJECTED, History
from distributor.lifecycle.rollout import Rollout
from distributor.lifecycle.workdays import HOUR, WorkCalendar
from distributor.push.targets import target_sites
from pps.repository import Release


@dataclass
class _StepStats:
    count: int = 0
    total: float = 0.0
    longest: float = 0.0
    over: int = 0
    budget: float = 0.0


def collect(rollout: Rollout, *, since: _dt.datetime | None = None) -> dict[str, Any]:
    """Every metric, as plain JSON types, for the releases created at or after *since*."""
    # One piece: one pass over the histories fills the per-site, per-component and per-step
    # tables together; the JSON it returns is laid out at the end, in the order it is read.
    config = rollout.config
    calendar = WorkCalendar(config.calendar)
    now = clocks.now()
    found: list[tuple[Release, History]] = []
    for rel, history in rollout.histories():
        start = history.first("certified")
        if since is None or (start is not None and start.moment >= since):
            found.append((rel, history))

    sites: dict[str, dict[str, Any]] = {}
    for s in config.sites:
        sites[s.name] = {"committed_to": list(s.early_adopter), "accepted": 0, "reports": 0,
                         "effort_hours": 0.0}  # fmt: skip
    components: dict[str, dict[str, int]] = {}
    steps: dict[tuple[str, str], _StepStats] = {}
    for rel, history in found:
        c = components.setdefault(rel.component, {"releases": 0, "rejected": 0, "warnings": 0})
        c["releases"] += 1
        end = history.ended
        if end is not None and (end.state == REJECTED or end.data.get("outcome") == "reject"):
            c["rejected"] += 1
        if end is not None and end.data.get("outcome") == "warning":
            c["warnings"] += 1
        for site in history.accepted:
            sites.setdefault(site, {"committed_to": [], "accepted": 0, "reports": 0,
                                    "effort_hours": 0.0})["accepted"] += 1  # fmt: skip
        for site, report in history.reports.items():
            sites[site]["reports"] += 1
            sites[site]["effort_hours"] += float(report.data.get("effort_hours", 0))
        at = end.moment if end is not None else now
        for step in clocks.clock(rel.release_type, history.times(), at=at, calendar=calendar):
            if step.started is None or step.ended is None:
                continue  # only finished steps say how long a step takes
            st = steps.setdefault((rel.release_type.value, step.name), _StepStats())
            st.count += 1
            st.total += step.used
            st.longest = max(st.longest, step.used)
            st.over += step.used > step.budget + step.grace
            st.budget = step.budget + step.grace

    ok_at: dict[tuple[str, str], dict[str, _dt.datetime]] = {}
    for site, component, version, at_text in rollout.store.query(
        "SELECT o.site, o.component, o.version, MIN(o.at) FROM outcome o "
        "LEFT JOIN push p ON p.id = o.push_id "
        "WHERE o.state='OK' AND o.live AND NOT COALESCE(p.retire, 0) "
        "GROUP BY o.site, o.component, o.version"
    ):
        ok_at.setdefault((component, version), {})[site] = clocks.parse_time(str(at_text))
    delivery = []
    for rel, history in found:
        created = clocks.parse_time(rel.created) if rel.created else None
        oks = ok_at.get((rel.component, rel.version), {})
        end = history.ended
        if end is not None:  # what the sites said after the end is a retirement, not a delivery
            oks = {site: at for site, at in oks.items() if at < end.moment}
        targets = [s.name for s in target_sites(config, rel)]
        first = min(oks.values()) if oks else None
        every = max(oks[t] for t in targets) if targets and all(t in oks for t in targets) else None

        def hours(moment: _dt.datetime | None, created: _dt.datetime | None = created) -> Any:
            if moment is None or created is None:
                return None
            return round(max(0.0, (moment - created).total_seconds()) / HOUR, 2)

        delivery.append({
            "component": rel.component, "version": rel.version, "targets": len(targets),
            "ok": len([t for t in targets if t in oks]), "first_site_hours": hours(first),
            "all_sites_hours": hours(every),
        })  # fmt: skip

    committed = sorted(n for n, s in sites.items() if s["committed_to"])
    active = sorted(n for n, s in sites.items() if s["accepted"])
    return {
        "since": clocks.iso(since) if since else None,
        "early_adopters": {"committed": committed, "active": active},
        "sites": {
            n: {
                **s,
                "effort_hours": round(s["effort_hours"], 2),
                "credits": round(s["effort_hours"], 2),
            }
            for n, s in sorted(sites.items())
        },  # fmt: skip
        "components": dict(sorted(components.items())),
        "steps": [
            {
                "release_type": t,
                "step": n,
                "releases": s.count,
                "mean_hours": round(s.total / s.count / HOUR, 2),
                "max_hours": round(s.longest / HOUR, 2),
                "budget_hours": round(s.budget / HOUR, 2),
                "over_budget": s.over,
            }
            for (t, n), s in sorted(steps.items())
        ],  # fmt: skip
        "delivery": delivery,
    }
