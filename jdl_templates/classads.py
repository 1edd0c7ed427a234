"""ClassAd text for JDL: string quoting, the tag requirement, parsing and matchmaking.

gLite-WMS JDL is a ClassAd written as ``Attr = value;`` lines.  Every value pps puts into a JDL
string literal goes through :func:`classad_string` (backslash and double quote escaped, control
characters refused, so a value can neither end the literal nor the line).  :func:`parse_jdl` and
:func:`match` use the real ClassAd engine, ``classad2`` from the ``htcondor`` wheel; it is a test
extra, so it is imported only when called and its absence is one clear error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from pps.errors import BadInput, PPSError
from pps.glue import RTE_ATTR

# Unicode categories refused inside a string literal: controls (newline, tab, DEL, C1),
# format characters (bidi overrides), surrogates, line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# A comment line of a JDL file; gLite accepts both styles.
_COMMENT_LINE = re.compile(r"\s*(#|//)")
# Closes the wrapped ad: ClassAd parsers stop at the first complete ad and ignore what follows,
# so a JDL that closes the ad early would otherwise lose its tail without an error.
_SENTINEL = "PpsEndOfJdl"


class ClassAdUnavailable(PPSError, ImportError):
    """The ClassAd engine (``classad2``, from the ``htcondor`` wheel) is not installed."""


def check_text(value: object, what: str = "value") -> str:
    """Return *value* if it can go into a ClassAd string literal, else raise BadInput naming it."""
    if not isinstance(value, str):
        raise BadInput(f"{what} must be a string, got {value!r}")
    for ch in value:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise BadInput(
                f"{what} {value!r} contains the control character {ch!r}: "
                "JDL values must be one line of printable text"
            )
    return value


def classad_string(value: object, what: str = "value") -> str:
    """*value* as a ClassAd string literal, quotes included.

    >>> print(classad_string('say "hi"'))
    "say \\"hi\\""
    """
    text = check_text(value, what)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def requirement(tag: str) -> str:
    """The ClassAd expression a job uses to ask for a site publishing *tag*.

    ``Member`` compares case-insensitively, as GLUE 1.3 RTE values are compared in the BDII.

    >>> requirement("VO-dteam-PPS-glite-UI-3.2.8-0")
    'Member("VO-dteam-PPS-glite-UI-3.2.8-0", other.GlueHostApplicationSoftwareRunTimeEnvironment)'
    """
    if not isinstance(tag, str) or not tag:
        raise BadInput(f"tag must be a non-empty string, got {tag!r}")
    return f"Member({classad_string(tag, 'tag')}, other.{RTE_ATTR})"


def _classad2() -> Any:
    try:
        import classad2
    except ImportError as e:
        raise ClassAdUnavailable(
            f"the ClassAd engine is not installed ({e}): install the 'htcondor' wheel "
            "(pip install 'pps[match]', or pip install 'htcondor>=24') to parse or match JDL "
            "and HTCondor jobs"
        ) from None
    return classad2


def parse_jdl(text: str, source: str = "JDL") -> Any:
    """Parse gLite JDL text into a ``classad2.ClassAd``; raise BadInput naming *source*.

    Whole-line ``#`` and ``//`` comments are dropped, the rest is wrapped in ``[ ... ]`` (a text
    already wrapped is accepted too).  A JDL that ends the ad before its last line is refused
    instead of being cut short silently.
    """
    if not isinstance(text, str):
        raise BadInput(f"{source} must be text, got {type(text).__name__}")
    classad2 = _classad2()
    body = "\n".join(line for line in text.splitlines() if not _COMMENT_LINE.match(line))
    stripped = body.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        body = stripped[1:-1]
    if not body.strip():
        raise BadInput(f"{source} is empty")
    if _SENTINEL.casefold() in body.casefold():
        raise BadInput(f"{source} uses the reserved name {_SENTINEL!r}")
    try:
        ad = classad2.ClassAd(f"[\n{body}\n;{_SENTINEL} = true\n]")
    except classad2.ClassAdException as e:
        raise BadInput(f"{source} is not a valid ClassAd: {e}") from None
    if _SENTINEL not in ad:
        raise BadInput(f"{source} is not a valid ClassAd: text after the end of the ad")
    del ad[_SENTINEL]
    return ad


def ce_ad(attrs: Mapping[str, Any]) -> Any:
    """A CE ClassAd from plain attributes (lists become ClassAd lists), accepting any job
    unless *attrs* gives its own ``Requirements``."""
    classad2 = _classad2()
    if isinstance(attrs, classad2.ClassAd):
        ad = classad2.ClassAd(str(attrs))  # a copy: the caller's ad is left as it was
    else:
        ad = classad2.ClassAd(dict(attrs))
    if "Requirements" not in ad:
        ad["Requirements"] = True
    return ad


def match(jdl: Any, ce_attrs: Mapping[str, Any]) -> bool:
    """Whether the job *jdl* (JDL text or a parsed ad) and the CE described by *ce_attrs* match
    each other, e.g. ``{"GlueHostApplicationSoftwareRunTimeEnvironment": ["VO-dteam-..."]}``.

    Uses the engine's symmetric match; only a real ``True`` counts (``Undefined``, what a
    missing attribute gives, is not a match).
    """
    job = parse_jdl(jdl) if isinstance(jdl, str) else jdl
    return job.symmetricMatch(ce_ad(ce_attrs)) is True
