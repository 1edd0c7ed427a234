"""What a push decides before it starts, and what its report means afterwards: the policy the
CLI follows, kept out of the CLI.

A push of a release in preview goes to its target sites, skipping those already OK for it
unless forced or named (:func:`plan_push`); a push of a release that has left preview tells the
sites it reached to retire it (:func:`distributor.lifecycle.sites.sites_to_tell`), and the
sites it did not reach are the ones :func:`not_told` names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from distributor.push.controller import PushReport
from distributor.push.targets import target_sites
from distributor.store import Store
from pps.inventory import Config, Site
from pps.repository import Release

#: Why a site already OK is not pushed to again.
ALREADY_OK = "no (already OK; --force)"


@dataclass
class PushPlan:
    """The sites a push targets, those it goes to, and why it leaves the others."""

    targets: list[Site]
    todo: list[Site]
    #: site name -> why the push leaves it (for --dry-run)
    skipped: dict[str, str] = field(default_factory=dict)


def already_ok(store: Store, release: Release) -> set[str]:
    """The sites whose latest outcome for *release* is OK."""
    return {o.site for o in store.latest(release.component, release.version) if o.state == "OK"}


def plan_push(
    config: Config,
    store: Store,
    release: Release,
    names: Sequence[str] = (),
    *,
    force: bool = False,
) -> PushPlan:
    """The targets of *release* (only *names* when given), less the sites already OK for it
    unless *force* or sites were named."""
    targets = target_sites(config, release, names)
    done_ok = set() if force or names else already_ok(store, release)
    return PushPlan(
        targets,
        [s for s in targets if s.name not in done_ok],
        {s.name: ALREADY_OK for s in targets if s.name in done_ok},
    )


def not_told(report: PushReport) -> list[str]:
    """The sites a retirement push did not reach (or whose probe did not retire it)."""
    return [o.site for o in report.outcomes if not o.retired] + list(report.not_started)
