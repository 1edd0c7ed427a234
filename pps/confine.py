"""Allow-list grammars for values pps hands to programs that read more into characters.

The place that matters most is a check's command line in the Nagios objects ``pps
nagios-config`` writes.  Nagios 4 runs a command line itself (``execvp``) only when it holds
none of the characters its parser takes for shell syntax (libnagios ``runcmd_cmd2strv``: ``| <
> & ; ` ( ) $ * ?`` outside quotes, and unbalanced quotes); with any of them the whole line goes
to ``/bin/sh -c`` (where a leading ``NAME=VALUE`` word would be an assignment).  In the
object file ``;`` starts a comment, ``!`` separates a check_command's arguments, ``$`` starts a
macro, a backslash escapes, and a newline starts another directive; custom variable and
``$ARGn$`` macros reach the command line unchanged unless the site's nagios.cfg strips
characters from them.  So a value is accepted only when every character is in a small ASCII
allow-list that all of these readers take literally; nothing is ever escaped or quoted (each
reader quotes differently), and what does not fit is refused with one line naming the value and
the first character that does not belong.

Grammars: :func:`check_command_word` (one word of a command line), :func:`check_site_path` (an
absolute path: a program, a site's directory or file), :func:`check_host` (a DNS name or an IP
address), :func:`check_repository_url` (``[repository] url``: where pull-mode sites read the
repository) and :func:`check_object_name` (a Nagios object name of the site's, such as a contact
group).
"""

from __future__ import annotations

import ipaddress
import re
import string
from urllib.parse import urlsplit

from pps.errors import BadInput

_ALNUM = string.ascii_letters + string.digits
#: What a word of a generated command line may hold: characters Nagios's command parser and its
#: object files take literally, so no shell is started for a line made of them ('[' and ']'
#: only ever enclose an IPv6 address in a URL).
WORD_CHARS = frozenset(_ALNUM + "._/:=@%+,~[]-")
#: An absolute path: no '=' (a shell takes a leading NAME=VALUE for an assignment), no '~'.
PATH_CHARS = frozenset(_ALNUM + "._+-/")
#: The path of a repository URL (or a repository directory): RFC 3986 unreserved, '/', '+' and
#: percent-escapes.
URL_PATH_CHARS = frozenset(_ALNUM + "-._~/+%")
#: A Nagios object name (and a site, component or VO name): letters, digits, '.', '_', '-'.
NAME_CHARS = frozenset(_ALNUM + "._-")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
MAX_LENGTH = 1024


def first_outside(value: str, allowed: frozenset[str]) -> str | None:
    """The first character of *value* that is not in *allowed* (None if there is none)."""
    for c in value:
        if c not in allowed:
            return c
    return None


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_LENGTH:
        raise BadInput(f"{what} {value[:40]!r}... is longer than {MAX_LENGTH} characters")
    return value


def check_command_word(value: object, what: str) -> str:
    """*value* if it can be one word of a Nagios command line, read as itself everywhere."""
    text = _require_str(value, what)
    bad = first_outside(text, WORD_CHARS)
    if bad is not None:
        raise BadInput(
            f"{what} {text!r} cannot go into a Nagios command line: {bad!r} is not allowed"
        )
    if text.startswith("-"):
        raise BadInput(f"{what} {text!r} cannot go into a Nagios command line: it starts with '-'")
    return text


def check_site_path(value: object, what: str) -> str:
    """*value* if it is an absolute path that can go into a Nagios command line as one word."""
    text = _require_str(value, what)
    if not text.startswith("/"):
        raise BadInput(f"{what} {text!r} must be an absolute path")
    bad = first_outside(text, PATH_CHARS)
    if bad is not None:
        raise BadInput(
            f"{what} {text!r} cannot go into a Nagios command line: {bad!r} is not allowed "
            "(use letters, digits and ./_+- in a path)"
        )
    return text


def check_host(value: object, what: str = "host") -> str:
    """*value* if it is a DNS host name (``ce01.pi.infn.it``) or an IPv4/IPv6 address."""
    text = _require_str(value, what)
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise BadInput(
            f"{what} {text!r} is not a host name or IP address (use letters, digits, '-' and "
            "dots, such as ce01.example.org)"
        )
    return text


def check_object_name(value: object, what: str) -> str:
    """*value* if it is a Nagios object name (a contact group, say) made of safe characters."""
    text = _require_str(value, what)
    if _OBJECT_NAME.match(text):
        return text
    bad = first_outside(text, NAME_CHARS)
    if bad is not None:
        reason = f"{bad!r} is not allowed (use letters, digits and ._-)"
    elif not text[0].isalnum():
        reason = "it must start with a letter or a digit"
    else:
        reason = "it is longer than 100 characters"
    raise BadInput(f"{what} {text!r} cannot go into the Nagios objects: {reason}")


def check_repository_url(value: object, what: str = "[repository] url") -> str:
    """*value* if it names a repository a probe can read from a command line: an
    ``https://HOST[:PORT]/PATH`` (or ``http://``) URL, or an absolute directory.

    The probe reads ``index.json`` and the tarballs below it, so the URL names a directory: a
    query, a fragment, a user or a password have no place in it."""
    text = _require_str(value, what)

    def bad(reason: str) -> BadInput:
        return BadInput(f"{what} {text!r} is not valid: {reason}")

    def bad_char(c: str) -> BadInput:
        return bad(f"{c!r} is not allowed (use letters, digits and -._~/+% in its path)")

    if text.startswith("/"):
        c = first_outside(text, URL_PATH_CHARS)
        if c is not None:
            raise bad_char(c)
        if ".." in text.split("/"):
            raise bad("a repository directory must not go up ('..')")
        return text
    if not text.startswith(("https://", "http://")):
        raise bad(
            "use https://HOST[:PORT]/PATH, http://HOST[:PORT]/PATH (for sites that pin the "
            "signing key) or an absolute directory"
        )
    c = first_outside(text, WORD_CHARS | {"?", "#", "&"})
    if c is not None:  # before parsing: urlsplit would drop tabs and newlines by itself
        raise bad_char(c)
    for mark, part in (("?", "a query"), ("#", "a fragment")):
        if mark in text:
            raise bad(
                f"{part} ({mark!r}) has no place in it: the probe reads index.json and the "
                "tarballs below the URL, which names the repository's directory "
                "(https://HOST[:PORT]/PATH)"
            )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise bad(str(e)) from None
    if "@" in parts.netloc:
        raise bad("it must not carry a user or password (every site's Nagios shows it)")
    if not parts.hostname:
        raise bad("it names no host")
    host = parts.hostname
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"[{host}] is not an IPv6 address") from None
    else:
        try:
            check_host(host)
        except BadInput:
            raise bad(f"host {host!r} is not a host name or IP address") from None
    if port is not None and not 0 < port < 65536:
        raise bad(f"port {port} is not a TCP port")
    c = first_outside(parts.path, URL_PATH_CHARS)
    if c is not None:
        raise bad_char(c)
    if _PERCENT.search(parts.path):
        raise bad("a '%' in its path must start an escape such as %20")
    return text
