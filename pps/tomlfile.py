"""Reading the TOML files pps is given (``pps.toml``, a site file, ``pps-tests.toml``), bounded.

``tomllib`` parses arrays and inline tables recursively, so a value nested a few hundred levels
deep (``a = [[[[...]]]]``) raises RecursionError instead of a TOML error, and it keeps a record
per prefix of a dotted key, so one key of a few thousand parts (``a.b.b.b... = 1``, 20 KB) costs
hundreds of megabytes.  No pps file nests more than a few levels: :func:`loads` refuses text
whose brackets or dotted keys go deeper than :data:`MAX_DEPTH` before the parser sees it (in
time linear in the text: a push reads up to a megabyte of a site's file), and checks the parsed
values too, so whatever it returns is safe for any recursive consumer (``json.dumps``,
``repr``).  An integer beyond the 64 bits TOML allows is refused as well: tomllib would return
one of any size (``0x`` and a megabyte of digits), or fail with a ValueError of ``int()``'s for
a decimal one of more than 4300 digits, and printing such a value in an error message fails the
same way.  Every problem is one :class:`TomlError` (a ValueError) whose message the caller
prefixes with the file's name.

Imported only where a TOML text is parsed (the probe parses its site file only when the file
changed, see :mod:`probes._siteconfig`), and ``tomllib`` itself only when :func:`loads` runs.
"""

from __future__ import annotations

import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: How deep brackets, dotted keys and the parsed values may nest.
MAX_DEPTH = 32

# Strings and comments, which may hold any bracket or dot: replaced by one key-like character
# before the nesting is counted.  Multi-line strings first; their closing quotes may be followed
# by one or two quotes that belong to the string.  A string that is not closed runs to the end
# of its line (of the text, for a multi-line one), the closing quotes being optional: every
# alternative either takes its whole string or fails at its first character, so no search
# starts again inside a string (from each quote of an unclosed ``"\"\"\"...`` it would scan
# to the end again, quadratic in the text).  Such a text is not TOML, and the parser says so.
_OPAQUE = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*(?:"{3,5})?'
    r"|'''(?:[^']|'(?!''))*(?:'{3,5})?"
    r'|"(?:[^"\\\n]|\\.)*"?'
    r"|'[^'\n]*'?"
    r"|#[^\n]*",
    re.DOTALL,
)
_BRACKET = re.compile(r"[\[\]{}]")
_PART = r"[A-Za-z0-9_-]+"
# A dotted key starts where a part starts (the lookbehind): tried at every character of a long
# run of key characters (a bare word, a number, the strings replaced above), the search would
# backtrack over the rest of the run from each, quadratic in its length (hours for a megabyte).
_DEEP_KEY = re.compile(rf"(?<![A-Za-z0-9_-]){_PART}(?:[ \t]*\.[ \t]*{_PART}){{{MAX_DEPTH},}}")
#: TOML integers are 64-bit signed; tomllib reads any length (``int()`` refuses a decimal one of
#: more than 4300 digits with a ValueError of its own).
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


class TomlError(ValueError):
    """The text is not TOML, or nests deeper than a pps file can."""


def _too_deep() -> TomlError:
    return TomlError(f"nested more than {MAX_DEPTH} levels deep (no pps file nests so deep)")


def _check_text(text: str) -> None:
    plain = _OPAQUE.sub("s", text)
    depth = 0
    for m in _BRACKET.finditer(plain):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise _too_deep()
    if _DEEP_KEY.search(plain):
        raise _too_deep()


def _too_big() -> TomlError:
    return TomlError("not valid TOML: an integer beyond the 64 bits TOML allows")


def _check_values(data: dict[str, Any]) -> None:
    todo: list[tuple[object, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
        elif isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
            raise _too_big()


def loads(text: str) -> dict[str, Any]:
    """*text* parsed as TOML; TomlError saying why it cannot be (``not valid TOML: ...``, or
    nested too deeply)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9/3.10 (the one-file probe bundles tomli)
        import tomli as tomllib
    _check_text(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TomlError(f"not valid TOML: {e}") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # int() of a decimal integer of more than 4300 digits, the only other one
        raise _too_big() from None
    _check_values(data)
    return data
