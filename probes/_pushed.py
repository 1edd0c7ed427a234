"""The tarball of a push, streamed on standard input: asked for, resumed, unpacked as it arrives.

``pps push`` uploads a one-release repository (``index.json`` and its signature) into
``<preview_root>/.pps/incoming/<component>-<version>/`` and runs the probe there with
``--push-stream``.  The tarball is not uploaded first: when, and only when, the run needs it (not
for a version already installed from the same tarball), the probe asks for it and the bytes are
hashed, inflated and unpacked while they arrive (the installer's one pass, as over https), so a
push costs one transfer and one pass at the site.  A copy is kept beside the index as it arrives:
a stream cut half-way is resumed by the next push, and a push-only site's Nagios finds the whole
tarball there.

The exchange, on the program's own standard streams (stdout stays the Nagios output)::

    probe -> push, one line on stderr:  PPS-SEND <kept> <sha256 of the kept bytes>
    push -> probe, on stdin:            <start>, a newline, then the bytes from <start> on, EOF

``<kept>`` is how much of the tarball the site holds from an earlier push (a cut part, or all of
it).  The push answers ``<start> = <kept>`` only when its own first ``<kept>`` bytes hash the same
(a verified resume), else ``0``: the site's copy is dropped and everything comes again.  A stream
that ends early is "cannot tell" (UNKNOWN, nothing installed, the part kept for the next push);
the installer's size and sha256 checks judge what arrived, as for any source.  The copy is a
convenience: without room for it the stream is unpacked all the same.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from pps.repository import INDEX_NAME, SIGNATURE_NAME
from probes._fetch import CHUNK, DirectorySource, RepositoryUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_log = logging.getLogger("nagiosplugin." + __name__)

REQUEST = b"PPS-SEND"
#: Bytes kept free beyond the copy of a streamed tarball; below that no copy is kept.
COPY_MARGIN = 64 << 20
_MAX_ANSWER = 32


class PushedSource(DirectorySource):
    """The push's incoming directory; its tarball comes on *stdin_fd*, asked for on
    *request_fd*."""

    def __init__(
        self,
        location: str,
        deadline: float = float("inf"),
        *,
        stdin_fd: int = 0,
        request_fd: int = 2,
    ) -> None:
        super().__init__(location, deadline)
        self.stdin_fd = stdin_fd
        self.request_fd = request_fd
        self._asked = False

    def describe(self, relpath: str) -> str:
        if relpath in (INDEX_NAME, SIGNATURE_NAME):
            return super().describe(relpath)
        return f"the push's stream of {relpath}"

    def chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        if relpath in (INDEX_NAME, SIGNATURE_NAME):
            yield from super().chunks(relpath, limit)
            return
        if self._asked:
            raise RepositoryUnreachable(f"the push's stream of {relpath} was already read")
        self._asked = True
        final = Path(self.location, relpath)
        part = final.with_name(final.name + ".part")
        final.parent.mkdir(parents=True, exist_ok=True)
        for path in (final, part):
            if os.path.lexists(path) and not _is_file(path):
                from probes._safefs import UnsafePath

                raise UnsafePath(f"{path} is not a plain file: not touching it")
        if _is_file(final) and os.path.getsize(final) != limit:
            os.replace(final, part)  # not the whole tarball: what it holds is a part
        kept_path = final if _is_file(final) else part
        kept, digest = _kept(kept_path, limit)
        self._ask(kept, digest)
        start = self._answer(relpath, kept)
        if start == 0 and kept:
            _log.info("the push does not resume from %s: starting over", kept_path)
            _unlink(kept_path)
        elif start == limit and kept_path == final:
            _log.info("%s is complete already (the push checked its sha256)", final)
            yield from super().chunks(relpath, limit)
            return
        elif kept_path == final:
            os.replace(final, part)
        copy = _open_copy(part, resume=bool(start), need=limit - start)
        whole_copy = copy is not None
        total = 0
        try:
            if start:
                _log.info("resuming the push's stream at byte %d (%s)", start, part)
                for chunk in _read_prefix(part, start):
                    total += len(chunk)
                    yield chunk
            while total <= limit:
                chunk = os.read(self.stdin_fd, min(CHUNK, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if copy is not None:
                    copy = _write_copy(copy, chunk, part)
                    whole_copy = copy is not None
                yield chunk
        finally:
            if copy is not None:
                os.close(copy)
            if total > limit:  # the size check refuses it (and stops reading): no copy of it
                _unlink(part)
        if total < limit:
            if not whole_copy:
                _unlink(part)
            raise RepositoryUnreachable(
                f"the push's stream of {relpath} was cut after {total} of {limit} bytes; "
                "the next push resumes it"
            )
        if whole_copy and total == limit:
            os.replace(part, final)
        else:
            _unlink(part)

    def _ask(self, kept: int, digest: str) -> None:
        line = b"%s %d %s\n" % (REQUEST, kept, digest.encode())
        try:
            os.write(self.request_fd, line)
        except OSError as e:
            raise RepositoryUnreachable(f"cannot ask the push for the tarball: {e}") from None

    def _answer(self, relpath: str, kept: int) -> int:
        data = b""
        while not data.endswith(b"\n"):
            if len(data) > _MAX_ANSWER:
                raise RepositoryUnreachable(f"the push answered {data[:_MAX_ANSWER]!r}")
            byte = os.read(self.stdin_fd, 1)
            if not byte:
                raise RepositoryUnreachable(
                    f"the push did not send {relpath} (its stream ended before it began)"
                )
            data += byte
        text = data.strip()
        if not text.isdigit() or int(text) not in (0, kept):
            raise RepositoryUnreachable(f"the push answered {text[:_MAX_ANSWER]!r}")
        return int(text)


def _is_file(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _kept(path: Path, limit: int) -> tuple[int, str]:
    """How many bytes of the tarball *path* holds and their sha256; a copy that is not a plain
    file, or longer than the tarball, is dropped."""
    import hashlib

    digest = hashlib.sha256()
    if not _is_file(path):
        return 0, digest.hexdigest()
    if os.path.getsize(path) > limit:
        _log.info("dropping %s: longer than the tarball", path)
        os.unlink(path)
        return 0, digest.hexdigest()
    kept = 0
    for chunk in _read_prefix(path, limit):
        digest.update(chunk)
        kept += len(chunk)
    return kept, digest.hexdigest()


def _read_prefix(path: Path, size: int) -> Iterator[bytes]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        left = size
        while left > 0:
            chunk = os.read(fd, min(CHUNK << 2, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _open_copy(part: Path, *, resume: bool, need: int) -> int | None:
    """The part file to keep the stream in, or None when there is no room for a copy."""
    st = os.statvfs(part.parent)
    if st.f_bavail * st.f_frsize < need + COPY_MARGIN:
        _log.info("no room for a copy of the stream in %s: unpacking without one", part.parent)
        return None
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if resume else os.O_TRUNC)
    return os.open(part, flags, 0o600)


def _write_copy(fd: int, chunk: bytes, part: Path) -> int | None:
    try:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
        return fd
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        _log.info("%s: no space left for the copy; unpacking without it", part)
        os.close(fd)
        return None
