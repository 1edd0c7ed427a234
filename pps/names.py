"""Component, version and VO names, and the RunTimeEnvironment tags built from them.

Tags follow the lcg-ManageVOTag conventions: a per-version, per-VO tag
``VO-<vo>-PPS-<component>-<version>`` and the site capability tag ``PPS-PREVIEW``.  Values in
GLUE 1.3 RTE attributes are case-insensitive IA5 strings, so tags are compared case-insensitively.
Anything outside the grammar is refused with a message naming the value, never escaped into a
tag: a tag is matched by a ClassAd expression and published over LDAP, and both places must see
exactly the characters a person typed.
"""

from __future__ import annotations

import re

from pps.errors import BadInput
from pps.record import Record

#: The capability tag a site publishes when it accepts non-certified preview clients.
PREVIEW_CAPABILITY = "PPS-PREVIEW"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# VOMS VO names: DNS-like (``vo.neugrid.eu``) or short (``dteam``); no dashes at label edges.
_VO_RE = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?\Z")
_MAX_LEN = 100
_TAG_RE = re.compile(r"VO-(?P<vo>.+?)-PPS-(?P<rest>.+)\Z", re.IGNORECASE)


def _check(kind: str, value: object, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{kind} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_LEN:
        raise BadInput(f"{kind} {value[:40]!r}... is longer than {_MAX_LEN} characters")
    if not pattern.match(value):
        raise BadInput(f"{kind} {value!r} is not valid: use only {allowed}")
    return value


#: Component names that are directories of the site's own under the preview root.
RESERVED_COMPONENTS = frozenset({"hooks"})


def check_component(value: object) -> str:
    """Return *value* if it is a valid component name (``glite-UI``), else raise BadInput."""
    value = _check("component", value, _NAME_RE, "letters, digits, '.', '_' and '-'")
    if value.casefold() in RESERVED_COMPONENTS:
        raise BadInput(
            f"component {value!r} is reserved: the preview root's {value.lower()}/ directory "
            "belongs to the site (its configuration hook)"
        )
    return value


def check_version(value: object) -> str:
    """Return *value* if it is a valid version (``3.2.8-0``), else raise BadInput."""
    return _check("version", value, _NAME_RE, "letters, digits, '.', '_' and '-'")


def check_vo(value: object) -> str:
    """Return *value* if it is a valid VO name as VOMS allows (``vo.neugrid.eu``)."""
    return _check("VO name", value, _VO_RE, "lower-case letters, digits, '.', '_' and '-'")


def check_site_name(value: object) -> str:
    """Return *value* if it is a usable site name (GOCDB style: ``INFN-PISA``, ``UKI-LT2-QMUL``)."""
    return _check("site name", value, _NAME_RE, "letters, digits, '.', '_' and '-'")


_SUBCLUSTER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
_TAG_CHARS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")

#: The GLUE 1.3 attribute that carries RunTimeEnvironment tags (and the CE ad attribute).
RTE_ATTRIBUTE = "GlueHostApplicationSoftwareRunTimeEnvironment"


def check_subcluster(value: object, what: str = "subcluster") -> str:
    """Return *value* if it is a usable GlueSubClusterUniqueID (a host name such as
    ``ce01.pi.infn.it``): it becomes a directory name at the site and part of a DN."""
    if not isinstance(value, str) or not _SUBCLUSTER_RE.match(value):
        raise BadInput(
            f"{what} {value!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(a host name such as ce01.example.org)"
        )
    return value


def rte_requirement(tag: str) -> str:
    """The ClassAd expression a JDL uses to ask for a CE publishing *tag*.

    >>> rte_requirement("VO-dteam-PPS-glite-UI-3.2.8-0")
    'Member("VO-dteam-PPS-glite-UI-3.2.8-0", other.GlueHostApplicationSoftwareRunTimeEnvironment)'
    """
    if not isinstance(tag, str) or not _TAG_CHARS_RE.match(tag):
        raise BadInput(f"tag {tag!r} is not valid: use letters, digits, '.', '_' and '-'")
    return f'Member("{tag}", other.{RTE_ATTRIBUTE})'


def version_tag(vo: str, component: str, version: str) -> str:
    """The RunTimeEnvironment tag announcing *component* *version* to *vo* at a site.

    >>> version_tag("dteam", "glite-UI", "3.2.8-0")
    'VO-dteam-PPS-glite-UI-3.2.8-0'
    """
    return f"VO-{check_vo(vo)}-PPS-{check_component(component)}-{check_version(version)}"


class ParsedTag(Record):
    """The parts of a per-version preview tag. ``component`` and ``version`` are split at the
    first ``-`` that is followed by a digit (components may contain dashes, versions start with a
    digit), so ``VO-dteam-PPS-glite-UI-3.2.8-0`` gives ``glite-UI`` and ``3.2.8-0``."""

    vo: str
    component: str
    version: str


def parse_version_tag(tag: str) -> ParsedTag | None:
    """Split a preview tag into VO, component and version; ``None`` for any other tag.

    The split is ambiguous in general (``a-1-2``): callers that know the releases should prefer
    :func:`version_tag` and compare tags case-insensitively, which is what the bulletin does.
    """
    m = _TAG_RE.match(tag)
    if not m:
        return None
    rest = m.group("rest")
    for i in range(1, len(rest) - 1):
        if rest[i] == "-" and rest[i + 1].isdigit():
            component, version = rest[:i], rest[i + 1 :]
            if _NAME_RE.match(component) and _NAME_RE.match(version):
                return ParsedTag(m.group("vo"), component, version)
    return None


def release_tag_key(component: str, version: str) -> str:
    """What the tags of *component* *version* have in common, case-folded.

    Two releases whose keys are equal would publish the same tag for every VO
    (``Fake 1.0`` / ``fake 1.0``, ``x-1 2.0`` / ``x 1-2.0``), so one could stand for the other.
    """
    return f"{component}-{version}".casefold()


def same_tag(a: str, b: str) -> bool:
    """Tags compare case-insensitively (GLUE 1.3 RTE values are caseIgnoreIA5)."""
    return a.casefold() == b.casefold()
