"""GLUE LDIF: what a site publishes about its preview tags, and reading it back.

Writing (the GIP provider, at the site), for one subcluster:

- GLUE 1.3: the ``GlueSubCluster`` entry (with the ``GlueHost*`` auxiliary classes real gLite
  providers publish, every value from :class:`SubClusterInfo`) whose
  ``GlueHostApplicationSoftwareRunTimeEnvironment`` values are the live tags, optionally its
  ``GlueCluster`` entry (:func:`write_site_ldif`); or, for a bdii-update *plugin*, only a
  modification that adds the live tags to the site's own SubCluster entry
  (:func:`write_plugin_ldif`).
- GLUE 2.0: one ``GLUE2ApplicationEnvironment`` per tag, with its state.

The LDIF follows RFC 2849 and what bdii-update can digest: lines longer than
:data:`LDIF_WIDTH` are folded, values LDIF cannot carry plainly are base64, one blank line
between entries, a trailing newline; a DN is never base64 and no value contains ``dn:``
(bdii-update finds entries by searching its text for ``dn:``).

Reading (the bulletin, ``pps infosys``): a small LDIF parser (RFC 2849: folded lines, comments,
base64 values) and helpers that pull the tags out of entries, whatever produced them (our
provider, a BDII dump, ldap3 results turned into :class:`Entry`).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable, Sequence

from pps.errors import BadInput
from pps.names import RTE_ATTRIBUTE
from pps.record import Record

RTE_ATTR = RTE_ATTRIBUTE
GLUE13_SUFFIX = "Mds-Vo-name=resource,o=grid"
GLUE2_SUFFIX = "GLUE2GroupID=resource,o=glue"
#: Physical LDIF lines are at most this long; longer ones are folded (RFC 2849).
LDIF_WIDTH = 76
#: GLUE2EntityValidity when the site file says nothing: seconds the information stays valid
#: after its creation time (what CREAM's providers publish).
DEFAULT_VALIDITY = 3600

#: GLUE 2.0 ApplicationEnvironment states pps uses.
STATE_NOT_VERIFIED = "installednotverified"
STATE_VERIFIED = "installedverified"
STATE_BROKEN = "installedbroken"
STATE_PENDING_REMOVAL = "pendingremoval"
GLUE2_STATES = (STATE_NOT_VERIFIED, STATE_VERIFIED, STATE_BROKEN, STATE_PENDING_REMOVAL)

#: The object classes of the GLUE 1.3 SubCluster entry, as the gLite providers publish it.
SUBCLUSTER_CLASSES = (
    "GlueClusterTop",
    "GlueSubCluster",
    "GlueHostApplicationSoftware",
    "GlueHostArchitecture",
    "GlueHostBenchmark",
    "GlueHostMainMemory",
    "GlueHostNetworkAdapter",
    "GlueHostOperatingSystem",
    "GlueHostProcessor",
    "GlueInformationService",
    "GlueKey",
    "GlueSchemaVersion",
)
CLUSTER_CLASSES = (
    "GlueClusterTop",
    "GlueCluster",
    "GlueInformationService",
    "GlueKey",
    "GlueSchemaVersion",
)
APPENV_CLASSES = ("GLUE2Entity", "GLUE2ApplicationEnvironment")


def escape_dn_value(value: str) -> str:
    """Escape an attribute value for use in a DN (RFC 4514)."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


_SAFE_INIT = set(chr(c) for c in range(0x01, 0x80)) - {"\n", "\r", " ", ":", "<"}
_SAFE = set(chr(c) for c in range(0x01, 0x80)) - {"\n", "\r"}
_PRINTABLE = set(chr(c) for c in range(0x20, 0x7F))


def ldif_line(attr: str, value: str) -> str:
    """One ``attr: value`` line, base64-encoded when RFC 2849 requires it (not folded)."""
    if value and (value[0] not in _SAFE_INIT or value[-1] == " " or not set(value) <= _SAFE):
        return f"{attr}:: {base64.b64encode(value.encode()).decode()}"
    return f"{attr}: {value}"


def fold(line: str, width: int = LDIF_WIDTH) -> str:
    """*line* folded (RFC 2849) so that no physical line is longer than *width*: each
    continuation line starts with one space, which readers drop when they unfold."""
    if len(line) <= width:
        return line
    parts = [line[:width]]
    rest = line[width:]
    while rest:
        parts.append(" " + rest[: width - 1])
        rest = rest[width - 1 :]
    return "\n".join(parts)


def _check_bdii_safe(what: str, value: str) -> None:
    # bdii-update finds entries by searching the providers' text for "dn:" (get_dns), after
    # unfolding: the same three characters inside a value would start a bogus entry there.
    if "dn:" in value:
        raise BadInput(f"{what} {value!r} contains 'dn:', which bdii-update takes for an entry")


def ldif_entry(
    dn: str,
    attrs: Iterable[tuple[str, str]],
    head: Sequence[str] = (),
    tail: Sequence[str] = (),
) -> str:
    """One LDIF record: the ``dn:`` line, *head* lines as they are (``changetype: ...``),
    each ``(attribute, value)``, then *tail* lines (a change record's ``-``); lines folded,
    ending with a newline.

    The DN must be printable ASCII that LDIF can carry plainly: bdii-update cannot read a
    base64 DN."""
    if not dn or not set(dn) <= _PRINTABLE or dn[0] in " :<" or dn[-1] == " ":
        raise BadInput(f"DN {dn!r} cannot be written as a plain LDIF line")
    _check_bdii_safe("DN", dn)
    lines = [fold(f"dn: {dn}"), *head]
    for attr, value in attrs:
        _check_bdii_safe(attr, value)
        lines.append(fold(ldif_line(attr, value)))
    lines += tail
    return "\n".join(lines) + "\n"


def ldif_document(records: Iterable[str], comment: str = "") -> str:
    """Records (from :func:`ldif_entry`) with one blank line between them and one trailing
    newline; *comment* (one line, no colon: bdii-update reads a comment between records as
    part of the record before it) goes first."""
    if ":" in comment or "\n" in comment:
        raise BadInput(f"LDIF comment {comment!r} must be one line without ':'")
    head = f"# {comment}\n" if comment else ""
    return head + "\n".join(records)


def utc_timestamp(seconds: float | None = None) -> str:
    """*seconds* since the epoch (default: now) as GLUE 2.0 writes times (UTC, ISO 8601:
    ``2024-05-01T12:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


_TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def is_utc_timestamp(value: str) -> bool:
    """Whether *value* is a UTC time of the form :func:`utc_timestamp` writes."""
    if not _TIMESTAMP_RE.match(value):
        return False
    try:
        time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


class PublishedTag(Record):
    """One tag as a site publishes it.

    This module's records are :class:`~pps.record.Record` s, not dataclasses: building those
    at import cost every reader of published information (``pps infosys map``) some 5 ms."""

    _not_compared = frozenset({"installed", "removal"})

    tag: str
    #: GLUE 2.0 state, one of :data:`GLUE2_STATES`.
    state: str = STATE_VERIFIED
    #: Version for GLUE2ApplicationEnvironmentAppVersion ("" for capability tags).
    version: str = ""
    #: When pps installed the version (UTC, :func:`utc_timestamp` form; "" when unknown), for
    #: ``GLUE2EntityOtherInfo: InstalledAt=...``.  Neither it nor the removal date is compared.
    installed: str = ""
    #: When the tree goes (pending removal only), for GLUE2ApplicationEnvironmentRemovalDate.
    removal: str = ""

    @property
    def live(self) -> bool:
        """Whether the tag is announced in GLUE 1.3 (jobs can be matched to it)."""
        return self.state in (STATE_VERIFIED, STATE_NOT_VERIFIED)


class SubClusterInfo(Record):
    """The GLUE 1.3 values of the SubCluster entry beyond its tags (site file ``[glue]``).

    The defaults stand for "not said": 0 for counts and sizes, ``unknown`` for names, what
    most worker nodes have for the rest.  Sizes in MB, clock speed in MHz."""

    #: GlueSubClusterName ("" = the subcluster's ID).
    subcluster_name: str = ""
    physical_cpus: int = 0
    logical_cpus: int = 0
    smp_size: int = 1
    platform_type: str = "x86_64"
    os_name: str = "unknown"
    os_release: str = "unknown"
    os_version: str = "unknown"
    processor_vendor: str = "unknown"
    processor_model: str = "unknown"
    processor_clock_speed: int = 0
    ram_size: int = 0
    virtual_size: int = 0
    benchmark_si00: int = 0
    benchmark_sf00: int = 0
    inbound_ip: bool = False
    outbound_ip: bool = True
    wn_tmp_dir: str = "/tmp"
    tmp_dir: str = "/tmp"
    #: GlueInformationServiceURL ("" = ``ldap://<subcluster>:2170/mds-vo-name=resource,o=grid``,
    #: the resource BDII of a CE).
    info_service_url: str = ""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return cls._fields


def subcluster_dn(cluster: str, subcluster: str) -> str:
    return (
        f"GlueSubClusterUniqueID={escape_dn_value(subcluster)},"
        f"GlueClusterUniqueID={escape_dn_value(cluster)},{GLUE13_SUFFIX}"
    )


def cluster_dn(cluster: str) -> str:
    return f"GlueClusterUniqueID={escape_dn_value(cluster)},{GLUE13_SUFFIX}"


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _info_url(info: SubClusterInfo, subcluster: str) -> str:
    return info.info_service_url or f"ldap://{subcluster}:2170/mds-vo-name=resource,o=grid"


def _live_tags(tags: Sequence[PublishedTag]) -> list[str]:
    # The RTE attribute matches case-insensitively (caseIgnoreIA5Match): slapd refuses an
    # entry with two spellings of one tag, so the first spelling is the one published.
    seen: set[str] = set()
    out = []
    for t in tags:
        if t.live and t.tag.casefold() not in seen:
            seen.add(t.tag.casefold())
            out.append(t.tag)
    return out


def glue13_subcluster_entry(
    *, cluster: str, subcluster: str, tags: Sequence[PublishedTag], info: SubClusterInfo
) -> str:
    """The full GLUE 1.3 SubCluster entry: every attribute its classes allow that a SubCluster
    normally publishes, the live tags as RTE values."""
    attrs = [("objectClass", c) for c in SUBCLUSTER_CLASSES]
    attrs += [
        ("GlueSubClusterUniqueID", subcluster),
        ("GlueSubClusterName", info.subcluster_name or subcluster),
        ("GlueSubClusterPhysicalCPUs", str(info.physical_cpus)),
        ("GlueSubClusterLogicalCPUs", str(info.logical_cpus)),
        ("GlueSubClusterTmpDir", info.tmp_dir),
        ("GlueSubClusterWNTmpDir", info.wn_tmp_dir),
    ]
    attrs += [(RTE_ATTR, tag) for tag in _live_tags(tags)]
    attrs += [
        ("GlueHostArchitecturePlatformType", info.platform_type),
        ("GlueHostArchitectureSMPSize", str(info.smp_size)),
        ("GlueHostBenchmarkSI00", str(info.benchmark_si00)),
        ("GlueHostBenchmarkSF00", str(info.benchmark_sf00)),
        ("GlueHostMainMemoryRAMSize", str(info.ram_size)),
        ("GlueHostMainMemoryVirtualSize", str(info.virtual_size)),
        ("GlueHostNetworkAdapterInboundIP", _bool(info.inbound_ip)),
        ("GlueHostNetworkAdapterOutboundIP", _bool(info.outbound_ip)),
        ("GlueHostOperatingSystemName", info.os_name),
        ("GlueHostOperatingSystemRelease", info.os_release),
        ("GlueHostOperatingSystemVersion", info.os_version),
        ("GlueHostProcessorVendor", info.processor_vendor),
        ("GlueHostProcessorModel", info.processor_model),
        ("GlueHostProcessorClockSpeed", str(info.processor_clock_speed)),
        ("GlueInformationServiceURL", _info_url(info, subcluster)),
        ("GlueChunkKey", f"GlueClusterUniqueID={cluster}"),
        ("GlueSchemaVersionMajor", "1"),
        ("GlueSchemaVersionMinor", "3"),
    ]
    return ldif_entry(subcluster_dn(cluster, subcluster), attrs)


def glue13_cluster_entry(*, site: str, cluster: str, subcluster: str, info: SubClusterInfo) -> str:
    """The GLUE 1.3 Cluster entry the SubCluster hangs under, for a site where nothing else
    publishes it (its GlueForeignKey names the site's GlueSite entry)."""
    attrs = [("objectClass", c) for c in CLUSTER_CLASSES]
    attrs += [
        ("GlueClusterUniqueID", cluster),
        ("GlueClusterName", cluster),
        ("GlueClusterTmpDir", info.tmp_dir),
        ("GlueClusterWNTmpDir", info.wn_tmp_dir),
        ("GlueInformationServiceURL", _info_url(info, subcluster)),
        ("GlueForeignKey", f"GlueSiteUniqueID={site}"),
        ("GlueSchemaVersionMajor", "1"),
        ("GlueSchemaVersionMinor", "3"),
    ]
    return ldif_entry(cluster_dn(cluster), attrs)


_ID_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def app_env_id(subcluster: str, tag: str) -> str:
    """The GLUE2ApplicationEnvironmentID of *tag* at *subcluster*: a URN (``urn:pps:<sc>:<tag>``)
    with anything but unreserved characters of the tag percent-encoded, so it is a valid URI
    and needs no escaping in the DN."""
    enc = "".join(c if c in _ID_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in tag)
    return f"urn:pps:{subcluster}:{enc}"


def glue2_app_env_entry(
    *,
    site: str,
    subcluster: str,
    tag: PublishedTag,
    manager_id: str,
    created: str,
    validity: int,
    parent: str = GLUE2_SUFFIX,
) -> str:
    """One ``GLUE2ApplicationEnvironment`` entry under *parent*."""
    if tag.state not in GLUE2_STATES:
        raise BadInput(f"GLUE 2.0 state {tag.state!r} of {tag.tag} is not one of {GLUE2_STATES}")
    app_id = app_env_id(subcluster, tag.tag)
    attrs = [("objectClass", c) for c in APPENV_CLASSES]
    attrs += [
        ("GLUE2EntityCreationTime", created),
        ("GLUE2EntityValidity", str(validity)),
        ("GLUE2EntityOtherInfo", f"PPSSite={site}"),
        ("GLUE2EntityOtherInfo", "InfoProviderName=pps-gip-provider"),
    ]
    if tag.installed:
        attrs.append(("GLUE2EntityOtherInfo", f"InstalledAt={tag.installed}"))
    attrs += [
        ("GLUE2ApplicationEnvironmentID", app_id),
        ("GLUE2ApplicationEnvironmentAppName", tag.tag),
    ]
    if tag.version:
        attrs.append(("GLUE2ApplicationEnvironmentAppVersion", tag.version))
    attrs.append(("GLUE2ApplicationEnvironmentState", tag.state))
    if tag.removal and tag.state == STATE_PENDING_REMOVAL:
        attrs.append(("GLUE2ApplicationEnvironmentRemovalDate", tag.removal))
    attrs.append(("GLUE2ApplicationEnvironmentComputingManagerForeignKey", manager_id))
    return ldif_entry(f"GLUE2ApplicationEnvironmentID={escape_dn_value(app_id)},{parent}", attrs)


def default_manager_id(subcluster: str) -> str:
    """The ComputingManager ID a CREAM CE on host *subcluster* publishes (YAIM's
    ``<CE host>_ComputingElement_Manager``)."""
    return f"{subcluster}_ComputingElement_Manager"


def write_site_ldif(
    *,
    site: str,
    cluster: str,
    subcluster: str,
    tags: Iterable[PublishedTag],
    manager_id: str = "",
    info: SubClusterInfo | None = None,
    glue13: bool = True,
    glue2: bool = True,
    cluster_entry: bool = False,
    validity: int = DEFAULT_VALIDITY,
    glue2_parent: str = GLUE2_SUFFIX,
    created: str = "",
) -> str:
    """GLUE 1.3 + GLUE 2.0 LDIF for the preview tags of one subcluster (full entries: what a
    bdii-update *provider* prints).

    Only tags that are :attr:`PublishedTag.live` go into the GLUE 1.3 RTE attribute; every tag
    gets a GLUE 2.0 entry so that a broken install is visible as ``installedbroken``.
    *created* (default: now) is every GLUE 2.0 entry's GLUE2EntityCreationTime: when this
    information was generated, as GLUE 2.0 defines it (with *validity* it says until when the
    information holds).  *glue13* / *glue2* leave one schema out; *cluster_entry* adds the
    GlueCluster entry.
    """
    ordered = sorted(tags, key=lambda t: t.tag.casefold())
    info = info or SubClusterInfo()
    created = created or utc_timestamp()
    records = []
    if glue13 and cluster_entry:
        records.append(
            glue13_cluster_entry(site=site, cluster=cluster, subcluster=subcluster, info=info)
        )
    if glue13:
        records.append(
            glue13_subcluster_entry(cluster=cluster, subcluster=subcluster, tags=ordered, info=info)
        )
    if glue2:
        manager_id = manager_id or default_manager_id(subcluster)
        records += [
            glue2_app_env_entry(
                site=site,
                subcluster=subcluster,
                tag=t,
                manager_id=manager_id,
                created=created,
                validity=validity,
                parent=glue2_parent,
            )
            for t in ordered
        ]
    return ldif_document(records, f"pps preview tags of site {site}")


def write_plugin_ldif(
    *, site: str, cluster: str, subcluster: str, tags: Iterable[PublishedTag]
) -> str:
    """What a bdii-update *plugin* prints: a change record adding the live tags to the RTE
    values of the site's own SubCluster entry (bdii-update merges it into the entry a provider
    printed under the same DN).  Nothing but the comment when no tag is live: bdii-update
    fails on an ``add:`` without values."""
    live = _live_tags(sorted(tags, key=lambda t: t.tag.casefold()))
    records = []
    if live:
        records.append(
            ldif_entry(
                subcluster_dn(cluster, subcluster),
                [(RTE_ATTR, tag) for tag in live],
                head=("changetype: modify", f"add: {RTE_ATTR}"),
                tail=("-",),
            )
        )
    return ldif_document(records, f"pps preview tags of site {site} (bdii-update plugin)")


class Entry:
    """An LDAP entry: its DN and attributes (names lower-cased, values in order).

    A plain slotted class, mutable (a reader may add attributes it fetched later): a BDII
    read makes one per entry."""

    __slots__ = ("dn", "attrs")

    def __init__(self, dn: str, attrs: dict[str, list[str]] | None = None) -> None:
        self.dn = dn
        self.attrs: dict[str, list[str]] = {} if attrs is None else attrs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry) or other.__class__ is not self.__class__:
            return NotImplemented
        return (self.dn, self.attrs) == (other.dn, other.attrs)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}(dn={self.dn!r}, attrs={self.attrs!r})"

    def get(self, name: str) -> list[str]:
        return self.attrs.get(name.lower(), [])

    def first(self, name: str, default: str = "") -> str:
        values = self.get(name)
        return values[0] if values else default

    def has_class(self, objectclass: str) -> bool:
        return objectclass.lower() in (v.lower() for v in self.get("objectClass"))


_ATTR_RE = re.compile(r"([A-Za-z][A-Za-z0-9-]*(?:;[A-Za-z0-9-]+)*)(:<|::|:)\s?(.*)\Z", re.DOTALL)


def parse_ldif(text: str, source: str = "LDIF") -> list[Entry]:
    """Parse LDIF content records (RFC 2849).  URL values (``:<``) and change records are
    refused: published information never needs them."""
    entries: list[Entry] = []
    current: Entry | None = None
    # Unfold first: a line starting with one space continues the previous one (comments too).
    logical: list[tuple[int, bool, str]] = []  # (line number, is comment, text)
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.startswith(" ") and logical and logical[-1][2]:
            lineno, comment, prev = logical[-1]
            logical[-1] = (lineno, comment, prev + raw[1:])
        else:
            logical.append((n, raw.startswith("#"), raw))
    for lineno, comment, line in logical:
        if comment:
            continue
        if not line.strip():
            current = None
            continue
        m = _ATTR_RE.match(line)
        if not m:
            raise BadInput(f"{source} line {lineno}: not an 'attribute: value' line: {line[:60]!r}")
        name, sep, value = m.groups()
        if sep == ":<":
            raise BadInput(f"{source} line {lineno}: URL values are not accepted")
        if sep == "::":
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise BadInput(f"{source} line {lineno}: bad base64 value") from None
        lname = name.lower()
        if current is None:
            if lname == "version":
                continue
            if lname != "dn":
                raise BadInput(f"{source} line {lineno}: an entry must start with 'dn:'")
            current = Entry(value)
            entries.append(current)
            continue
        if lname in ("changetype", "dn"):
            raise BadInput(f"{source} line {lineno}: change records are not accepted")
        current.attrs.setdefault(lname, []).append(value)
    return entries


def published_tags(entries: Iterable[Entry]) -> dict[str, PublishedTag]:
    """Tags published in *entries*, keyed by their case-folded form.

    GLUE 1.3 RTE values count as live; GLUE 2.0 ApplicationEnvironment entries add their state
    (a GLUE 2.0 state that says broken or pending removal wins over a stale GLUE 1.3 value).
    """
    found: dict[str, PublishedTag] = {}
    glue2: dict[str, PublishedTag] = {}
    for e in entries:
        for tag in e.get(RTE_ATTR):
            found.setdefault(tag.casefold(), PublishedTag(tag))
        if e.has_class("GLUE2ApplicationEnvironment"):
            name = e.first("GLUE2ApplicationEnvironmentAppName")
            if name:
                state = e.first("GLUE2ApplicationEnvironmentState", STATE_VERIFIED).lower()
                version = e.first("GLUE2ApplicationEnvironmentAppVersion")
                glue2[name.casefold()] = PublishedTag(name, state, version)
    for key, t in glue2.items():
        if key not in found or not t.live:
            found[key] = t
        else:  # both say live: keep the GLUE 1.3 spelling, take the GLUE 2.0 version
            found[key] = PublishedTag(found[key].tag, t.state, t.version)
    return found
