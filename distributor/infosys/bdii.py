"""Reading a BDII: the preview tags it publishes, by site, within bounds.

:func:`read_bdii` queries GLUE 1.3 under ``o=grid`` and GLUE 2.0 under ``o=glue`` with ldap3:
one paged search per base for preview tags only, asking only for the attributes the map needs
(ldap3 spends some 20 us on every value it decodes), no bind and no schema read
(``get_info=NONE``: nothing of the schema is used).  Only when the DNs name no site (a resource
BDII) do follow-up searches fetch what does: the GLUE 1.3 search again with the subcluster and
cluster IDs, then, by escaped ID, the ``GlueCluster`` entries and ``GLUE2EntityOtherInfo``.
ldap3's values are decoded once, in C (:class:`_DecodeEveryValue`).  ``ldaps://`` checks the
server's certificate and host name against the system CAs.  The entries go to the reader every
source shares, :func:`pps.publication.read_entries`.

A read is bounded, and fails with one line (:class:`InfosysError`, exit 1) beyond a bound:
``timeout`` seconds for the whole read, connect included (each receive waits at most what is
left); ``max_values`` attribute values; and, on the wire, :data:`BYTES_PER_VALUE` bytes per
allowed value for the whole read and :data:`MAX_ENTRY_BYTES` for one entry, which is refused
from its header, before its body is read (ldap3 would hold it whole, and join its pieces in
quadratic time); the socket guard is the core's,
:class:`pps.boundedsocket.BoundedSocket`.  Values from the server go into filters only through
``escape_filter_chars``, and into the output only as data (JSON, or table cells with control
characters escaped).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from pps.boundedsocket import BoundedSocket
from pps.errors import BadInput, PPSError
from pps.glue import RTE_ATTR, Entry
from pps.names import PREVIEW_CAPABILITY
from pps.publication import (
    APP_ENV_CLASS,
    APP_NAME,
    APP_STATE,
    APP_VERSION,
    GLUE2_BASE,
    GLUE13_BASE,
    OTHER_INFO,
    PPS_SITE_KEY,
    LdapUrl,
    Publication,
    dn_site,
    is_rte_name,
    parse_ldap_url,
    read_entries,
    split_dn,
)
from pps.rte import RTE_PREFIX

if TYPE_CHECKING:
    from pps.inventory import Site

#: Seconds for a whole BDII read, connect included (``[infosys] timeout``).
DEFAULT_TIMEOUT = 30.0
#: Attribute values a BDII read may return (``[infosys] max_values``): a top BDII's preview
#: tags are some thousands; a million values would be a server gone wrong.
DEFAULT_MAX_VALUES = 200_000
#: Entries per page of the paged search (RFC 2696): a page is what is held at once.
PAGE_SIZE = 1000
#: Bytes one value may take on the wire, DN and encoding included, for the byte bound
#: (published values take some 40 to 80).
BYTES_PER_VALUE = 256
#: The floor of the byte bound, so that a small max_values still reads a few normal pages.
MIN_BYTES = 1 << 20
#: The largest single LDAP message (one entry) a read takes: ldap3 joins a message's pieces by
#: copying, which costs quadratic time for a huge one; 4 MiB is some 100,000 values.
MAX_ENTRY_BYTES = 4 << 20

_PAGED_OID = "1.2.840.113556.1.4.319"
#: The GLUE 1.3 search asks for the RTE values alone when every DN names its site (a top or a
#: site BDII): ldap3 spends some 20 us on each attribute of each entry it decodes.  When one
#: does not (a resource BDII), it is made again with the IDs that name the site.
GLUE13_ATTRS = (RTE_ATTR, "GlueSubClusterUniqueID", "GlueChunkKey")
#: ldap3 spends some 20 us on each value it decodes: the GLUE 2.0 search asks for the two it
#: needs; PPSSite (OtherInfo) is asked for only for entries whose DN names no site.
GLUE2_ATTRS = (APP_NAME, APP_STATE)
#: The ARC-CEs' preview RTEs (:func:`arc_filter`): an RTE name is AppName and AppVersion.
ARC_ATTRS = (APP_NAME, APP_STATE, APP_VERSION)
APP_ID = "GLUE2ApplicationEnvironmentID"
CLUSTER_ATTRS = ("objectClass", "GlueClusterUniqueID", "GlueForeignKey")
#: IDs per follow-up search (the filter grows with them).
_IDS_PER_SEARCH = 100


class InfosysError(PPSError):
    """The BDII could not be read: unreachable, too slow, refused the search, or too big."""


class _DecodeEveryValue(dict):
    """ldap3's custom formatters (``Server(formatter=...)``): one for every attribute, which
    decodes each value as UTF-8 and writes a byte that is not UTF-8 as ``\\xNN``.

    ldap3 formats every value it receives (its ``attributes``, beside the ``raw_attributes``),
    by default with a Python function per value that gives bytes for a value that is not UTF-8;
    with this, it calls ``bytes.decode`` (C) and the reader takes ``attributes`` as they are,
    instead of decoding every raw value again."""

    _formatter = staticmethod(partial(bytes.decode, encoding="utf-8", errors="backslashreplace"))

    def __bool__(self) -> bool:
        return True

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: object) -> Callable[[bytes], str]:
        return self._formatter


def _ldap3() -> Any:
    """ldap3, imported on first use (only the BDII reads need it).  ldap3 2.9.1 uses names
    that pyasn1 0.6 deprecated; the warning is about their code, not ours, and says nothing to
    an operator, so it is not shown."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ldap3
        import ldap3.utils.conv

    return ldap3


# ------------------------------------------------------------------------------- filters
def _esc(value: str) -> str:
    return str(_ldap3().utils.conv.escape_filter_chars(value))


def glue13_filter(tag: str | None = None) -> str:
    """The GLUE 1.3 search: entries listing a preview tag (RTE values are caseIgnoreIA5, so one
    spelling matches them all), or exactly *tag*."""
    if tag is not None:
        return f"({RTE_ATTR}={_esc(tag)})"
    return f"(|({RTE_ATTR}=VO-*-PPS-*)({RTE_ATTR}={_esc(PREVIEW_CAPABILITY)}))"


def glue2_filter(tag: str | None = None) -> str:
    """The GLUE 2.0 search: ApplicationEnvironments of preview tags.  AppName is caseExact, so
    the usual spelling, the lower-case one, and every entry our provider wrote (PPSSite=) are
    asked for; the reader drops what is no preview tag.  *tag*: that tag in any case."""
    cls = f"(objectClass={APP_ENV_CLASS})"
    if tag is not None:
        return f"(&{cls}({APP_NAME}:caseIgnoreMatch:={_esc(tag)}))"
    wanted = (
        f"({APP_NAME}=VO-*-PPS-*)({APP_NAME}=vo-*-pps-*)"
        f"({APP_NAME}:caseIgnoreMatch:={_esc(PREVIEW_CAPABILITY)})"
        f"({OTHER_INFO}={_esc(PPS_SITE_KEY)}*)"
    )
    rtes = "".join(f"(!{part})" for part in _rte_names())  # arc_filter's
    return f"(&{cls}(|{wanted}){rtes})"


def _rte_names() -> tuple[str, str]:
    """The filters of ARC-CEs' preview RTEs (AppName ``ENV/PPS/...``: A-REX's spelling, and
    the lower-case one)."""
    return f"({APP_NAME}={_esc(RTE_PREFIX)}*)", f"({APP_NAME}={_esc(RTE_PREFIX.lower())}*)"


def arc_filter() -> str:
    """The GLUE 2.0 search of ARC-CEs' preview RTEs, with or without the GLUE 2.0 states (an
    ARC-CE publishes GLUE 2.0 only), with their AppVersion (:data:`ARC_ATTRS`): whoever cut a
    name into AppName and AppVersion, the reader rejoins them (:func:`pps.publication.rte_tag`).
    :func:`glue2_filter` leaves them out."""
    return f"(&(objectClass={APP_ENV_CLASS})(|{''.join(_rte_names())}))"


def ids_filter(object_class: str, attribute: str, ids: Sequence[str]) -> str:
    """The *object_class* entries whose *attribute* is one of *ids* (values from the server,
    escaped)."""
    wanted = "".join(f"({attribute}={_esc(i)})" for i in ids)
    return f"(&(objectClass={object_class})(|{wanted}))"


def clusters_filter(cluster_ids: Sequence[str]) -> str:
    """The GlueCluster entries of *cluster_ids*."""
    return ids_filter("GlueCluster", "GlueClusterUniqueID", cluster_ids)


# ---------------------------------------------------------------------------- the reader
class BdiiReader:
    """One connection to a BDII, for the searches of one read (a context manager)."""

    def __init__(
        self,
        url: str | LdapUrl,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_values: int = DEFAULT_MAX_VALUES,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.target = url if isinstance(url, LdapUrl) else parse_ldap_url(url)
        self.url = self.target.url
        self.timeout = timeout
        self.max_values = max_values
        self.page_size = page_size
        self.values = 0
        self._conn: Any = None
        self._guard: BoundedSocket | None = None
        self._deadline = 0.0

    def __enter__(self) -> BdiiReader:
        ldap3 = _ldap3()
        LDAPException = ldap3.core.exceptions.LDAPException

        self._deadline = time.monotonic() + self.timeout
        tls = None
        if self.target.scheme == "ldaps":
            import ssl

            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)  # ldap3's default checks nothing
        server = ldap3.Server(
            self.target.host,
            port=self.target.port,
            use_ssl=tls is not None,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
            formatter=_DecodeEveryValue(),
        )
        conn = ldap3.Connection(
            server,
            auto_bind=ldap3.AUTO_BIND_NONE,  # anonymous: LDAPv3 needs no bind to search
            read_only=True,
            # whole seconds: ldap3 also sets SO_RCVTIMEO from it, with struct.pack("LL")
            receive_timeout=max(1, math.ceil(self.timeout)),
            raise_exceptions=False,
        )
        started = time.monotonic()
        try:
            conn.open()
        except LDAPException as e:
            sock = getattr(conn, "socket", None)
            if sock is not None:  # ldap3 leaves a socket that failed to connect open
                sock.close()
            if time.monotonic() - started >= self.timeout * 0.9:
                raise self._timeout_error() from None
            raise InfosysError(f"cannot reach the BDII at {self.url}: {_reason(e)}") from None
        max_bytes = max(MIN_BYTES, self.max_values * BYTES_PER_VALUE)
        self._guard = BoundedSocket(
            conn.socket, self._deadline, max_bytes, min(max_bytes, MAX_ENTRY_BYTES)
        )
        conn.socket = self._guard
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.unbind()
            except Exception:  # closing after a failure: the error that matters is raised
                pass

    def _in_context(self) -> BoundedSocket:
        """The guarded socket of the open connection (see :meth:`_connection`)."""
        return self._connection()[1]

    def _connection(self) -> tuple[Any, BoundedSocket]:
        """The open connection and its guarded socket; a reader used outside its ``with``
        block is a programming error (RuntimeError), whatever ``python -O`` says."""
        if self._conn is None or self._guard is None:
            raise RuntimeError("use BdiiReader as a context")
        return self._conn, self._guard

    def _timeout_error(self) -> InfosysError:
        return InfosysError(
            f"the BDII at {self.url} did not answer within {self.timeout:g} s "
            "([infosys] timeout, --timeout)"
        )

    def _limit_error(self) -> InfosysError:
        return InfosysError(
            f"stopped reading the BDII at {self.url}: it returned more than {self.max_values} "
            "values ([infosys] max_values, --max-values)"
        )

    def _overflow_error(self) -> InfosysError:
        guard = self._in_context()
        if guard.too_big:
            return InfosysError(
                f"stopped reading the BDII at {self.url}: it sent one entry of "
                f"{guard.too_big} bytes, more than {guard.max_message} "
                "([infosys] max_values, --max-values)"
            )
        return InfosysError(
            f"stopped reading the BDII at {self.url}: it sent more than "
            f"{guard.max_bytes} bytes, more than {self.max_values} values can take "
            "([infosys] max_values, --max-values)"
        )

    def search_again(self) -> None:
        """Count the next search alone against the bounds on values and bytes (the deadline
        still holds for the whole read): it asks again for what the searches so far returned,
        and more."""
        guard = self._in_context()
        self.values = 0
        guard.received = 0

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        object_class: str = "",
    ) -> list[Entry]:
        """Every entry under *base* matching *search_filter*, page by page; *object_class* is
        recorded on each entry when the filter guarantees it (it is not asked for).  A base the
        server does not hold gives no entries."""
        LDAPException = _ldap3().core.exceptions.LDAPException
        conn, guard = self._connection()
        entries: list[Entry] = []
        cookie: bytes | None = None
        while True:
            try:
                conn.search(
                    base,
                    search_filter,
                    attributes=list(attributes),
                    paged_size=self.page_size,
                    paged_cookie=cookie,
                )
            except InfosysError:
                raise
            except Exception as e:  # ldap3's decoder raises anything on bytes that are no LDAP
                if guard.overflow:
                    raise self._overflow_error() from None
                if guard.timed_out:
                    raise self._timeout_error() from None
                if isinstance(e, LDAPException):
                    reason = _reason(e)
                else:
                    reason = f"its answer is not LDAP ({type(e).__name__})"
                raise InfosysError(f"reading the BDII at {self.url} failed: {reason}") from None
            result = conn.result or {}
            code = result.get("result", 0)
            if code == 32:  # noSuchObject: e.g. a BDII without GLUE 2.0
                return entries
            if code != 0:
                detail = " ".join(
                    str(x) for x in (result.get("description"), result.get("message")) if x
                )
                raise InfosysError(
                    f"the BDII at {self.url} refused the search of {base}: {detail or code}"
                )
            self._take(conn.response or (), entries, object_class)
            control = (result.get("controls") or {}).get(_PAGED_OID) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return entries

    def _take(self, response: Iterable[dict[str, Any]], out: list[Entry], cls: str) -> None:
        values = self.values
        limit = self.max_values
        for r in response:
            if r.get("type") != "searchResEntry":
                continue
            attrs: dict[str, list[str]] = {}
            values += 1  # an entry without values still counts
            for name, found in r["attributes"].items():  # decoded by _DecodeEveryValue
                attrs[name.lower()] = found
                values += len(found)
            if values > limit:
                raise self._limit_error()
            if cls:
                attrs.setdefault("objectclass", [cls])
            out.append(Entry(r["raw_dn"].decode("utf-8", "backslashreplace"), attrs))
        self.values = values


def _reason(e: BaseException) -> str:
    """ldap3's message without its wrapping (``socket connection error while opening: [Errno
    111] Connection refused`` -> ``connection refused``; it nests messages in tuple reprs)."""
    raw = str(e)
    text = re.sub(r"""^[\s("',]+|[\s)"',]+$""", "", raw)
    text = re.sub(r"\[(?:SSL: [A-Z_]+|Errno \d+|SSL)\] ?", "", text)
    text = re.sub(r" \(_ssl\.c:\d+\)?", "", text).rsplit(": ", 1)[-1].strip() or type(e).__name__
    if text[1:2].islower():
        text = text[:1].lower() + text[1:]
    return f"TLS: {text}" if "ssl" in raw.lower() else text


def inventory_map(sites: Iterable[Site]) -> dict[str, str]:
    """Subcluster and cluster IDs of the inventory, each to its site."""
    found: dict[str, str] = {}
    for s in sites:
        found.setdefault(s.cluster_id, s.name)
        found[s.subcluster] = s.name
    return found


def read_bdii(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_values: int = DEFAULT_MAX_VALUES,
    inventory: Mapping[str, str] | None = None,
    tag: str | None = None,
    page_size: int = PAGE_SIZE,
    glue2: bool = True,
) -> Publication:
    """The preview tags a BDII publishes, by site (see :mod:`pps.publication` for the rules).

    *tag*: only that tag.  Without *glue2* only the GLUE 1.3 RunTimeEnvironment values are read
    (what a WMS matches jobs on), not the GLUE 2.0 states; ARC-CEs' preview RTEs are read either
    way (a search of their own: an ARC-CE publishes GLUE 2.0 only).  Raises BadInput for a
    bad URL, InfosysError when the BDII cannot be read within *timeout* seconds and
    *max_values* values."""
    with BdiiReader(url, timeout=timeout, max_values=max_values, page_size=page_size) as r:
        dn_sites: dict[tuple[str, str], str] = {}
        entries = _glue13(r, tag, dn_sites)
        rte = tag is not None and is_rte_name(tag)
        if glue2 and not rte:
            found = r.search(GLUE2_BASE, glue2_filter(tag), GLUE2_ATTRS, APP_ENV_CLASS)
            _add_pps_sites(r, found, dn_sites)
            entries += found
        if tag is None or rte:
            entries += r.search(GLUE2_BASE, arc_filter(), ARC_ATTRS, APP_ENV_CLASS)
        pub = read_entries(entries, inventory=inventory, dn_sites=dn_sites)
        if pub.missing_clusters:  # a resource BDII: the GlueCluster entries name the site
            ids = sorted(pub.missing_clusters)
            for i in range(0, len(ids), _IDS_PER_SEARCH):
                chunk = ids[i : i + _IDS_PER_SEARCH]
                entries += r.search(GLUE13_BASE, clusters_filter(chunk), CLUSTER_ATTRS)
            pub = read_entries(entries, inventory=inventory, dn_sites=dn_sites)
    if tag is not None:
        pub.keep_only(tag)
    return pub


def _glue13(r: BdiiReader, tag: str | None, cache: dict[tuple[str, str], str]) -> list[Entry]:
    """The GLUE 1.3 entries (the read's first search): their RTE values, and, when a DN names
    no site, ``GlueSubClusterUniqueID`` and ``GlueChunkKey`` (:data:`GLUE13_ATTRS`).  *cache*
    gets the sites of the DNs (:func:`~pps.publication.dn_site`)."""
    entries = r.search(GLUE13_BASE, glue13_filter(tag), (RTE_ATTR,))
    for e in entries:
        try:
            if dn_site(e.dn, "mds-vo-name", cache):
                continue
        except BadInput:
            continue  # read_entries says so
        r.search_again()
        return r.search(GLUE13_BASE, glue13_filter(tag), GLUE13_ATTRS)
    return entries


def _add_pps_sites(r: BdiiReader, entries: list[Entry], cache: dict[tuple[str, str], str]) -> None:
    """Fetch ``GLUE2EntityOtherInfo`` (where our provider writes ``PPSSite=``) for the GLUE 2.0
    *entries* whose DN names no site (a resource BDII's), and add it to them.  *cache*: as
    :func:`_glue13`'s."""
    wanted: dict[str, Entry] = {}
    for e in entries:
        try:
            if dn_site(e.dn, "glue2domainid", cache):
                continue
            pairs = split_dn(e.dn)
        except BadInput:
            continue  # read_entries says so
        if pairs and pairs[0][0] == APP_ID.lower():
            wanted[e.dn.casefold()] = e
    ids = sorted({split_dn(e.dn)[0][1] for e in wanted.values()})
    for i in range(0, len(ids), _IDS_PER_SEARCH):
        found = r.search(
            GLUE2_BASE,
            ids_filter(APP_ENV_CLASS, APP_ID, ids[i : i + _IDS_PER_SEARCH]),
            (OTHER_INFO,),
        )
        for f in found:
            target = wanted.get(f.dn.casefold())
            if target is not None and f.get(OTHER_INFO):
                target.attrs[OTHER_INFO.lower()] = f.get(OTHER_INFO)
