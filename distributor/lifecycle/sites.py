"""Which sites a release is live at, and which of them to tell to retire it when its preview
ends."""

from __future__ import annotations

from collections.abc import Sequence

from distributor.push.targets import target_sites
from distributor.store import NEVER, NOT_TOLD, RUNNING, Outcome, Store
from pps.errors import BadInput
from pps.inventory import Config, Site
from pps.repository import Release
from pps.text import printable


def live(store: Store, release: Release) -> list[Outcome]:
    """The sites where *release* is live as the store knows it: the latest outcome is OK, from a
    push that installed it (not one that retired it), and the probe said the version is live
    there (not skipped by the site's own choice)."""
    return [o for o in store.latest(release.component, release.version) if is_live(o)]


def is_live(outcome: Outcome) -> bool:
    """Whether a site's latest *outcome* for a release says it is live there: OK, from a push
    that installed it (not one that retired it), and the probe said so (not skipped there)."""
    return outcome.state == "OK" and not outcome.retire and outcome.live


def not_told(release: Release, outcome: Outcome) -> bool:
    """Whether the site of *outcome* (its latest for *release*) may still publish the preview of
    a release that has left it: it was pushed, and has not said it retired it since."""
    if release.in_preview or outcome.state in (RUNNING, NEVER):
        return False
    return not outcome.retired


def as_told(release: Release, outcome: Outcome, state: str) -> Outcome:
    """*outcome* as ``pps status`` shows it: ``NOT TOLD``, saying why and what to do, when the
    site has not been told that *release* (in lifecycle *state*) left preview."""
    if not not_told(release, outcome):
        return outcome
    c, v = release.component, release.version
    left = "withdrawn" if release.withdrawn else f"{state}, stage {release.stage}"
    if outcome.retire:
        said = (
            f"telling it to retire {c} {v} ({left}) failed: {outcome.state} at "
            f"{outcome.at}: {printable(outcome.summary)}; 'pps push {c} {v}' tells it again"
        )
    else:
        said = (
            f"last pushed before {c} {v} left preview ({left}): {outcome.state} at "
            f"{outcome.at}; it may still publish the tag; 'pps push {c} {v}' tells it"
        )
    return Outcome(**{**outcome.__dict__, "state": NOT_TOLD, "summary": said})


def sites_to_tell(config: Config, store: Store, release: Release,
                  names: Sequence[str] = (), *, force: bool = False) -> list[Site]:  # fmt: skip
    """The inventory's sites to tell that *release* left preview: those it was pushed to that
    have not retired it (*force*: every target and every site it was pushed to; *names*: those,
    which must be targets or have had it)."""
    latest = {o.site: o for o in store.latest(release.component, release.version)}
    targets = {s.name for s in target_sites(config, release)}
    if names:
        chosen = []
        for name in names:
            site = config.site(name)
            if site.name not in targets and site.name not in latest:
                raise BadInput(f"site {name} never had {release.key}: nothing to retire there")
            chosen.append(site)
        return chosen
    return [s for s in config.sites
            if (force and (s.name in targets or s.name in latest))
            or (s.name in latest and not_told(release, latest[s.name]))]  # fmt: skip
