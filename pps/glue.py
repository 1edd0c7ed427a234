"""GLUE LDIF: what a site publishes about its preview tags, and reading it back.

Writing (the GIP provider, at the site): for one subcluster, a GLUE 1.3 ``GlueSubCluster`` entry
whose ``GlueHostApplicationSoftwareRunTimeEnvironment`` values are the live tags, and one GLUE 2.0
``GLUE2ApplicationEnvironment`` per tag with its state.  Reading (the bulletin, ``pps infosys``):
a small LDIF parser (RFC 2849: folded lines, comments, base64 values) and helpers that pull the
tags out of entries, whatever produced them (our provider, a BDII dump, ldap3 results turned into
:class:`Entry`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pps.errors import BadInput
from pps.names import RTE_ATTRIBUTE

RTE_ATTR = RTE_ATTRIBUTE
GLUE13_SUFFIX = "Mds-Vo-name=resource,o=grid"
GLUE2_SUFFIX = "GLUE2GroupID=resource,o=glue"

#: GLUE 2.0 ApplicationEnvironment states pps uses.
STATE_NOT_VERIFIED = "installednotverified"
STATE_VERIFIED = "installedverified"
STATE_BROKEN = "installedbroken"
STATE_PENDING_REMOVAL = "pendingremoval"
GLUE2_STATES = (STATE_NOT_VERIFIED, STATE_VERIFIED, STATE_BROKEN, STATE_PENDING_REMOVAL)


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


def ldif_line(attr: str, value: str) -> str:
    """One ``attr: value`` line, base64-encoded when RFC 2849 requires it."""
    if value and (value[0] not in _SAFE_INIT or value[-1] == " " or not set(value) <= _SAFE):
        return f"{attr}:: {base64.b64encode(value.encode()).decode()}"
    return f"{attr}: {value}"


@dataclass(frozen=True)
class PublishedTag:
    """One tag as a site publishes it."""

    tag: str
    #: GLUE 2.0 state, one of :data:`GLUE2_STATES`.
    state: str = STATE_VERIFIED
    #: Version for GLUE2ApplicationEnvironmentAppVersion ("" for capability tags).
    version: str = ""

    @property
    def live(self) -> bool:
        """Whether the tag is announced in GLUE 1.3 (jobs can be matched to it)."""
        return self.state in (STATE_VERIFIED, STATE_NOT_VERIFIED)


def write_site_ldif(
    *,
    site: str,
    cluster: str,
    subcluster: str,
    tags: Iterable[PublishedTag],
    manager_id: str = "",
) -> str:
    """GLUE 1.3 + GLUE 2.0 LDIF for the preview tags of one subcluster.

    Only tags that are :attr:`PublishedTag.live` go into the GLUE 1.3 RTE attribute; every tag
    gets a GLUE 2.0 entry so that a broken install is visible as ``installedbroken``.
    """
    tags = sorted(tags, key=lambda t: t.tag.casefold())
    manager_id = manager_id or f"{subcluster}_Manager"
    sc_dn = (
        f"GlueSubClusterUniqueID={escape_dn_value(subcluster)},"
        f"GlueClusterUniqueID={escape_dn_value(cluster)},{GLUE13_SUFFIX}"
    )
    lines = [
        f"# pps preview tags of site {site}",
        f"dn: {sc_dn}",
        "objectClass: GlueClusterTop",
        "objectClass: GlueSubCluster",
        "objectClass: GlueHostApplicationSoftware",
        "objectClass: GlueKey",
        "objectClass: GlueSchemaVersion",
        ldif_line("GlueSubClusterUniqueID", subcluster),
        ldif_line("GlueSubClusterName", subcluster),
        ldif_line("GlueChunkKey", f"GlueClusterUniqueID={cluster}"),
    ]
    lines += [ldif_line(RTE_ATTR, t.tag) for t in tags if t.live]
    lines += ["GlueSchemaVersionMajor: 1", "GlueSchemaVersionMinor: 3", ""]
    for t in tags:
        if t.state not in GLUE2_STATES:
            raise BadInput(f"GLUE 2.0 state {t.state!r} of {t.tag} is not one of {GLUE2_STATES}")
        app_id = f"urn:pps:{subcluster}:{t.tag}"
        lines += [
            f"dn: GLUE2ApplicationEnvironmentID={escape_dn_value(app_id)},{GLUE2_SUFFIX}",
            "objectClass: GLUE2Entity",
            "objectClass: GLUE2ApplicationEnvironment",
            ldif_line("GLUE2ApplicationEnvironmentID", app_id),
            ldif_line("GLUE2ApplicationEnvironmentAppName", t.tag),
        ]
        if t.version:
            lines.append(ldif_line("GLUE2ApplicationEnvironmentAppVersion", t.version))
        lines += [
            f"GLUE2ApplicationEnvironmentState: {t.state}",
            ldif_line("GLUE2ApplicationEnvironmentComputingManagerForeignKey", manager_id),
            ldif_line("GLUE2EntityOtherInfo", f"PPSSite={site}"),
            "",
        ]
    return "\n".join(lines)


@dataclass
class Entry:
    """An LDAP entry: its DN and attributes (names lower-cased, values in order)."""

    dn: str
    attrs: dict[str, list[str]] = field(default_factory=dict)

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
