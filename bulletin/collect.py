"""Collect the live version map: which preview version is live, broken or absent at which site.

The acquisition half of the bulletin (presentation is :mod:`bulletin.render`): it joins the
repository index, the site list and what each site publishes (its GLUE LDIF text, or entries read
from a BDII) into a plain, sorted data model and writes no text.  Tags are matched to releases
case-insensitively, as the BDII compares RTE values.  Embargoed releases are left out entirely,
and so are their tags.  A preview tag (``VO-<vo>-PPS-...``) that matches no release of the index
is kept per site as an *unknown tag*, so a tag left behind after a release was removed shows up.
One site that cannot be read (unreachable, unparsable LDIF) is marked and never hides the others.
What a site said that is only shown (its error, its unknown tags) is kept as printable text
(:func:`pps.text.printable`): data on a page, never control characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, Union
from urllib.parse import urlsplit

from bulletin.records import OutcomeRecord, Records, ReleaseRecord
from pps.classes import PartnerClass, targets
from pps.errors import BadInput
from pps.glue import (
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    Entry,
    parse_ldif,
    published_tags,
)
from pps.names import PREVIEW_CAPABILITY, check_vo, rte_requirement, version_tag
from pps.repository import Index, Release
from pps.rte import parse_rte_name
from pps.text import is_link_url, printable

MAP_FORMAT = "pps-map/2"

#: The state of one version at one site, in words, as the bulletin shows it.
LIVE = "live"
NOT_VERIFIED = "installed not verified"
BROKEN = "broken"
AWAITING = "awaiting local configuration"
PENDING_REMOVAL = "pending removal"
NOT_INSTALLED = "not installed"
#: The site's partner class does not take this update class (e.g. nbc-client at a gold site).
NOT_TARGETED = "not for this site"
UNREACHABLE = "site unreachable"
#: Published, but the release is no longer a preview (closed, rejected or withdrawn).
STALE = "stale"
STATES = (
    LIVE, NOT_VERIFIED, BROKEN, AWAITING, PENDING_REMOVAL, NOT_INSTALLED, NOT_TARGETED,
    UNREACHABLE, STALE,
)  # fmt: skip
#: One sentence per state: the legend on every page.
LEGEND = {
    LIVE: "The site publishes the version's tag and its tests passed there (GLUE 2.0 "
    "installedverified): jobs that ask for the tag can run there.",
    NOT_VERIFIED: "The site publishes the tag, but says its installation is not verified "
    "(installednotverified): jobs can match, and its tests have not all confirmed it.",
    BROKEN: "The version is installed at the site but a test failed there (the failing test "
    "is named): the tag is withheld or marked broken, so no job is sent there for it.",
    AWAITING: "The version is installed but waits for the site's local configuration; what "
    "the site admin must do is shown.",
    PENDING_REMOVAL: "The site was told to retire the version; its tree stays until the date "
    "shown, and new jobs should not ask for it.",
    NOT_INSTALLED: "The site takes this kind of update but does not have the version (yet); "
    "the reason, when known, is shown.",
    NOT_TARGETED: "The site's partner class does not take this update class, so the version "
    "is never sent there.",
    UNREACHABLE: "The site's information could not be read at the last build; what it "
    "published before is unknown.",
    STALE: "The site still publishes the tag, but the version's preview ended (closed, "
    "rejected or withdrawn): the site has not retired it yet.",
}


class SiteRead(Protocol):
    """A site's information as a reader already sorted it (:class:`pps.publication.
    SitePublication`): its entries and its preview tags by folded name, each with ``tag``,
    ``glue1`` (GLUE 1.3 lists it) and ``state`` (GLUE 2.0, ``""`` without an entry)."""

    @property
    def entries(self) -> Sequence[Entry]: ...
    @property
    def tags(self) -> Mapping[str, Any]: ...


#: What one site published: LDIF text, entries already read (e.g. from a BDII over LDAP), or
#: a site's sorted reading (:class:`SiteRead`, the cheapest: nothing is parsed twice).
Published = Union[str, Sequence[Entry], SiteRead]


class _Tag:
    """A tag at a site and its GLUE 2.0 state, as the map judges it."""

    __slots__ = ("tag", "state")

    def __init__(self, tag: str, state: str) -> None:
        self.tag = tag
        self.state = state

    @property
    def live(self) -> bool:
        return self.state in (STATE_VERIFIED, STATE_NOT_VERIFIED)


class SiteLike(Protocol):
    """What the bulletin needs of a site (:class:`pps.inventory.Site` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def partner(self) -> Any: ...
    @property
    def vos(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SiteInfo:
    """A partner site as the bulletin shows it."""

    name: str
    partner: str
    vos: tuple[str, ...]
    #: Whether the site publishes the ``PPS-PREVIEW`` capability tag.
    preview_capable: bool = False
    #: Why nothing could be read from the site; ``None`` when its information was read.
    error: str | None = None
    #: Preview tags the site publishes for no release of the index (original spelling).
    unknown_tags: tuple[str, ...] = ()
    #: When anything was last heard from the site (its information read now, else its latest
    #: push outcome; "" never).
    last_seen: str = ""


@dataclass(frozen=True)
class VoUse:
    """How a VO asks for a version: its tag, the ClassAd requirement and where it is live."""

    vo: str
    tag: str
    requirements: str
    jdl: str
    sites: tuple[str, ...]


@dataclass(frozen=True)
class SiteState:
    """One version at one site."""

    site: str
    #: One of :data:`STATES`.
    state: str
    #: Whether the site's partner class takes this release's update class.
    target: bool
    live_vos: tuple[str, ...] = ()
    broken_vos: tuple[str, ...] = ()
    pending_vos: tuple[str, ...] = ()
    #: The site's error when :attr:`state` is :data:`UNREACHABLE`.
    error: str | None = None
    #: What the state means here, in words: which test failed, what the site must do, since
    #: and until when the tree stays, which partner class ("" when nothing more to say).
    detail: str = ""
    #: When this state was last seen (ISO 8601 UTC; "" never).
    seen: str = ""


@dataclass(frozen=True)
class VersionInfo:
    """One release of the index with its state at every site."""

    component: str
    version: str
    stage: str
    update_class: str
    release_type: str
    sha256: str
    created: str
    #: Release notes and feedback pages: http(s) URLs with a host and ``mailto:`` one plain
    #: address (:func:`pps.text.is_link_url`) are kept, anything else is "".
    notes_url: str
    feedback_url: str
    #: Sites where the tag of any VO is live.
    sites: tuple[str, ...]
    #: Sites publishing ``installedbroken`` for the tag of any VO.
    broken_at: tuple[str, ...]
    vos: tuple[VoUse, ...]
    #: One entry per site, in the order of :attr:`VersionMap.sites`.
    at_sites: tuple[SiteState, ...]
    #: The lifecycle state (``pps release list``'s STATE; "" without release records).
    state: str = ""
    #: Whether sites should carry it as a preview (stage a preview one, not withdrawn).
    in_preview: bool = True
    #: The release records (lifecycle, adopters, bugs, feedback), when they were given.
    record: ReleaseRecord | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(s.site for s in self.at_sites if s.target)

    @property
    def lifecycle(self) -> str:
        """The lifecycle state in words ("not recorded" without release records)."""
        return self.state or "not recorded"


@dataclass(frozen=True)
class VersionMap:
    """The whole map: every public release, every site, and when it was collected."""

    generated: datetime
    versions: tuple[VersionInfo, ...] = ()
    sites: tuple[SiteInfo, ...] = ()
    #: Where the sites' information was read (the BDII's URL, or their own GIP output).
    source: str = ""
    #: Where the release records were read ("" when none were given).
    records_source: str = ""

    def components(self) -> list[tuple[str, list[VersionInfo]]]:
        """Versions grouped by component, in map order."""
        grouped: dict[str, list[VersionInfo]] = {}
        for v in self.versions:
            grouped.setdefault(v.component, []).append(v)
        return list(grouped.items())

    @property
    def generated_iso(self) -> str:
        """:attr:`generated` as ISO 8601 UTC, to the second (``2010-06-01T12:00:00Z``)."""
        return iso_utc(self.generated)

    def to_dict(self) -> dict[str, Any]:
        """The ``map.json`` structure (format :data:`MAP_FORMAT`), plain JSON types only."""
        components: dict[str, Any] = {}
        for v in self.versions:
            rec = v.record
            components.setdefault(v.component, {})[v.version] = {
                "stage": v.stage,
                "state": v.state,
                "in_preview": v.in_preview,
                "verified": rec.verified if rec else "",
                "first_live": rec.first_live if rec else "",
                "all_live": rec.all_live if rec else "",
                "ended": rec.ended if rec else "",
                "bugs": [{"id": b.id, "title": b.title} for b in rec.bugs] if rec else [],
                "update_class": v.update_class,
                "release_type": v.release_type,
                "sha256": v.sha256,
                "created": v.created,
                "notes_url": v.notes_url,
                "feedback_url": v.feedback_url,
                "sites": list(v.sites),
                "broken_at": list(v.broken_at),
                "targets": list(v.targets),
                "states": {s.site: s.state for s in v.at_sites},
                "cells": {
                    s.site: {"state": s.state, "detail": s.detail, "seen": s.seen}
                    for s in v.at_sites
                },
                "vos": {
                    u.vo: {
                        "tag": u.tag,
                        "requirements": u.requirements,
                        "jdl": u.jdl,
                        "sites": list(u.sites),
                    }
                    for u in v.vos
                },
            }
        return {
            "format": MAP_FORMAT,
            "generated": self.generated_iso,
            "source": self.source,
            "records_source": self.records_source,
            "components": components,
            "sites": {
                s.name: {
                    "partner": s.partner,
                    "vos": list(s.vos),
                    "preview_capable": s.preview_capable,
                    "error": s.error,
                    "unknown_tags": list(s.unknown_tags),
                    "last_seen": s.last_seen,
                }
                for s in self.sites
            },
        }


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def parse_utc(text: str) -> datetime | None:
    """An ISO 8601 time as UTC (None when it is none); cached: a build parses the same few
    times (the read's, the outcomes') once per cell otherwise."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def short_time(text: str) -> str:
    """An ISO 8601 time for people (``2010-06-01 12:00 UTC``); other text as it is."""
    moment = parse_utc(text)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else text


def is_web_url(url: object) -> bool:
    """Whether *url* is an absolute http(s) URL with a host: the only URLs that become links."""
    if not isinstance(url, str) or not url or url != url.strip():
        return False
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


#: The ClassAd requirement on a tag (the text :func:`jdl_templates.requirement` writes too).
requirement = rte_requirement


def version_key(version: str) -> tuple[Any, ...]:
    """Natural order of versions: ``3.2.9-0`` < ``3.2.10-0``."""
    parts = re.split(r"(\d+)", version)
    # re.split alternates text and digits, so equal positions always hold equal types.
    return (tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), version)


def _name_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def build_map(
    index: Index,
    sites: Iterable[SiteLike],
    published: Mapping[str, Published] | None = None,
    errors: Mapping[str, str] | None = None,
    generated: datetime | None = None,
    records: Records | None = None,
    source: str = "",
) -> VersionMap:
    """Join *index*, *sites* and what each site publishes into a :class:`VersionMap`.

    *published* maps a site name to its LDIF text (or parsed entries); *errors* maps a site
    name to why it could not be read (an error wins over published information).  A site in
    neither is shown as unreachable with "no information was collected".  *generated* must be
    timezone-aware (default: now).  *records* (:mod:`bulletin.records`) add each release's
    lifecycle and each site's latest push outcome: a cell then says why a version is not live
    (a failed test, the local configuration awaited); *source* names where the sites' information
    was read.  Raises BadInput for a site listed twice, a site in
    *published*/*errors* that is not in *sites*, a bad partner class or VO name.
    """
    published = dict(published or {})
    errors = dict(errors or {})
    if generated is None:
        generated = datetime.now(timezone.utc)
    elif generated.tzinfo is None or generated.utcoffset() is None:
        raise BadInput(f"generated time {generated.isoformat()} must be timezone-aware")

    site_list = list(sites)
    for s in site_list:
        if not isinstance(s.name, str) or not s.name:
            raise BadInput(f"site name must be a non-empty string, got {s.name!r}")
    site_list.sort(key=lambda s: _name_key(s.name))
    names = [s.name for s in site_list]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"site {dupes[0]!r} is listed twice")
    for what, given in (("published information", published), ("an error", errors)):
        stray = sorted(set(given) - set(names), key=str)
        if stray:
            raise BadInput(f"{what} is given for site {stray[0]!r}, which is not in the site list")

    releases = sorted(
        index.releases, key=lambda r: (_name_key(r.component), version_key(r.version))
    )
    public = [r for r in releases if not r.embargo]
    embargoed = {(r.component, r.version) for r in releases if r.embargo}
    by_rest = _by_rest(releases)
    partners: dict[str, PartnerClass] = {}
    site_vos: dict[str, tuple[str, ...]] = {}
    for s in site_list:
        try:
            partners[s.name] = PartnerClass.parse(str(s.partner))
            site_vos[s.name] = tuple(sorted({check_vo(vo) for vo in s.vos}))
        except BadInput as e:
            raise BadInput(f"site {s.name!r}: {e}") from None

    # Per site: (release key, vo) -> PublishedTag, the capability, unknown tags, or an error.
    found: dict[str, dict[tuple[str, str, str], Any]] = {}
    removal: dict[str, dict[str, str]] = {}
    infos: list[SiteInfo] = []
    records = records or Records()
    heard: dict[str, str] = {}
    for rec in records.releases.values():
        for o in rec.outcomes:
            heard[o.site] = max(heard.get(o.site, ""), o.at)
    for s in site_list:
        error = errors.get(s.name)
        if error is not None:  # what a site or its transport said: shown, never obeyed
            error = printable(str(error)) or "unreachable"
        tags: dict[str, Any] = {}
        if error is None:
            if s.name not in published:
                error = "no information was collected"
            else:
                try:
                    tags, removal[s.name] = _read(published[s.name], s.name)
                except BadInput as e:
                    error = printable(str(e))
        if error is not None:
            tags = {}
        matched, unknown = _match_tags(_with_rte_vos(tags, site_vos[s.name]), by_rest)
        found[s.name] = {k: t for k, t in matched.items() if k[:2] not in embargoed}
        capability = tags.get(PREVIEW_CAPABILITY.casefold())
        infos.append(
            SiteInfo(
                name=s.name,
                partner=partners[s.name].value,
                vos=site_vos[s.name],
                preview_capable=bool(capability and capability.live),
                error=error,
                # shown, never matched again: printable, as a site's error
                unknown_tags=tuple(sorted((printable(t) for t in unknown), key=_name_key)),
                last_seen=iso_utc(generated) if error is None else heard.get(s.name, ""),
            )
        )

    vos_of: dict[tuple[str, str], set[str]] = {}
    for per_site in found.values():
        for c, v, vo in per_site:
            vos_of.setdefault((c, v), set()).add(vo)
    ctx = _Context(infos, partners, found, removal, iso_utc(generated), vos_of)
    versions = [_version_info(r, ctx, records.get(r.component, r.version)) for r in public]
    return VersionMap(
        generated=generated,
        versions=tuple(versions),
        sites=tuple(infos),
        source=printable(source),
        records_source=printable(records.source),
    )


def _read(data: Published, site: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The tags a site publishes (folded tag -> its tag and state), and the removal date of each
    pending removal (by folded tag) as its GLUE 2.0 entry says."""
    tags: dict[str, Any]
    if isinstance(data, str):
        entries: Sequence[Entry] = parse_ldif(data, source=f"LDIF published by site {site}")
        tags = published_tags(entries)
    elif hasattr(data, "tags") and hasattr(data, "entries"):
        entries = data.entries
        # GLUE 2.0's state when it has an entry (broken, pending removal win over GLUE 1.3)
        tags = {
            k: _Tag(t.tag, t.state or (STATE_VERIFIED if t.glue1 else ""))
            for k, t in data.tags.items()
        }
    else:
        entries = list(data)
        tags = published_tags(entries)
    removal: dict[str, str] = {}
    for e in entries:
        date = e.attrs.get("glue2applicationenvironmentremovaldate")
        if date:
            name = e.first("GLUE2ApplicationEnvironmentAppName")
            if name:
                removal[name.casefold()] = printable(date[0])
    return tags, removal


def _with_rte_vos(tags: Mapping[str, Any], vos: Sequence[str]) -> Mapping[str, Any]:
    """*tags*, where an ARC-CE's preview RTE (``ENV/PPS/<COMPONENT>-<VERSION>``) also stands
    for the site's tag of that version for each of its VOs: an A-REX RTE serves every VO."""
    out: dict[str, Any] | None = None
    for folded, tag in tags.items():
        ref = parse_rte_name(folded) if folded.startswith("env/pps/") else None
        if ref is None:
            continue
        out = dict(tags) if out is None else out
        rest = f"{ref.component}-{ref.version}".casefold()
        for vo in vos:
            out.setdefault(f"vo-{vo}-pps-{rest}".casefold(), tag)
    return tags if out is None else out


def _match_tags(
    tags: Mapping[str, Any],
    releases: Sequence[Release] | Mapping[str, Sequence[Release]],
) -> tuple[dict[tuple[str, str, str], Any], list[str]]:
    """Sort a site's tags into (component, version, vo) of a release, and unknown preview
    tags.  Matching goes by the release's tag suffix, so dashes in components are no problem."""
    by_rest = releases if isinstance(releases, Mapping) else _by_rest(releases)
    matched: dict[tuple[str, str, str], Any] = {}
    unknown: list[str] = []
    for folded, tag in tags.items():
        if not (folded.startswith("vo-") and "-pps-" in folded):
            continue  # a capability or another software's tag
        hit = False
        # VO-<vo>-PPS-<component>-<version>: try every "-pps-" (a VO may hold one too)
        i = folded.find("-pps-", 3)
        while i != -1:
            vo = folded[3:i]
            for r in by_rest.get(folded[i + 5 :], ()) if vo and _is_vo(vo) else ():
                matched[(r.component, r.version, vo)] = tag
                hit = True
            i = folded.find("-pps-", i + 1)
        if not hit:
            unknown.append(tag.tag)
    return matched, unknown


@functools.lru_cache(maxsize=1024)
def _is_vo(vo: str) -> bool:
    """Whether *vo* is a VO name (cached: a grid has a few VOs, and each site a tag of each
    version for each)."""
    try:
        check_vo(vo)
    except BadInput:
        return False
    return True


def _by_rest(releases: Sequence[Release]) -> dict[str, list[Release]]:
    """Releases by the folded ``<component>-<version>`` their tags end with."""
    out: dict[str, list[Release]] = {}
    for r in releases:
        out.setdefault(f"{r.component}-{r.version}".casefold(), []).append(r)
    return out


@dataclass(frozen=True)
class _Context:
    """What every version's cells are judged from."""

    infos: Sequence[SiteInfo]
    partners: Mapping[str, PartnerClass]
    #: Per site, (component, version, vo) -> the tag (``.tag``, ``.state``, ``.live``).
    found: Mapping[str, Mapping[tuple[str, str, str], Any]]
    removal: Mapping[str, Mapping[str, str]]
    read_at: str
    #: The VOs some site publishes each release's tag for.
    vos_of: Mapping[tuple[str, str], set[str]]


def _idle_state(
    release: Release, target: bool, partner: PartnerClass, outcome: OutcomeRecord | None
) -> tuple[str, str, str]:
    """(state, detail, seen) of a site that publishes nothing for *release*."""
    if outcome is not None and outcome.state not in ("OK", "RUNNING", "NEVER PUSHED"):
        said = printable(outcome.summary)
        lower = said.casefold()
        if AWAITING in lower:
            what = said[lower.index(AWAITING) + len(AWAITING) :].lstrip(" :;-") or said
            return AWAITING, what, outcome.at
        if outcome.state in ("CRITICAL", "UNKNOWN") and not outcome.retire:
            return BROKEN, said or f"the probe said {outcome.state}", outcome.at
    if outcome is not None and outcome.retire and outcome.state == "OK":
        return NOT_INSTALLED, "retired: the site was told the preview ended", outcome.at
    if not target:
        cls = release.update_class.value
        return NOT_TARGETED, f"partner class {partner.value} does not take {cls} updates", ""
    if not release.in_preview:
        return NOT_INSTALLED, f"the preview ended (stage {release.stage})", ""
    if outcome is None:
        return NOT_INSTALLED, "not pushed to the site yet", ""
    if outcome.state == "OK":
        return NOT_INSTALLED, "the site chose not to install it (OK, not live)", outcome.at
    said = printable(outcome.summary)
    return NOT_INSTALLED, f"{outcome.state}: {said}" if said else outcome.state, outcome.at


def _version_info(release: Release, ctx: _Context, record: ReleaseRecord | None) -> VersionInfo:
    c, v = release.component, release.version
    infos, partners, found = ctx.infos, ctx.partners, ctx.found
    outcomes = {o.site: o for o in record.outcomes} if record else {}
    vos: set[str] = set(ctx.vos_of.get((c, v), ()))
    for info in infos:
        vos.update(info.vos)
    at_sites: list[SiteState] = []
    live_by_vo: dict[str, list[str]] = {vo: [] for vo in vos}
    keys = [((c, v, vo), vo) for vo in sorted(vos)]
    target_of: dict[PartnerClass, bool] = {}
    #: The detail of a live cell, by its VOs (a few combinations for hundreds of sites).
    live_detail: dict[tuple[str, ...], str] = {}
    for info in infos:
        partner = partners[info.name]
        target = target_of.get(partner)
        if target is None:
            target = target_of[partner] = targets(release.update_class, partner)
        outcome = outcomes.get(info.name)
        if info.error is not None:
            at_sites.append(
                SiteState(info.name, UNREACHABLE, target, error=info.error, detail=info.error,
                          seen=info.last_seen)
            )  # fmt: skip
            continue
        live, broken, pending, unverified = [], [], [], []
        removal_dates: list[str] = []
        here = found[info.name]
        for key, vo in keys:
            tag = here.get(key)
            if tag is None:
                continue
            tag_state = tag.state
            if tag_state == STATE_VERIFIED:  # (what ``tag.live`` says, without a call)
                live.append(vo)
                live_by_vo[vo].append(info.name)
            elif tag_state == STATE_NOT_VERIFIED:
                live.append(vo)
                live_by_vo[vo].append(info.name)
                unverified.append(vo)
            elif tag_state == STATE_BROKEN:
                broken.append(vo)
            elif tag_state == STATE_PENDING_REMOVAL:
                pending.append(vo)
                date = ctx.removal.get(info.name, {}).get(version_tag(vo, c, v).casefold())
                if date:
                    removal_dates.append(date)
        seen = ctx.read_at
        if live and not release.in_preview:
            state = STALE
            gone = "withdrawn" if release.withdrawn else f"stage {release.stage}"
            ended = f"{record.state}, " if record and record.state else ""
            detail = f"still published for {', '.join(live)}, but the preview ended ({ended}{gone})"
        elif live and len(unverified) == len(live):
            state, detail = NOT_VERIFIED, f"published for {', '.join(live)}, not verified"
        elif live:
            state, key_vos = LIVE, tuple(live)
            detail = live_detail.get(key_vos) or live_detail.setdefault(
                key_vos, f"live for {', '.join(live)}"
            )
        elif broken:
            state = BROKEN
            why = printable(outcome.summary) if outcome and outcome.failed else ""
            detail = f"installation broken for {', '.join(broken)}" + (f": {why}" if why else "")
        elif pending:
            state = PENDING_REMOVAL
            since = outcome.at if outcome is not None and outcome.retire else ""
            detail = f"being removed for {', '.join(pending)}"
            if since:
                detail += f"; since {short_time(since)}"
            if removal_dates:
                detail += f"; tree stays until {short_time(min(removal_dates))}"
        else:
            state, detail, seen = _idle_state(release, target, partner, outcome)
            if state not in (AWAITING, BROKEN) or not seen:
                seen = ctx.read_at
        at_sites.append(
            SiteState(info.name, state, target, tuple(live) if live else (),
                      tuple(broken) if broken else (), tuple(pending) if pending else (),
                      detail=detail, seen=seen)
        )  # fmt: skip
    uses = []
    for vo in sorted(vos):
        vo_tag = version_tag(vo, c, v)
        req = requirement(vo_tag)
        uses.append(VoUse(vo, vo_tag, req, f"Requirements = {req};", tuple(live_by_vo[vo])))
    return VersionInfo(
        component=c,
        version=v,
        stage=release.stage,
        update_class=release.update_class.value,
        release_type=release.release_type.value,
        sha256=release.sha256,
        created=release.created,
        notes_url=release.notes_url if is_link_url(release.notes_url) else "",
        feedback_url=release.feedback_url if is_link_url(release.feedback_url) else "",
        sites=tuple(s.site for s in at_sites if s.live_vos),
        broken_at=tuple(s.site for s in at_sites if s.broken_vos),
        vos=tuple(uses),
        at_sites=tuple(at_sites),
        state=record.state if record else "",
        in_preview=release.in_preview,
        record=record,
    )
