"""One bounded read from an LDAP server: a socket that counts what arrives before the client
library (ldap3) decodes any of it.

Both readers of a BDII go through it: the operator's (:mod:`distributor.infosys.bdii`) and the
site's publication check (:mod:`probes._bdii`).  Every receive is bounded by a deadline, by the
bytes of the whole read, and by the LDAP messages it frames (BER: a tag byte, then the length,
short or long form): the size one message's header announces (*max_message*, checked before its
body is read) and how many messages may begin (*max_messages*: ldap3 keeps a search's entries in
memory).  Past a bound the receive raises :class:`Overflow` (an ``OSError``, so the library
closes the connection as for any network error) and the socket says which bound it was.
"""

from __future__ import annotations

import socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: What a receive past the deadline (or a socket timeout) raises; both, as Python 3.9 has them
#: apart.
TIMEOUTS = (TimeoutError, socket.timeout)
#: BER length octets beyond this many mean a message longer than 4 GiB: no LDAP message is.
_MAX_LENGTH_OCTETS = 4


class Overflow(OSError):
    """More than a bound: an OSError, so ldap3 closes the connection as for any."""


class BoundedSocket:
    """*sock* with the read's bounds on every receive (see the module).

    After a receive raised, :attr:`exceeded` names the bound passed (``"bytes"``,
    ``"message"`` or ``"messages"``; :attr:`overflow` is then true, and :attr:`too_big` the
    size a too-large message announced) or :attr:`timed_out` is true.  ``recv`` is counted;
    everything else is passed on to *sock*."""

    def __init__(
        self,
        sock: socket.socket,
        deadline: float,
        max_bytes: int,
        max_message: int | None = None,
        *,
        max_messages: int | None = None,
        min_read: int = 0,
    ) -> None:
        self._sock = sock
        self._deadline = deadline
        self.max_bytes = max_bytes
        self.max_message = max_message
        self.max_messages = max_messages
        #: reads of at least this size (ldap3 joins the chunks of a message one by one)
        self._min_read = min_read
        self.received = 0
        self.messages = 0
        self.timed_out = False
        #: "bytes", "message" or "messages" once that bound was passed
        self.exceeded = ""
        #: The size a message's header announced, when it was more than max_message.
        self.too_big = 0
        self._head = b""  # the start of a message header split between receives
        self._left = 0  # bytes of the current message still to come

    @property
    def overflow(self) -> bool:
        """Whether a bound on bytes or messages (not the deadline) ended the read."""
        return bool(self.exceeded)

    def recv(self, size: int, *flags: int) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            raise socket.timeout("timed out")
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(max(size, self._min_read), *flags)
        except TIMEOUTS:
            self.timed_out = True
            raise
        self.received += len(data)
        if self.received > self.max_bytes:
            self._stop("bytes", f"more than {self.max_bytes} bytes")
        self._frame(data)
        return data

    def _stop(self, bound: str, text: str) -> None:
        self.exceeded = bound
        raise Overflow(text)

    def _frame(self, data: bytes) -> None:
        """Follow the BER framing of the messages in *data*, each header checked in full."""
        i, n = 0, len(data)
        while i < n:
            if self._left:
                step = min(self._left, n - i)
                self._left -= step
                i += step
                continue
            old = len(self._head)
            head = self._head + data[i : i + 2 + _MAX_LENGTH_OCTETS - old]
            if len(head) < 2:
                self._head = head
                return
            first = head[1]
            width = 2 if first < 0x80 else 2 + (first & 0x7F)
            if width > 2 + _MAX_LENGTH_OCTETS:
                self.too_big = 1 << 32
                self._stop("message", "a message longer than 4 GiB")
            if len(head) < width:
                self._head = head
                return
            length = first if first < 0x80 else int.from_bytes(head[2:width], "big")
            if self.max_message is not None and length > self.max_message:
                self.too_big = length
                self._stop("message", f"a message of {length} bytes")
            self.messages += 1
            if self.max_messages is not None and self.messages > self.max_messages:
                self._stop("messages", f"more than {self.max_messages} messages")
            i += width - old
            self._head = b""
            self._left = length

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
