"""The ``[calendar]`` and ``[notify]`` sections of ``pps.toml``: the staged-rollout clocks'
working days, and where the lifecycle's mail goes.

Parsed by :func:`pps.inventory.load_config` as strictly as the rest of the file: an unknown key
or a bad value is one line naming it.  Format (see README "Configuration")::

    [calendar]
    country = "CH"                  # public holidays of this country (the holidays library)
    subdivision = "GE"              # optional: a canton, state, region of that country
    holidays = ["2026-12-24"]       # more days off (ISO dates); weekends never count

    [notify]
    smtp_host = "smtp.example.org"  # required when [notify] is there
    smtp_port = 587                 # default 25
    starttls = true                 # upgrade the connection before anything is sent
    ca_file = "keys/smtp-ca.pem"    # optional: trust this CA instead of the system store
    username = "pps"                # optional: SMTP AUTH (needs starttls)
    password_file = "keys/smtp.pw"  # the password's file (or $PPS_SMTP_PASSWORD)
    sender = "pps@example.org"      # From: (required)
    broadcast = ["early-adopters-glite@example.org"]  # a preview starts (verified)
    announce = ["site-admins@example.org"]             # a release is closed (default: broadcast)
    timeout = 30                    # seconds per SMTP conversation

Without ``[notify]`` every mail is kept in the store's queue ('pps notify retry' sends it once
the section is there).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pps.errors import ConfigError

CALENDAR_KEYS = {"country", "subdivision", "holidays"}
NOTIFY_KEYS = {
    "smtp_host",
    "smtp_port",
    "starttls",
    "ca_file",
    "username",
    "password_file",
    "sender",
    "broadcast",
    "announce",
    "timeout",
}

# One plain address: a dot-atom local part of letters, digits, '_', '+' and '-' (no '%' or '!'
# relays, no quotes, no comments), '@', and an LDH host name.  Matched whole (fullmatch: a
# trailing newline is not "the end"), then read back by the mail library itself.
_LOCAL = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})*)")


def check_address(value: object, what: str = "mail address") -> str:
    """*value* if it is one plain ``local@domain`` address (no display name, no list, no group,
    route, relay, quoting or comment; the domain an LDH host name), else ConfigError naming it.

    What is accepted goes into a ``To:`` header and an SMTP envelope as it is, and the mail
    library parses it back as exactly that one address."""
    m = _ADDRESS.fullmatch(value) if isinstance(value, str) else None
    if m is None or len(m["local"]) > 64 or len(m["domain"]) > 253 or not _reads_back(m[0]):
        raise ConfigError(f"{what} {value!r} is not a mail address (local@domain)")
    return m[0]


def _reads_back(value: str) -> bool:
    """Whether the standard library's header parser reads *value* as this one address."""
    # Imported here: the header parser costs some 9 ms, and only an address needs it (every
    # command reads pps.toml; most configurations have no [notify]).
    from email.errors import HeaderParseError
    from email.headerregistry import Address

    try:
        return Address(addr_spec=value).addr_spec == value
    except (ValueError, HeaderParseError):
        return False


@dataclass(frozen=True)
class CalendarSettings:
    """Which days are working days for the staged-rollout clocks."""

    #: ISO 3166 country code whose public holidays are days off ("" for none).
    country: str = ""
    subdivision: str = ""
    #: More days off, as ISO dates.
    holidays: tuple[_dt.date, ...] = ()


@dataclass(frozen=True)
class NotifySettings:
    """The SMTP server and the lists the lifecycle writes to."""

    smtp_host: str
    sender: str
    smtp_port: int = 25
    starttls: bool = False
    ca_file: Path | None = None
    username: str = ""
    password_file: Path | None = None
    #: Where the general broadcast goes when a preview starts.
    broadcast: tuple[str, ...] = ()
    #: Where the announcement goes when a release is closed.
    announce: tuple[str, ...] = ()
    timeout: float = 30.0


def parse_calendar(where: str, table: dict[str, Any]) -> CalendarSettings:
    country = table.get("country", "")
    if not isinstance(country, str) or (country and not re.fullmatch(r"[A-Z]{2,3}", country)):
        raise ConfigError(f"{where}: 'country' must be an ISO country code like 'CH', got "
                          f"{country!r}")  # fmt: skip
    subdivision = table.get("subdivision", "")
    if not isinstance(subdivision, str) or (subdivision and not country):
        raise ConfigError(f"{where}: 'subdivision' must be a string, and needs 'country'")
    days = table.get("holidays", [])
    if not isinstance(days, list):
        raise ConfigError(f"{where}: 'holidays' must be a list of ISO dates")
    parsed = []
    for day in days:
        if isinstance(day, _dt.datetime) or not isinstance(day, (_dt.date, str)):
            raise ConfigError(f"{where}: holiday {day!r} is not a date (YYYY-MM-DD)")
        if isinstance(day, str):
            try:
                day = _dt.date.fromisoformat(day)
            except ValueError:
                raise ConfigError(f"{where}: holiday {day!r} is not a date (YYYY-MM-DD)") from None
        parsed.append(day)
    # The country's calendar itself is looked up where the clocks run (distributor.workdays):
    # the core imports the standard library only.
    return CalendarSettings(country, subdivision, tuple(sorted(set(parsed))))


def parse_notify(
    where: str, table: dict[str, Any] | None, local_path: Callable[[str], Path]
) -> NotifySettings | None:
    if table is None:
        return None
    for key in ("smtp_host", "sender"):
        if key not in table:
            raise ConfigError(f"{where} needs {key!r}")
    host = table["smtp_host"]
    if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host):
        raise ConfigError(f"{where}: 'smtp_host' {host!r} is not a host name")
    port = table.get("smtp_port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}: 'smtp_port' {port!r} is not a TCP port")
    starttls = table.get("starttls", False)
    if not isinstance(starttls, bool):
        raise ConfigError(f"{where}: 'starttls' must be true or false, got {starttls!r}")
    timeout = table.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout:
        raise ConfigError(f"{where}: 'timeout' must be seconds > 0, got {timeout!r}")
    username = table.get("username", "")
    if not isinstance(username, str):
        raise ConfigError(f"{where}: 'username' must be a string")
    if username and not starttls:
        raise ConfigError(f"{where}: 'username' needs starttls = true (no password in clear)")

    def path(key: str) -> Path | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {key!r} must be a path")
        return local_path(value)

    def addresses(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key!r} must be a list of mail addresses")
        return tuple(check_address(a, f"{where}: {key}:") for a in value)

    broadcast = addresses("broadcast")
    return NotifySettings(
        smtp_host=host,
        sender=check_address(table["sender"], f"{where}: sender"),
        smtp_port=port,
        starttls=starttls,
        ca_file=path("ca_file"),
        username=username,
        password_file=path("password_file"),
        broadcast=broadcast,
        announce=addresses("announce") if "announce" in table else broadcast,
        timeout=float(timeout),
    )
