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

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, Union
from urllib.parse import urlsplit

from pps.classes import PartnerClass, targets
from pps.errors import BadInput
from pps.glue import (
    STATE_BROKEN,
    STATE_PENDING_REMOVAL,
    Entry,
    PublishedTag,
    parse_ldif,
    published_tags,
)
from pps.names import PREVIEW_CAPABILITY, check_vo, rte_requirement, version_tag
from pps.repository import Index, Release
from pps.text import is_link_url, printable

MAP_FORMAT = "pps-map/1"

#: The state of one version at one site, in words, as the bulletin shows it.
LIVE = "live"
BROKEN = "broken"
PENDING_REMOVAL = "pending removal"
NOT_INSTALLED = "not installed"
#: The site's partner class does not take this update class (e.g. nbc-client at a gold site).
NOT_TARGETED = "not for this site"
UNREACHABLE = "site unreachable"
STATES = (LIVE, BROKEN, PENDING_REMOVAL, NOT_INSTALLED, NOT_TARGETED, UNREACHABLE)

#: What one site published: LDIF text, or entries already read (e.g. from a BDII over LDAP).
Published = Union[str, Sequence[Entry]]


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

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(s.site for s in self.at_sites if s.target)


@dataclass(frozen=True)
class VersionMap:
    """The whole map: every public release, every site, and when it was collected."""

    generated: datetime
    versions: tuple[VersionInfo, ...] = ()
    sites: tuple[SiteInfo, ...] = ()

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
            components.setdefault(v.component, {})[v.version] = {
                "stage": v.stage,
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
            "components": components,
            "sites": {
                s.name: {
                    "partner": s.partner,
                    "vos": list(s.vos),
                    "preview_capable": s.preview_capable,
                    "error": s.error,
                    "unknown_tags": list(s.unknown_tags),
                }
                for s in self.sites
            },
        }


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
) -> VersionMap:
    """Join *index*, *sites* and what each site publishes into a :class:`VersionMap`.

    *published* maps a site name to its LDIF text (or parsed entries); *errors* maps a site
    name to why it could not be read (an error wins over published information).  A site in
    neither is shown as unreachable with "no information was collected".  *generated* must be
    timezone-aware (default: now).  Raises BadInput for a site listed twice, a site in
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
    partners: dict[str, PartnerClass] = {}
    site_vos: dict[str, tuple[str, ...]] = {}
    for s in site_list:
        try:
            partners[s.name] = PartnerClass.parse(str(s.partner))
            site_vos[s.name] = tuple(sorted({check_vo(vo) for vo in s.vos}))
        except BadInput as e:
            raise BadInput(f"site {s.name!r}: {e}") from None

    # Per site: (release key, vo) -> PublishedTag, the capability, unknown tags, or an error.
    found: dict[str, dict[tuple[str, str, str], PublishedTag]] = {}
    infos: list[SiteInfo] = []
    for s in site_list:
        error = errors.get(s.name)
        if error is not None:  # what a site or its transport said: shown, never obeyed
            error = printable(str(error)) or "unreachable"
        tags: dict[str, PublishedTag] = {}
        if error is None:
            if s.name not in published:
                error = "no information was collected"
            else:
                try:
                    tags = _read(published[s.name], s.name)
                except BadInput as e:
                    error = printable(str(e))
        if error is not None:
            tags = {}
        matched, unknown = _match_tags(tags, releases)
        found[s.name] = {k: t for k, t in matched.items() if not _embargoed(k, releases)}
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
            )
        )

    versions = [_version_info(r, infos, partners, found) for r in public]
    return VersionMap(generated=generated, versions=tuple(versions), sites=tuple(infos))


def _read(data: Published, site: str) -> dict[str, PublishedTag]:
    if isinstance(data, str):
        entries = parse_ldif(data, source=f"LDIF published by site {site}")
    else:
        entries = list(data)
    return published_tags(entries)


def _embargoed(key: tuple[str, str, str], releases: Sequence[Release]) -> bool:
    return any(r.embargo and (r.component, r.version) == key[:2] for r in releases)


def _match_tags(
    tags: Mapping[str, PublishedTag], releases: Sequence[Release]
) -> tuple[dict[tuple[str, str, str], PublishedTag], list[str]]:
    """Sort a site's tags into (component, version, vo) of a release, and unknown preview
    tags.  Matching goes by the release's tag suffix, so dashes in components are no problem."""
    suffixes = [(f"-PPS-{r.component}-{r.version}".casefold(), r) for r in releases]
    matched: dict[tuple[str, str, str], PublishedTag] = {}
    unknown: list[str] = []
    for folded, tag in tags.items():
        if not (folded.startswith("vo-") and "-pps-" in folded):
            continue  # a capability or another software's tag
        hit = False
        for suffix, r in suffixes:
            if folded.endswith(suffix) and len(folded) > len(suffix) + 3:
                vo = folded[3 : -len(suffix)]
                try:
                    check_vo(vo)
                except BadInput:
                    continue
                matched[(r.component, r.version, vo)] = tag
                hit = True
        if not hit:
            unknown.append(tag.tag)
    return matched, unknown


def _version_info(
    release: Release,
    infos: Sequence[SiteInfo],
    partners: Mapping[str, PartnerClass],
    found: Mapping[str, Mapping[tuple[str, str, str], PublishedTag]],
) -> VersionInfo:
    c, v = release.component, release.version
    vos: set[str] = set()
    for info in infos:
        vos.update(info.vos)
        vos.update(k[2] for k in found[info.name] if k[:2] == (c, v))
    at_sites: list[SiteState] = []
    live_by_vo: dict[str, list[str]] = {vo: [] for vo in vos}
    for info in infos:
        target = targets(release.update_class, partners[info.name])
        if info.error is not None:
            at_sites.append(SiteState(info.name, UNREACHABLE, target, error=info.error))
            continue
        live, broken, pending = [], [], []
        for vo in sorted(vos):
            tag = found[info.name].get((c, v, vo))
            if tag is None:
                continue
            if tag.live:
                live.append(vo)
                live_by_vo[vo].append(info.name)
            elif tag.state == STATE_BROKEN:
                broken.append(vo)
            elif tag.state == STATE_PENDING_REMOVAL:
                pending.append(vo)
        idle = NOT_INSTALLED if target else NOT_TARGETED
        state = LIVE if live else BROKEN if broken else PENDING_REMOVAL if pending else idle
        at_sites.append(
            SiteState(info.name, state, target, tuple(live), tuple(broken), tuple(pending))
        )
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
    )
