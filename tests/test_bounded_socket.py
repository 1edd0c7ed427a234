"""The one bounded-socket guard (pps.boundedsocket) both BDII readers read through: the
operator's reader and the site's publication check."""

from __future__ import annotations

import socket
import time

import pytest

from pps.boundedsocket import BoundedSocket, Overflow


def _guarded(
    feed: bytes, max_bytes: int, max_message: int | None = None, **bounds: int
) -> BoundedSocket:
    """A guard over one end of a socket pair whose other end sent *feed* and closed."""
    ours, theirs = socket.socketpair()
    theirs.sendall(feed)
    theirs.close()
    return BoundedSocket(ours, time.monotonic() + 10, max_bytes, max_message, **bounds)


def _drain(guard: BoundedSocket, piece: int = 7) -> int:
    got = 0
    try:
        while True:
            data = guard.recv(piece)  # small pieces: headers split across receives
            if not data:
                return got
            got += len(data)
    finally:
        guard.close()


def _message(body: int) -> bytes:
    length = body.to_bytes(2, "big")
    return b"\x30\x82" + length + b"x" * body


def test_the_socket_guard_lets_messages_under_both_bounds_through():
    feed = _message(300) * 10 + b"\x30\x05hello"
    assert _drain(_guarded(feed, max_bytes=10_000, max_message=300)) == len(feed)


def test_the_socket_guard_stops_a_message_too_big_at_its_header():
    guard = _guarded(_message(40) + _message(5000), max_bytes=100_000, max_message=4096)
    with pytest.raises(OSError, match="a message of 5000 bytes"):
        _drain(guard)
    assert guard.too_big == 5000 and guard.received < 100


def test_the_socket_guard_stops_the_read_at_its_byte_bound():
    guard = _guarded(_message(1000) * 50, max_bytes=20_000, max_message=4096)
    with pytest.raises(OSError, match="more than 20000 bytes"):
        _drain(guard)
    assert guard.overflow and guard.received <= 20_007


SHORT = b"\x30\x03abc"  # a message in the short length form
CASES = [
    # (feed, bounds, piece, the bound passed or "" , messages counted)
    (SHORT * 5, {"max_bytes": 100}, 7, "", 5),
    (SHORT * 5, {"max_bytes": 100}, 1, "", 5),
    (SHORT * 5, {"max_bytes": 100, "max_messages": 5}, 3, "", 5),
    (SHORT * 6, {"max_bytes": 100, "max_messages": 5}, 3, "messages", 6),
    (SHORT * 6, {"max_bytes": 24}, 7, "bytes", None),
    (
        b"\x30\x83" + (70_000).to_bytes(3, "big"),
        {"max_bytes": 100, "max_message": 65_535},
        7,
        "message",
        0,
    ),
    (b"\x30\x85\x01\x00\x00\x00\x00", {"max_bytes": 100}, 7, "message", 0),  # > 4 GiB
    (b"\x30\x84\x00\x00\x00\x03abc" * 2, {"max_bytes": 100}, 2, "", 2),  # long form, 4 octets
]


@pytest.mark.parametrize(("feed", "bounds", "piece", "exceeded", "messages"), CASES)
def test_the_guard_frames_messages_and_names_the_bound_it_stopped_at(
    feed: bytes, bounds: dict[str, int], piece: int, exceeded: str, messages: int | None
) -> None:
    guard = _guarded(feed, **bounds)
    if exceeded:
        with pytest.raises(Overflow):
            _drain(guard, piece)
    else:
        assert _drain(guard, piece) == len(feed)
    assert guard.exceeded == exceeded
    assert guard.overflow is bool(exceeded) and not guard.timed_out
    if messages is not None:
        assert guard.messages == messages


def test_a_receive_past_the_deadline_times_out_and_says_so() -> None:
    ours, theirs = socket.socketpair()
    guard = BoundedSocket(ours, time.monotonic() + 0.2, 100)
    started = time.monotonic()
    try:
        with pytest.raises(socket.timeout):
            guard.recv(10)  # the peer sends nothing
    finally:
        ours.close()
        theirs.close()
    assert guard.timed_out and not guard.overflow
    assert time.monotonic() - started < 5
    with pytest.raises(socket.timeout):
        guard.recv(10)  # the deadline has passed: no wait at all


def test_small_reads_are_made_at_least_min_read_long() -> None:
    feed = SHORT * 100
    guard = _guarded(feed, max_bytes=10_000, min_read=1 << 16)
    try:
        first = guard.recv(1)
    finally:
        guard.close()
    assert len(first) > 1
