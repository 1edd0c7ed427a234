"""What the BDII says, for check_preview_publication: one subcluster's tags, read within bounds.

The GLUE 1.3 RunTimeEnvironment values of the subcluster (base ``o=grid``) and its GLUE 2.0
ApplicationEnvironments (base ``o=glue``), read anonymously with ldap3 (imported here only, when
the check runs: no other probe loads it), every filter value escaped.  What arrives is counted
on the socket before ldap3 decodes any of it (the core's guard,
:class:`pps.boundedsocket.BoundedSocket`): beyond the byte or message bounds the read stops.
Every failure is a :class:`BdiiError` (one line); the plugin makes it UNKNOWN.  The query knows
nothing of the plugin: it is given a :class:`Query`.
"""

from __future__ import annotations

import socket
import time

from pps.boundedsocket import TIMEOUTS, BoundedSocket
from pps.glue import STATE_NOT_VERIFIED, STATE_VERIFIED
from pps.names import RTE_ATTRIBUTE
from pps.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Bounds on what the BDII may send (a site BDII answers this check in a few kB).
MAX_ANSWER_BYTES = 8 << 20
MAX_VALUES = 10_000
MAX_GLUE2_ENTRIES = 10_000
MAX_GLUE1_ENTRIES = 100
#: Reads of at least this size: ldap3 joins the chunks of a message one by one.
_CHUNK = 1 << 16
#: LDAP messages one check may receive: the bind's answer, each search's entries and its end
#: (referrals count too).
MAX_MESSAGES = MAX_GLUE1_ENTRIES + MAX_GLUE2_ENTRIES + 16
_TIMEOUTS = TIMEOUTS
_LIVE_GLUE2 = (STATE_VERIFIED, STATE_NOT_VERIFIED)
_GLUE2_ATTRS = (
    "GLUE2ApplicationEnvironmentAppName",
    "GLUE2ApplicationEnvironmentState",
)
#: How much of a BDII value the status line shows.
SHOWN_CHARS = 80


class BdiiError(Exception):
    """The BDII could not be read as the check needs (the plugin says UNKNOWN): one line."""


class LimitExceeded(BdiiError):
    """The BDII sent more than the plugin reads."""


class Query(Record):
    """What one check asks the BDII: where it listens, the subcluster, its GLUE 2.0 managers
    and the time the answer must arrive by."""

    url: str
    host: str
    port: int
    subcluster: str
    managers: tuple[str, ...]
    deadline: float
    timeout: float


class Published:
    """What the BDII holds for the subcluster."""

    def __init__(self) -> None:
        #: tag key -> the value as the BDII spells it (GLUE 1.3 RTE values)
        self.glue1: dict[str, str] = {}
        self.glue1_entries = 0
        #: tag key -> (the AppName as spelt, the GLUE 2.0 states its entries give)
        self.glue2: dict[str, tuple[str, set[str]]] = {}

    def glue2_live(self, key: str) -> bool:
        states = self.glue2.get(key, ("", set()))[1]
        return bool(states & set(_LIVE_GLUE2))


def _decode(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _values(entry: dict[str, Any], attr: str) -> list[str]:
    raw = entry.get("raw_attributes") or {}
    want = attr.lower()
    out: list[str] = []
    for name, values in raw.items():
        if str(name).lower() == want:
            out += [_decode(v) for v in values]
    return out


def _reason(e: BaseException) -> str:
    """The cause of a connection error, as short as the socket layer says it."""
    for cls, text in ((ConnectionRefusedError, "connection refused"),
                      (_TIMEOUTS, "timed out"), (socket.gaierror, "unknown host")):  # fmt: skip
        if isinstance(e, cls):
            return text
    text = str(e)
    for prefix in ("socket connection error while opening: ", "error receiving data: "):
        text = text.replace(prefix, "")
    return shown(text or type(e).__name__)


def query_bdii(settings: Query) -> Published:
    """Ask the BDII for the subcluster's GLUE 1.3 values and GLUE 2.0 entries.

    Raises :class:`BdiiError` naming the problem."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    url = settings.url
    left = settings.deadline - time.monotonic()
    if left <= 0:
        raise BdiiError(f"no time left to ask the BDII {url}")
    server = ldap3.Server(
        settings.host,
        port=settings.port,
        get_info=ldap3.NONE,
        connect_timeout=max(0.5, min(10.0, left / 3)),
    )
    # whole seconds: ldap3 packs it into SO_RCVTIMEO; each read is bounded by the deadline too
    conn = ldap3.Connection(
        server, receive_timeout=max(1, int(left)), read_only=True, auto_referrals=False
    )  # a referral names another server: never followed
    bounded: BoundedSocket | None = None
    time_limit = max(1, int(left))
    published = Published()
    try:
        conn.open()
        bounded = BoundedSocket(
            conn.socket,
            settings.deadline,
            MAX_ANSWER_BYTES,
            max_messages=MAX_MESSAGES,
            min_read=_CHUNK,
        )
        conn.socket = bounded
        if not conn.bind():
            raise BdiiError(f"the BDII {url} refused an anonymous bind: {_result(conn)}")
        _read_glue1(conn, settings, published, time_limit)
        _read_glue2(conn, settings, published, time_limit)
    except BdiiError:
        raise
    except (LDAPException, OSError) as e:
        if bounded is not None and bounded.overflow:
            what = {"bytes": f"{MAX_ANSWER_BYTES >> 20} MiB", "messages": f"{MAX_MESSAGES} entries"}
            what_sent = what.get(bounded.exceeded, "4 GiB in one message")
            raise BdiiError(
                f"the BDII {url} sent more than {what_sent}: not read (the limit; a site BDII "
                "answers this check in a few kB)"
            ) from None
        if bounded is not None and bounded.timed_out or isinstance(e, _TIMEOUTS):
            raise BdiiError(
                f"the BDII {url} did not answer within {settings.timeout:g} s"
            ) from None
        if bounded is None:
            raise BdiiError(f"cannot reach the BDII {url}: {_reason(e)}") from None
        raise BdiiError(f"the BDII {url} failed: {_reason(e)}") from None
    finally:
        try:
            conn.unbind()
        except Exception:  # already closed, or the server went away: nothing to release
            pass
    return published


def _read_glue1(conn: Any, query: Query, published: Published, time_limit: int) -> None:
    """The subcluster's GLUE 1.3 RunTimeEnvironment values, into *published*."""
    import ldap3
    from ldap3.utils.conv import escape_filter_chars

    url = query.url
    sc = escape_filter_chars(query.subcluster)
    conn.search(
        "o=grid",
        f"(&(objectClass=GlueSubCluster)(GlueSubClusterUniqueID={sc}))",
        search_scope=ldap3.SUBTREE,
        attributes=[RTE_ATTRIBUTE],
        size_limit=MAX_GLUE1_ENTRIES,
        time_limit=time_limit,
    )
    _check_result(conn, url, "o=grid", f"{MAX_GLUE1_ENTRIES} GlueSubCluster entries")
    values = 0
    for entry in _entries(conn):
        published.glue1_entries += 1
        for value in _values(entry, RTE_ATTRIBUTE):
            values += 1
            if values > MAX_VALUES:
                raise LimitExceeded(
                    f"the BDII {url} holds more than {MAX_VALUES} RunTimeEnvironment "
                    f"values for {query.subcluster}: not checked (the limit is "
                    f"{MAX_VALUES})"
                )
            published.glue1.setdefault(value.casefold(), value)


def _read_glue2(conn: Any, query: Query, published: Published, time_limit: int) -> None:
    """The subcluster's GLUE 2.0 ApplicationEnvironments and their states, into *published*."""
    import ldap3
    from ldap3.utils.conv import escape_filter_chars

    sc = escape_filter_chars(query.subcluster)
    managers = "".join(
        f"(GLUE2ApplicationEnvironmentComputingManagerForeignKey={escape_filter_chars(m)})"
        for m in query.managers
    )
    conn.search(
        "o=glue",
        "(&(objectClass=GLUE2ApplicationEnvironment)"
        f"(|(GLUE2ApplicationEnvironmentID=urn:pps:{sc}:*){managers}))",
        search_scope=ldap3.SUBTREE,
        attributes=list(_GLUE2_ATTRS),
        size_limit=MAX_GLUE2_ENTRIES,
        time_limit=time_limit,
    )
    _check_result(conn, query.url, "o=glue", f"{MAX_GLUE2_ENTRIES} GLUE 2.0 entries")
    for entry in _entries(conn):
        names = _values(entry, _GLUE2_ATTRS[0])
        if not names:
            continue
        states = {s.lower() for s in _values(entry, _GLUE2_ATTRS[1])} or {STATE_VERIFIED}
        key = names[0].casefold()
        _spelt, known = published.glue2.setdefault(key, (names[0], set()))
        known |= states


def _result(conn: Any) -> str:
    """The server's result, as short as the status line can show what it says."""
    result = conn.result or {}
    text = f"{shown(str(result.get('description', '')))} ({shown(str(result.get('result')))})"
    if result.get("message"):
        text += f": {shown(str(result['message']))}"
    return text


def _check_result(conn: Any, url: str, base: str, limit: str) -> None:
    code = (conn.result or {}).get("result")
    if code in (0, 32):  # success; noSuchObject: the base is not there, so nothing is published
        return
    if code == 3:  # timeLimitExceeded
        raise BdiiError(f"the BDII {url} did not answer within its time limit "
                                      f"under {base}")  # fmt: skip
    if code == 4:
        raise LimitExceeded(f"the BDII {url} has more than {limit} for this subcluster under "
                            f"{base}: not checked (the limit)")  # fmt: skip
    raise BdiiError(f"the BDII {url} refused the search under {base}: "
                                  f"{_result(conn)}")  # fmt: skip


def _entries(conn: Any) -> list[dict[str, Any]]:
    return [r for r in conn.response or () if r.get("type") == "searchResEntry"]


def clean(text: str) -> str:
    """One line of printable ASCII without the perfdata separator, as Nagios wants it."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in text)
    return " ".join(text.replace("|", "/").split())


def shown(value: str) -> str:
    """A value from the BDII, cut to :data:`SHOWN_CHARS` and made printable."""
    value = clean(value)
    return value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "..."
