"""Text meant for people, made safe to show: what a site, a server or a file said is data.

A site's status line, a probe's long output, a GIP provider's error and a BDII's warning end
up on the operator's terminal, in the state store and on the bulletin.  Written as they came,
an escape sequence in them would retitle the terminal, clear it or move the cursor, a carriage
return would overwrite the line before it, and a bidirectional override would show a line in
another order than it is stored.  :func:`printable` writes every character that is not
printable (``str.isprintable``: the C0 and C1 controls, DEL, format characters such as the bidi
overrides, line and paragraph separators, surrogates, private-use and unassigned code points)
as its Python escape (``\\x1b``, ``\\u202e``), visibly and reversibly, and leaves printable
text exactly as it was.  Only a text meant to have several lines keeps its newlines.

:func:`is_link_url` says which URLs may become links on a page or in a mail: an absolute
http(s) URL with a host, or ``mailto:`` one plain address.  ``pps release create`` refuses
any other notes or feedback URL, and the bulletin links exactly what it accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pps.errors import BadInput


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def printable(text: str, *, multiline: bool = False) -> str:
    """*text* with every character that is not printable written as its escape.

    With *multiline* the newlines stay (a ``\\r\\n`` line end becomes ``\\n``); every other
    control character, a lone ``\\r`` included, is escaped either way.  The result never holds
    a character that is not printable except those newlines, and a printable text comes back
    unchanged."""
    if text.isprintable():
        return text
    if not multiline:
        return _escaped(text)
    return "\n".join(_escaped(line) for line in text.replace("\r\n", "\n").split("\n"))


def is_link_url(url: object) -> bool:
    """Whether *url* may become a link: ``http(s)://HOST...`` without whitespace or control
    characters, or ``mailto:local@domain`` (one plain address, nothing after it)."""
    if not isinstance(url, str) or not url:
        return False
    if url[:7].lower() == "mailto:":
        # Imported here: every command prints through printable(), and one that reads no
        # pps.toml (``pps infosys map --infosys URL``) loads none of the settings' code.
        from pps.settings import check_address

        try:
            check_address(url[7:])
        except BadInput:
            return False
        return True
    if any(ord(c) < 0x21 or ord(c) == 0x7F or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
