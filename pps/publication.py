"""From published GLUE entries to the version map: which preview tag is published at which site.

Every reader of published information goes through :func:`read_entries`: ``pps bulletin build``
and ``pps infosys map`` / ``check``, whether the entries come from a BDII over LDAP (GLUE 1.3
under ``o=grid``, GLUE 2.0 under ``o=glue``) or from the LDIF each site's GIP provider prints
(the embedded default, no server).  So both ways give the same map for the same information.
Standard library only, like the rest of the core; the LDAP client lives in
:mod:`distributor.infosys`.

What is read
    Only preview tags: ``VO-<vo>-PPS-...`` and the ``PPS-PREVIEW`` capability, matched
    case-insensitively (GLUE 1.3 RTE values are caseIgnoreIA5).  A GLUE 1.3 entry counts through
    its ``GlueHostApplicationSoftwareRunTimeEnvironment`` values; a GLUE 2.0
    ``GLUE2ApplicationEnvironment`` through its ``AppName`` and ``State``.  Every value is kept
    as the exact text the server sent: nothing read is ever parsed as a filter, a DN or markup.
    ARC-CEs: A-REX publishes a pps RunTimeEnvironment ``ENV/PPS/GLITE-UI-3.2.8-0`` as an
    ApplicationEnvironment with ``AppName`` ``ENV/PPS/GLITE-UI`` and ``AppVersion`` ``3.2.8-0``;
    one whose AppName starts with ``ENV/PPS/`` (any case) is read as the RTE name a job asks
    for: AppName and AppVersion rejoined with ``-`` (AppName alone without an AppVersion) and
    parsed by :func:`pps.rte.parse_rte_name` (:func:`rte_tag`), never by trusting where the
    publisher cut it.  It is a tag of the same map as the GLUE 1.3 ones (GLUE 2.0 only: an RTE
    name is never a GLUE 1.3 value).  One under ``ENV/PPS/`` that names no preview version is
    skipped with a warning; other RTEs are not pps's and are skipped silently.

The site of an entry (first rule that gives a non-empty name wins)
    0. Entries from one site's own GIP output belong to that site (``source_site``).
    GLUE 1.3:
    1. the DN's ``Mds-Vo-name`` nearest to ``o=grid`` that is not ``local`` or ``resource``:
       ``...,Mds-Vo-name=SITE,Mds-Vo-name=local,o=grid`` (a top BDII) and
       ``...,Mds-Vo-name=SITE,o=grid`` (a site BDII) both give ``SITE``;
    2. under ``Mds-Vo-name=resource,o=grid`` (a resource BDII, and what our provider writes)
       the DN names no site: the inventory's subcluster (``GlueSubClusterUniqueID``) or
       cluster (``GlueChunkKey: GlueClusterUniqueID=...``) gives it;
    3. else the GLUE chain: the ``GlueCluster`` entry the chunk key names, and its
       ``GlueForeignKey: GlueSiteUniqueID=SITE``.
    GLUE 2.0:
    1. the DN's ``GLUE2DomainID`` nearest to ``o=glue``
       (``...,GLUE2GroupID=resource,GLUE2DomainID=SITE,GLUE2GroupID=grid,o=glue`` in a top
       BDII, ``...,GLUE2DomainID=SITE,o=glue`` in a site BDII);
    2. a DN without one (``...,GLUE2GroupID=resource,o=glue``, a resource BDII, and what our
       provider writes): ``GLUE2EntityOtherInfo: PPSSite=SITE``, which our provider writes on
       every entry.  (The GLUE 2.0 foreign-key chain, ApplicationEnvironment -> Manager ->
       Service -> AdminDomain, is not followed: an entry pps did not write and whose DN names
       no domain is skipped.)
    The DN rules come first because the BDII's own tree is built from the sites' registration;
    the inventory and ``PPSSite`` are what pps itself says.  Site names compare
    case-insensitively (DNs do); the first spelling met is the one shown.  A tag that one site
    publishes from several CEs keeps the best GLUE 2.0 state (installedverified first).

Skipped, each with a warning naming the DN: an entry whose site no rule gives, a DN that does
not parse, a GLUE 2.0 entry without ``AppName`` or ``State``.  The rest of the read goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from itertools import compress
from json.encoder import encode_basestring_ascii as _encode
from urllib.parse import urlsplit

from pps.confine import check_host
from pps.errors import BadInput
from pps.glue import STATE_NOT_VERIFIED, STATE_VERIFIED, Entry
from pps.names import PREVIEW_CAPABILITY, RTE_ATTRIBUTE
from pps.record import Record
from pps.rte import RTE_PREFIX, parse_rte_name
from pps.text import printable

GLUE13_BASE = "o=grid"
GLUE2_BASE = "o=glue"
APP_NAME = "GLUE2ApplicationEnvironmentAppName"
APP_STATE = "GLUE2ApplicationEnvironmentState"
APP_VERSION = "GLUE2ApplicationEnvironmentAppVersion"
OTHER_INFO = "GLUE2EntityOtherInfo"
APP_ENV_CLASS = "GLUE2ApplicationEnvironment"
#: The OtherInfo key our GIP provider writes on every GLUE 2.0 entry.
PPS_SITE_KEY = "PPSSite="
#: GLUE 2.0 states under which a tag can be selected (as GLUE 1.3 presence means).
LIVE_STATES = (STATE_VERIFIED, STATE_NOT_VERIFIED)
#: Which of several GLUE 2.0 states of one tag at one site (several CEs) is kept: the best.
_STATE_RANK = {STATE_VERIFIED: 0, STATE_NOT_VERIFIED: 1}
_CAPABILITY = PREVIEW_CAPABILITY.casefold()
_NOT_SITES = frozenset({"local", "resource"})
_RTE_KEY = RTE_ATTRIBUTE.lower()
_APP_NAME_KEY = APP_NAME.lower()
_APP_STATE_KEY = APP_STATE.lower()
_APP_VERSION_KEY = APP_VERSION.lower()
_RTE_PREFIX = RTE_PREFIX.casefold()
_APP_ENV_KEY = APP_ENV_CLASS.lower()
_DN_SITE_ATTRS = ("mds-vo-name", "glue2domainid")


def is_pps_tag(tag: str) -> bool:
    """Whether *tag* is a preview tag (``VO-*-PPS-*`` as an LDAP substring filter reads it, or
    the ``PPS-PREVIEW`` capability), compared case-insensitively."""
    folded = tag.casefold()
    return folded == _CAPABILITY or (folded.startswith("vo-") and "-pps-" in folded[3:])


def is_rte_name(tag: str) -> bool:
    """Whether *tag* is the ARC RunTimeEnvironment name of a preview (``ENV/PPS/<COMPONENT>-
    <VERSION>``, any case, as :func:`pps.rte.parse_rte_name` reads it)."""
    return tag[: len(_RTE_PREFIX)].casefold() == _RTE_PREFIX and parse_rte_name(tag) is not None


def rte_tag(app_name: str, app_version: str | None) -> str | None:
    """The RTE name a GLUE 2.0 ApplicationEnvironment stands for when it is a preview's, else
    None: *app_name* and *app_version* rejoined with ``-`` (*app_name* alone when there is no
    version), as spelt, if :func:`pps.rte.parse_rte_name` reads a preview in it.  A-REX cuts a
    name at its first ``-`` followed by a digit; whoever cut it, the name rejoined is the one
    an xRSL's ``(runtimeenvironment=...)`` names."""
    joined = f"{app_name}-{app_version}" if app_version else app_name
    return joined if is_rte_name(joined) else None


def safe_text(text: str) -> str:
    """*text* with every character that is not printable written as an escape (``\\x1b``), so
    a value read from a server can never move the cursor, end a line or ring a bell: the one
    rule of :func:`pps.text.printable`."""
    return printable(text)


# ----------------------------------------------------------------------------------- the URL
class LdapUrl(Record):
    """Where a BDII listens: ``ldap://HOST:PORT`` (or ``ldaps://``), nothing else."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_ldap_url(
    url: object, *, schemes: tuple[str, ...] = ("ldap", "ldaps"), port_required: bool = False
) -> LdapUrl:
    """Check a BDII URL; BadInput (one line naming it) unless it is ``ldap[s]://HOST[:PORT]``.

    The one grammar of a BDII URL, for the operator's commands, the Nagios configuration and the
    site's probes alike: a host name or IP address (:func:`pps.confine.check_host`: letters,
    digits, ``-`` inside labels, dots), a TCP port (1 to 65535).  The port defaults to 389 (636
    for ldaps) as RFC 4516 says; a BDII usually listens on 2170, so name it (*port_required*:
    it must be named, as the site's probes want it).  *schemes* narrows the schemes accepted
    (the publication check speaks ``ldap`` only).  A path, query, user or password is refused:
    the search bases are fixed."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput(f"BDII URL must be a non-empty string, got {url!r}")

    def bad(reason: str, hint: str = " (use ldap://HOST:PORT)") -> BadInput:
        return BadInput(f"BDII URL {url!r} is not valid: {reason}{hint}")

    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        raise bad("it holds spaces, control or non-ASCII characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise bad(str(e)) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise bad("it must start with " + " or ".join(f"{s}://" for s in schemes))
    if parts.username is not None or parts.password is not None:
        raise bad("it must not carry a user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("it must name only a host and a port")
    if not parts.hostname:
        raise bad("it names no host")
    try:
        check_host(parts.hostname)
    except BadInput:
        raise bad(f"{parts.hostname!r} is not a host name or IP address", "") from None
    if port is None:
        if port_required:
            raise bad("it names no port")
        port = 636 if scheme == "ldaps" else 389
    if not 0 < port < 65536:
        raise bad(f"port {port} is not a TCP port")
    return LdapUrl(scheme, parts.hostname, port)


# ------------------------------------------------------------------------------------ the DN
_ESCAPE_RE = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)", re.DOTALL)


def _unescape(raw: str, dn: str) -> str:
    if "\\" not in raw:
        return raw
    out = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(raw):
        out += raw[pos : m.start()].encode()
        out += bytes([int(m.group(1), 16)]) if m.group(1) else m.group(2).encode()
        pos = m.end()
    if raw.endswith("\\") and not raw.endswith("\\\\"):
        raise BadInput(f"DN {safe_text(dn)!r} ends in a lone backslash")
    out += raw[pos:].encode()
    return out.decode("utf-8", "backslashreplace")


def split_dn(dn: str) -> list[tuple[str, str]]:
    """``(attribute type lower-cased, value unescaped)`` of each part of *dn*, leftmost first.

    RFC 4514 (escapes ``\\,`` and ``\\2C``, multi-valued RDNs with ``+``), and RFC 2253's quoted
    values.  BadInput for a part that is not ``type=value``."""
    if not dn.strip():
        return []
    if "\\" not in dn and '"' not in dn:  # the common case, fast
        pieces = [p for rdn in dn.split(",") for p in rdn.split("+")]
    else:
        pieces = _split_escaped(dn)
    pairs = []
    for piece in pieces:
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not eq or not name:
            raise BadInput(
                f"DN {safe_text(dn)!r} is not valid: {safe_text(piece)!r} is no type=value"
            )
        value = value.lstrip()
        if value.startswith('"') and value.rstrip().endswith('"') and len(value.rstrip()) > 1:
            value = value.rstrip()[1:-1]
        elif not value.endswith("\\ "):
            value = value.rstrip()
        pairs.append((name.lower(), _unescape(value, dn)))
    return pairs


def _split_escaped(dn: str) -> list[str]:
    pieces, current, i, quoted = [], [], 0, False
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            current.append(dn[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch in ",+;" and not quoted:
            pieces.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if quoted:
        raise BadInput(f"DN {safe_text(dn)!r} is not valid: a quote is not closed")
    pieces.append("".join(current))
    return pieces


def site_in_dn(pairs: list[tuple[str, str]], attribute: str) -> str:
    """The value of *attribute* (lower case) nearest to the root of a DN split by
    :func:`split_dn`, skipping ``local`` and ``resource``; ``""`` when there is none."""
    for name, value in reversed(pairs):
        if name == attribute and value and value.casefold() not in _NOT_SITES:
            return value
    return ""


# ------------------------------------------------------------------------------ the results
class SiteTag:
    """One preview tag at one site: whether GLUE 1.3 lists it, and its GLUE 2.0 state.

    A plain slotted class, not a :class:`~pps.record.Record`: a top BDII gives tens of
    thousands, and the reader completes them in place as it meets both schemas (read-only
    once :func:`read_entries` returned)."""

    __slots__ = ("tag", "glue1", "state")

    def __init__(self, tag: str, glue1: bool = False, state: str = "") -> None:
        self.tag = tag
        self.glue1 = glue1
        #: The GLUE 2.0 state (lower case), ``""`` when no GLUE 2.0 entry names the tag.
        self.state = state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteTag):
            return NotImplemented
        return (self.tag, self.glue1, self.state) == (other.tag, other.glue1, other.state)

    __hash__ = None  # type: ignore[assignment]  # completed in place while reading

    def __repr__(self) -> str:
        return f"SiteTag({self.tag!r}, glue1={self.glue1!r}, state={self.state!r})"

    @property
    def glue2_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def live(self) -> bool:
        """Whether a job could be matched to it: listed in GLUE 1.3, or live in GLUE 2.0."""
        return self.glue1 or self.glue2_live

    def as_json(self) -> dict[str, object]:
        return {"glue1": self.glue1, "glue2": self.state or None}


class SitePublication:
    """What one site publishes: its entries (as read) and its preview tags by folded name."""

    __slots__ = ("name", "entries", "_tags", "_listed")

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[Entry] = []
        self._tags: dict[str, SiteTag] = {}
        #: The GLUE 1.3 tags read since :attr:`tags` was last made: folded -> first spelling.
        #: A top BDII lists tens of thousands; their SiteTags are made only when asked for
        #: (``pps infosys map --json`` without --glue2 never makes them).
        self._listed: dict[str, str] = {}

    @property
    def tags(self) -> dict[str, SiteTag]:
        """The preview tags by folded name, in the order they were met."""
        if self._listed:
            tags = self._tags
            for key, tag in self._listed.items():
                old = tags.get(key)
                if old is None:
                    tags[key] = SiteTag(tag, True)
                else:
                    old.glue1 = True
            self._listed = {}
        return self._tags

    @tags.setter
    def tags(self, tags: dict[str, SiteTag]) -> None:
        self._listed = {}
        self._tags = tags

    def _glue1(self, listed: dict[str, str]) -> None:
        """Add GLUE 1.3 tags (folded -> spelling; a spelling met before is kept).  *listed*
        is the caller's no more."""
        if not self._listed:
            self._listed = listed
            return
        setdefault = self._listed.setdefault
        for key, tag in listed.items():
            setdefault(key, tag)

    def _glue2(self, tag: str, state: str) -> None:
        tags = self.tags  # the GLUE 1.3 tags met before go first
        key = tag.casefold()
        old = tags.get(key)
        if old is None:
            tags[key] = SiteTag(tag, False, state)
        elif not old.state or _STATE_RANK.get(state, 9) < _STATE_RANK.get(old.state, 9):
            old.state = state


class Publication:
    """Everything read: the sites (by case-folded name) and the warnings about skipped entries."""

    def __init__(self) -> None:
        self.sites: dict[str, SitePublication] = {}
        self.warnings: list[str] = []
        #: GlueClusterUniqueIDs whose GlueCluster entry would name the site of a skipped entry
        #: (a reader may fetch them and read again).
        self.missing_clusters: set[str] = set()

    def site(self, name: str) -> SitePublication | None:
        """The site named *name*, compared case-insensitively."""
        return self.sites.get(name.casefold())

    def _site(self, name: str) -> SitePublication:
        key = name.casefold()
        found = self.sites.get(key)
        if found is None:
            found = self.sites[key] = SitePublication(name)
        return found

    def keep_only(self, tag: str) -> None:
        """Forget every tag but *tag* (case-insensitively): a GLUE 1.3 entry that lists it
        lists its other tags too."""
        key = tag.casefold()
        for site in self.sites.values():
            site.tags = {k: t for k, t in site.tags.items() if k == key}

    def _by_tag(
        self, sites: Iterable[SitePublication]
    ) -> tuple[dict[str, dict[str, SiteTag]], dict[str, str]]:
        """``({folded tag: {site: SiteTag}}, {folded tag: smallest spelling})``, each tag's
        sites in the order of *sites*."""
        by_tag: dict[str, dict[str, SiteTag]] = {}
        spelling: dict[str, str] = {}
        for site in sites:
            name = site.name
            for key, st in site.tags.items():
                at = by_tag.get(key)
                if at is None:
                    by_tag[key] = at = {}
                    spelling[key] = st.tag
                elif st.tag < spelling[key]:
                    spelling[key] = st.tag
                at[name] = st
        return by_tag, spelling

    def version_map(self) -> dict[str, dict[str, SiteTag]]:
        """``{tag: {site: SiteTag}}``, tags and sites sorted case-insensitively.  A tag spelt
        differently at two sites is one tag (shown in its smallest spelling)."""
        # The sites are sorted once: each tag's sites are then met in order.
        by_tag, spelling = self._by_tag(sorted(self.sites.values(), key=_site_fold))
        return {
            spelling[key]: by_tag[key] for key in sorted(by_tag, key=lambda k: _fold(spelling[k]))
        }

    def map_json(self) -> dict[str, object]:
        """The version map as plain JSON types: ``{"tags": {tag: {site: {"glue1": bool,
        "glue2": state or null}}}, "sites": [...], "warnings": [...]}``."""
        return {
            "tags": {
                tag: {site: st.as_json() for site, st in sites.items()}
                for tag, sites in self.version_map().items()
            },
            "sites": sorted((s.name for s in self.sites.values()), key=_fold),
            "warnings": list(self.warnings),
        }

    def map_json_text(self, extra: Mapping[str, object] | None = None) -> str:
        """``json.dumps({**self.map_json(), **extra}, sort_keys=True)``, the same text, built
        faster: json's encoder spends some 1.5 us on each small ``{"glue1": ..., "glue2":
        ...}`` object, and a top BDII has tens of thousands; here each distinct object is
        encoded once, and each site name once."""
        rest: dict[str, object] = {
            "sites": sorted((s.name for s in self.sites.values()), key=_fold),
            "warnings": list(self.warnings),
            **(extra or {}),
        }
        if "tags" in rest:
            return _dumps(rest)
        sites = sorted(self.sites.values(), key=_site_name)  # json's order: plain
        tags: list[str] = []  # the pieces of the "tags" object
        if not any(s._tags for s in sites):  # GLUE 1.3 alone: every object is the same
            one = _dumps({"glue1": True, "glue2": None})
            sep = one + ", "
            listed, spelling = self._listed_by_tag(sites)
            for tag, key in sorted((spelling[k], k) for k in listed):
                tags += (", ", _encode(tag), ": {", sep.join(listed[key]), one, "}")
        else:
            names = {s.name: _encode(s.name) + ": " for s in sites}
            by_tag, spelling = self._by_tag(sites)
            objects: dict[tuple[bool, str], str] = {}
            for tag, key in sorted((spelling[k], k) for k in by_tag):
                items = []
                for name, st in by_tag[key].items():
                    kind = (st.glue1, st.state)
                    text = objects.get(kind)
                    if text is None:
                        text = objects[kind] = _dumps({"glue1": kind[0], "glue2": kind[1] or None})
                    items.append(names[name] + text)
                tags += (", ", _encode(tag), ": {", ", ".join(items), "}")
        fields: dict[str, tuple[str, ...]] = {
            k: (", ", _encode(k), ": ", _dumps(v)) for k, v in rest.items()
        }
        fields["tags"] = (", ", _encode("tags"), ": {", *tags[1:], "}")
        out = [piece for k in sorted(fields) for piece in fields[k]]
        out[0] = "{"
        out.append("}")
        return "".join(out)

    @staticmethod
    def _listed_by_tag(
        sites: Iterable[SitePublication],
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        """:meth:`_by_tag` of sites whose tags are all GLUE 1.3 ones not made into SiteTags:
        ``({folded tag: [site as a JSON key and ": "]}, {folded tag: smallest spelling})``."""
        listed: dict[str, list[str]] = {}
        spelling: dict[str, str] = {}
        for site in sites:
            name = _encode(site.name) + ": "
            tags = site._listed
            for key in tags:
                found = listed.get(key)
                if found is None:
                    listed[key] = [name]
                else:
                    found.append(name)
            if not tags.items() <= spelling.items():  # new tags, or other spellings
                for key, tag in tags.items():
                    old = spelling.get(key)
                    if old is None or tag < old:
                        spelling[key] = tag
        return listed, spelling


def _site_fold(site: SitePublication) -> tuple[str, str]:
    return (site.name.casefold(), site.name)


def _site_name(site: SitePublication) -> str:
    return site.name


def _dumps(data: object) -> str:
    return json.dumps(data, sort_keys=True)


def _fold(text: str) -> tuple[str, str]:
    return (text.casefold(), text)


# ----------------------------------------------------------------------------- the reading
def read_entries(
    entries: Iterable[Entry],
    *,
    source_site: str | None = None,
    inventory: Mapping[str, str] | None = None,
    publication: Publication | None = None,
    dn_sites: dict[tuple[str, str], str] | None = None,
) -> Publication:
    """Sort *entries* into sites by the rules of this module's docstring.

    *source_site*: every entry is that site's (its own GIP output).  *inventory* maps a
    subcluster or cluster ID to its site (``pps.toml``).  *publication*: add to it (one per
    site of the embedded default) instead of starting a new one.  Link entries
    (``GlueCluster``) may be among *entries*.  *dn_sites*: the cache of :func:`dn_site` of a
    caller that already looked at the DNs."""
    # One piece: a single pass over the entries, whose branches share the state it builds (the
    # sites, the DN map, the warnings); benchmarks/infosys_read.py times this loop per entry.
    pub = publication if publication is not None else Publication()
    entries = list(entries)
    if source_site is not None:
        pub._site(source_site)  # a site that answered is known, with or without tags
    inv = {k.casefold(): v for k, v in (inventory or {}).items()}
    clusters: dict[str, str] = {}
    for e in entries:
        if "glueforeignkey" in e.attrs and e.has_class("GlueCluster"):
            site = ""
            for fk in e.get("GlueForeignKey"):
                name, _, value = fk.partition("=")
                if name.strip().lower() == "gluesiteuniqueid" and value.strip():
                    site = value.strip()
            if site:
                for cid in e.get("GlueClusterUniqueID"):
                    clusters[cid.casefold()] = site
    # A top BDII gives tens of thousands of entries: the loop reads the attribute dict
    # directly, and the site of a DN is worked out once per parent DN (dn_site).
    if dn_sites is None:
        dn_sites = {}
    folds: dict[str, str] = {}
    last: SitePublication | None = None
    for e in entries:
        attrs = e.attrs
        rte = attrs.get(_RTE_KEY)
        glue1: dict[str, str] = {}  # the preview tags: folded -> first spelling
        if rte:
            # Sites list the same tags: each distinct value is tested (is_pps_tag) and folded
            # once per read, then looked up; "" marks a value that is no preview tag.
            try:
                keys = list(map(folds.__getitem__, rte))
            except KeyError:
                for t in rte:
                    if t not in folds:
                        f = t.casefold()
                        tag = (f.startswith("vo-") and f.find("-pps-", 3) >= 0) or f == _CAPABILITY
                        folds[t] = f if tag else ""
                keys = list(map(folds.__getitem__, rte))
            if "" in keys:
                keep = list(map(bool, keys))
                keys = list(compress(keys, keep))
                spellings = list(compress(rte, keep))
            else:
                spellings = rte
            glue1 = dict(zip(keys, spellings))
            if len(glue1) < len(keys):  # two spellings of one tag: the first one is kept
                glue1 = {}
                for f, t in zip(keys, spellings):
                    glue1.setdefault(f, t)
        classes = attrs.get("objectclass")
        glue2 = classes is not None and any(c.lower() == _APP_ENV_KEY for c in classes)
        name = state = ""
        if glue2:
            names = attrs.get(_APP_NAME_KEY)
            states = attrs.get(_APP_STATE_KEY)
            name = names[0] if names else ""
            state = states[0].strip().lower() if states else ""
            if not name:
                pub.warnings.append(f"skipping {safe_text(e.dn)}: it has no {APP_NAME}")
                glue2 = False
            elif not is_pps_tag(name):
                name = _rte_name(e, name, pub)
                glue2 = bool(name)
            if glue2 and not state:
                pub.warnings.append(f"skipping {safe_text(e.dn)}: it has no {APP_STATE}")
                glue2 = False
        if not glue1 and not glue2:
            continue
        if source_site is not None:
            site = source_site
        else:
            try:
                if glue1:
                    site = dn_site(e.dn, "mds-vo-name", dn_sites) or _glue1_site(
                        e, inv, clusters, pub
                    )
                else:
                    site = dn_site(e.dn, "glue2domainid", dn_sites) or _pps_site(e)
            except BadInput as err:
                pub.warnings.append(f"skipping an entry: {err}")
                continue
            if not site:
                pub.warnings.append(f"skipping {safe_text(e.dn)}: {_no_site(bool(glue1))}")
                continue
        sp = last if last is not None and last.name == site else pub._site(site)
        last = sp
        sp.entries.append(e)
        if glue1:
            sp._glue1(glue1)
        if glue2:
            sp._glue2(name, state)
    return pub


def _rte_name(e: Entry, app_name: str, pub: Publication) -> str:
    """The preview RTE name of an ApplicationEnvironment whose AppName is no preview tag
    (:func:`rte_tag`), ``""`` when it is none (a warning when it is under ``ENV/PPS/``)."""
    if app_name[: len(_RTE_PREFIX)].casefold() != _RTE_PREFIX:
        return ""
    versions = e.attrs.get(_APP_VERSION_KEY)
    tag = rte_tag(app_name, versions[0] if versions else None)
    if tag is None:
        joined = f"{app_name}-{versions[0]}" if versions and versions[0] else app_name
        pub.warnings.append(
            f"skipping {safe_text(e.dn)}: its RTE {safe_text(joined)!r} is under {RTE_PREFIX} "
            f"but names no preview version ({RTE_PREFIX}<COMPONENT>-<VERSION>)"
        )
        return ""
    return tag


def dn_site(dn: str, attribute: str, cache: dict[tuple[str, str], str] | None = None) -> str:
    """:func:`site_in_dn` of *dn*; entries of one site share their parent DN, so a plain DN
    (no escapes, quotes or multi-valued RDNs) is split once per parent.  BadInput for a DN
    that does not parse."""
    if "\\" not in dn and '"' not in dn and "+" not in dn:
        first, _, parent = dn.partition(",")
        kind, eq, _value = first.partition("=")
        if eq and kind.strip().lower() not in _DN_SITE_ATTRS:
            if cache is None:
                return _plain_site(parent, attribute)
            key = (attribute, parent)
            found = cache.get(key)
            if found is None:
                found = cache[key] = _plain_site(parent, attribute)
            return found
        return _plain_site(dn, attribute)
    return site_in_dn(split_dn(dn), attribute)


def _plain_site(dn: str, attribute: str) -> str:
    """``site_in_dn(split_dn(dn), attribute)`` for a DN without escapes, quotes or ``+``, in
    one pass (a top BDII has a parent DN per subcluster)."""
    found = ""
    if not dn.strip():
        return found
    for piece in dn.split(","):
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not eq or not name:
            raise BadInput(
                f"DN {safe_text(dn)!r} is not valid: {safe_text(piece)!r} is no type=value"
            )
        if name.lower() == attribute:
            value = value.strip()
            if value and value.casefold() not in _NOT_SITES:
                found = value
    return found


def _no_site(glue1: bool) -> str:
    if glue1:
        return (
            "it names no site (no Mds-Vo-name=<site> in the DN, and neither the inventory nor "
            "a GlueCluster entry gives the site of its subcluster)"
        )
    return "it names no site (no GLUE2DomainID=<site> in the DN, no GLUE2EntityOtherInfo PPSSite=)"


def _glue1_site(
    e: Entry,
    inv: Mapping[str, str],
    clusters: Mapping[str, str],
    pub: Publication,
) -> str:
    """The site of a GLUE 1.3 entry whose DN names none: inventory, then GlueCluster."""
    pairs = split_dn(e.dn)
    subclusters = list(e.get("GlueSubClusterUniqueID"))
    subclusters += [v for n, v in pairs if n == "gluesubclusteruniqueid"]
    cluster_ids = [v for n, v in pairs if n == "glueclusteruniqueid"]
    for key in e.get("GlueChunkKey"):
        name, _, value = key.partition("=")
        if name.strip().lower() == "glueclusteruniqueid" and value.strip():
            cluster_ids.append(value.strip())
    for candidate in (*subclusters, *cluster_ids):
        found = inv.get(candidate.casefold())
        if found:
            return found
    for cid in cluster_ids:
        found = clusters.get(cid.casefold())
        if found:
            return found
    pub.missing_clusters.update(cluster_ids)
    return ""


def _pps_site(e: Entry) -> str:
    """The site a GLUE 2.0 entry's ``GLUE2EntityOtherInfo: PPSSite=...`` names, or ``""``."""
    for info in e.get(OTHER_INFO):
        if info[: len(PPS_SITE_KEY)].lower() == PPS_SITE_KEY.lower():
            site = info[len(PPS_SITE_KEY) :].strip()
            if site:
                return site
    return ""
