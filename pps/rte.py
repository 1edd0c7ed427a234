"""The names a preview goes by on ARC-CEs and HTCondor pools, and how a job finds it.

One grammar, shared by the job templates (:mod:`jdl_templates`), the ARC and HTCondor
publishers at the site and the bulletin:

- **ARC RunTimeEnvironment**: a preview *component* *version* is the RTE
  ``ENV/PPS/<COMPONENT>-<VERSION>``, upper case (:func:`rte_name`), the name an ARC site enables
  with ``arcctl rte enable`` and an xRSL asks for with ``(runtimeenvironment="...")``.  ARC
  compares RTE names case-sensitively, so there is exactly one spelling: the upper-case one.
  A-REX publishes each RTE in GLUE 2.0 as an ApplicationEnvironment whose AppName and AppVersion
  it gets by cutting the name at the first ``-`` followed by a digit (``ARC1ClusterInfo.pm``;
  ARC's client, ``Arc::Software``, splits the same way).  :func:`split_rte_name` is that rule.
  A pair whose name that rule would cut elsewhere (a component with ``-<digit>`` in it, a version
  that does not start with a digit) is refused by :func:`rte_name`, so the split of every name
  pps makes gives back its component and version (:func:`parse_rte_name`,
  :func:`parse_app_environment`), and two releases have the same RTE name only if their tags
  are the same case-insensitively (:func:`pps.names.release_tag_key`).
- **HTCondor machine attribute** :data:`CONDOR_ATTRIBUTE` (``PPS_RTE``): a string holding a
  comma list of exactly the GLUE 1.3 RunTimeEnvironment values the site publishes for the
  subcluster: the per-VO tags of its live versions (``VO-<vo>-PPS-<component>-<version>``,
  :func:`pps.names.version_tag`) and the capability ``PPS-PREVIEW`` when the site announces it.
  A job asks for a tag with ``stringListIMember("<tag>", TARGET.PPS_RTE)``
  (:func:`condor_requirement`), case-insensitive as GLUE is; tags never hold a comma or a space
  (the list's separators).  :func:`condor_config` is the text of the ``config.d`` snippet that
  advertises it (``STARTD_ATTRS``), with the preview root as :data:`CONDOR_ROOT_ATTRIBUTE`.
- **Preview root**: the environment variable :data:`PREVIEW_ROOT_VAR` (``PPS_PREVIEW_ROOT``)
  names the site's preview root on the worker node (a tree of a version is
  ``$PPS_PREVIEW_ROOT/<component>/<version>``, with its ``pps-env.sh``).  The site sets it (an
  ARC RTE script, :func:`arc_rte_script`; the HTCondor machine ad; the worker nodes' profile) or
  the user does; the job wrapper reads it.

Standard library only (this is the core).
"""

from __future__ import annotations

import re

from pps.errors import BadInput
from pps.names import check_component, check_version
from pps.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

#: Every preview RTE name starts with this (upper case, as ARC compares names exactly).
RTE_PREFIX = "ENV/PPS/"
#: The worker-node environment variable that names the site's preview root.
PREVIEW_ROOT_VAR = "PPS_PREVIEW_ROOT"
#: The HTCondor machine attribute holding the site's RTE tags (a comma list, see module doc).
CONDOR_ATTRIBUTE = "PPS_RTE"
#: The HTCondor machine attribute holding the site's preview root (the wrapper reads it from
#: the machine ad the starter writes, ``$_CONDOR_MACHINE_AD``).
CONDOR_ROOT_ATTRIBUTE = "PPS_PREVIEW_ROOT"
#: A suggested file name for the snippet under the HTCondor ``config.d`` directory.
CONDOR_CONFIG_NAME = "55-pps-rte.conf"

# A-REX (ARC1ClusterInfo.pm): ``m{^(.*?)-([0-9].*)$}``: name and version at the first dash
# that is followed by a digit.
_AREX_SPLIT = re.compile(r"(.*?)-([0-9].*)\Z", re.DOTALL)
_DASH_DIGIT = re.compile(r"-[0-9]")
# GLUE 1.3 RTE values pps publishes, and so what PPS_RTE holds: the tag grammar of pps.names
# (no comma, no space: the separators of a ClassAd string list).
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,299}\Z")
# A preview root: an absolute path of characters no shell, ClassAd or HTCondor config value
# treats specially (no quote, backslash, space, '$', '#', newline).
_ROOT_RE = re.compile(r"/[A-Za-z0-9._+/-]{0,1023}\Z")


class RteRef(Record):
    """A preview named by an RTE: its component and version as the name spells them (upper
    case for names pps made; compare with :func:`pps.names.release_tag_key`)."""

    component: str
    version: str


def check_rte_pair(component: str, version: str) -> None:
    """Raise BadInput unless *component* *version* has an RTE name whose ARC split is exact.

    The component must follow the component grammar and hold no ``-`` followed by a digit; the
    version must follow the version grammar and start with a digit.
    """
    check_component(component)
    check_version(version)
    m = _DASH_DIGIT.search(component)
    if m:
        raise BadInput(
            f"component {component!r} has {m.group()!r} in it: ARC cuts an RTE name at the "
            "first '-' followed by a digit, so it cannot be an ARC RunTimeEnvironment"
        )
    if not version[0].isdigit():
        raise BadInput(
            f"version {version!r} does not start with a digit: ARC takes an RTE's version from "
            "the first '-' followed by a digit, so it cannot be an ARC RunTimeEnvironment"
        )


def rte_name(component: str, version: str) -> str:
    """The ARC RunTimeEnvironment name of *component* *version* (BadInput if it has none).

    >>> rte_name("glite-UI", "3.2.8-0")
    'ENV/PPS/GLITE-UI-3.2.8-0'
    """
    check_rte_pair(component, version)
    return f"{RTE_PREFIX}{component}-{version}".upper()


def split_rte_name(name: str) -> tuple[str, str]:
    """A-REX's split of an RTE name into GLUE 2.0 AppName and AppVersion (``""`` if none).

    >>> split_rte_name("ENV/PPS/GLITE-UI-3.2.8-0")
    ('ENV/PPS/GLITE-UI', '3.2.8-0')
    >>> split_rte_name("ENV/PROXY")
    ('ENV/PROXY', '')
    """
    m = _AREX_SPLIT.match(name)
    if m is None:
        return name, ""
    return m.group(1), m.group(2)


def parse_app_environment(app_name: str, app_version: str) -> RteRef | None:
    """The preview a GLUE 2.0 ApplicationEnvironment (AppName, AppVersion) stands for, as A-REX
    publishes a pps RTE, or ``None`` for any other one.  The prefix compares case-insensitively
    (GLUE strings do); component and version come back as spelled.

    >>> parse_app_environment("ENV/PPS/GLITE-UI", "3.2.8-0")
    RteRef(component='GLITE-UI', version='3.2.8-0')
    """
    if not isinstance(app_name, str) or not isinstance(app_version, str):
        return None
    if app_name[: len(RTE_PREFIX)].upper() != RTE_PREFIX:
        return None
    component = app_name[len(RTE_PREFIX) :]
    try:
        check_rte_pair(component, app_version)
    except BadInput:
        return None
    return RteRef(component, app_version)


def parse_rte_name(name: str) -> RteRef | None:
    """The preview an RTE name stands for (any letter case), or ``None`` for any other RTE.

    >>> parse_rte_name("ENV/PPS/GLITE-UI-3.2.8-0")
    RteRef(component='GLITE-UI', version='3.2.8-0')
    >>> parse_rte_name("ENV/PPS/ROOT-X1") is None  # no version: not a name rte_name() makes
    True
    """
    if not isinstance(name, str):
        return None
    app_name, app_version = split_rte_name(name)
    return parse_app_environment(app_name, app_version)


def check_tag(value: object) -> str:
    """Return *value* if it can be an entry of :data:`CONDOR_ATTRIBUTE`, else raise BadInput."""
    if not isinstance(value, str) or not _TAG_RE.match(value):
        raise BadInput(
            f"tag {value!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(at most 300 characters, no comma or space)"
        )
    return value


def condor_tags(tags: Iterable[str]) -> list[str]:
    """*tags* checked, without case-insensitive repeats (first spelling kept), in order."""
    seen: set[str] = set()
    out = []
    for tag in tags:
        check_tag(tag)
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return out


def condor_value(tags: Iterable[str]) -> str:
    """The string :data:`CONDOR_ATTRIBUTE` holds for *tags* (``""`` for none).

    >>> condor_value(["VO-dteam-PPS-glite-UI-3.2.8-0", "PPS-PREVIEW", "pps-preview"])
    'VO-dteam-PPS-glite-UI-3.2.8-0,PPS-PREVIEW'
    """
    return ",".join(condor_tags(tags))


def parse_condor_value(value: str) -> list[str]:
    """The tags in a :data:`CONDOR_ATTRIBUTE` string, split as ``stringListIMember`` splits it
    (at commas and spaces), empty items dropped."""
    return [t for t in re.split(r"[, ]+", value) if t]


def condor_requirement(tag: str) -> str:
    """The HTCondor ClassAd expression a job uses to ask for a machine advertising *tag*.

    >>> condor_requirement("VO-dteam-PPS-glite-UI-3.2.8-0")
    'stringListIMember("VO-dteam-PPS-glite-UI-3.2.8-0", TARGET.PPS_RTE)'
    """
    return f'stringListIMember("{check_tag(tag)}", TARGET.{CONDOR_ATTRIBUTE})'


def check_preview_root(value: object) -> str:
    """Return *value* if it is an absolute path usable as a published preview root (letters,
    digits, ``._+-/``; at most 1024 characters), else raise BadInput naming it."""
    if not isinstance(value, str) or not _ROOT_RE.match(value) or "/../" in value + "/":
        raise BadInput(
            f"preview root {value!r} is not valid: use an absolute path of letters, digits, "
            "'.', '_', '+', '-' and '/' (no '..')"
        )
    return value


def condor_config(tags: Iterable[str], preview_root: str | None = None) -> str:
    """The text of the HTCondor ``config.d`` snippet that advertises *tags* (and the preview
    root) in the machine ad of every slot.

    >>> print(condor_config(["PPS-PREVIEW"], "/opt/pps/preview"), end="")
    # Written by pps: the preview tags this machine's jobs can ask for with
    # stringListIMember("<tag>", TARGET.PPS_RTE).  Do not edit: it is rewritten.
    PPS_RTE = "PPS-PREVIEW"
    PPS_PREVIEW_ROOT = "/opt/pps/preview"
    STARTD_ATTRS = $(STARTD_ATTRS) PPS_RTE PPS_PREVIEW_ROOT
    """
    lines = [
        "# Written by pps: the preview tags this machine's jobs can ask for with",
        f'# stringListIMember("<tag>", TARGET.{CONDOR_ATTRIBUTE}).  Do not edit: it is rewritten.',
        f'{CONDOR_ATTRIBUTE} = "{condor_value(tags)}"',
    ]
    attrs = [CONDOR_ATTRIBUTE]
    if preview_root is not None:
        lines.append(f'{CONDOR_ROOT_ATTRIBUTE} = "{check_preview_root(preview_root)}"')
        attrs.append(CONDOR_ROOT_ATTRIBUTE)
    lines.append(f"STARTD_ATTRS = $(STARTD_ATTRS) {' '.join(attrs)}")
    return "\n".join(lines) + "\n"


def arc_rte_script(component: str, version: str, preview_root: str) -> str:
    """The text of the ARC RunTimeEnvironment script of *component* *version*: at stage 1
    (on the worker node, before the job) it exports :data:`PREVIEW_ROOT_VAR`, and
    ``PPS_RTE_COMPONENT`` / ``PPS_RTE_VERSION`` for the job wrapper."""
    name = rte_name(component, version)
    root = check_preview_root(preview_root)
    return "\n".join(
        [
            "# description: pps preview " + f"{component} {version}",
            f"# ARC RunTimeEnvironment {name}, written by pps.  Do not edit: it is rewritten.",
            'if [ "x$1" = "x1" ]; then',
            f"    {PREVIEW_ROOT_VAR}={root}",
            f"    PPS_RTE_COMPONENT={component}",
            f"    PPS_RTE_VERSION={version}",
            f"    export {PREVIEW_ROOT_VAR} PPS_RTE_COMPONENT PPS_RTE_VERSION",
            "fi",
            "",
        ]
    )
