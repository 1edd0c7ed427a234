"""Reading the repository: its index and a release's tarball, from a directory or over http(s).

The repository is whatever ``--repository`` names: a directory (a mirror, or the incoming area a
push uploaded to) or an ``http://`` / ``https://`` URL of the same static layout.  ``requests`` is
imported only for URLs, so the steady state of a directory-fed probe never loads it.  A tarball
is streamed into the cache as ``*.part`` while its sha256 is computed; it becomes the cached file
only when size and checksum match the index, and a mismatch leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from pps.errors import BadInput, IntegrityError, PPSError
from pps.fsutil import fsync_dir
from pps.repository import INDEX_NAME, Index, Release

_log = logging.getLogger("nagiosplugin." + __name__)

CHUNK = 1 << 16
#: (connect, read) timeouts in seconds for every http(s) request.
HTTP_TIMEOUTS = (10.0, 60.0)
#: An index larger than this is refused (it is a few kB per hundred releases).
MAX_INDEX_BYTES = 32 << 20


class RepositoryUnreachable(PPSError):
    """The repository (or one file in it) could not be read; nothing was changed."""


def is_url(repository: str) -> bool:
    return repository.startswith(("http://", "https://"))


class Source:
    """A repository to read from: :func:`open_source` picks the kind."""

    def __init__(self, location: str) -> None:
        self.location = location

    def read_index(self) -> Index:
        """The repository's index (RepositoryUnreachable, or BadInput if it is corrupt)."""
        where = self.describe(INDEX_NAME)
        raw = b"".join(self._chunks(INDEX_NAME, MAX_INDEX_BYTES))
        if len(raw) > MAX_INDEX_BYTES:
            raise BadInput(f"{where} is larger than {MAX_INDEX_BYTES} bytes")
        return Index.from_json(raw, where)

    def describe(self, relpath: str) -> str:
        raise NotImplementedError

    def _chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        """The bytes of *relpath*; stops soon after more than *limit* came."""
        raise NotImplementedError

    def fetch(self, release: Release, cache_dir: Path) -> Path:
        """The verified tarball of *release* in *cache_dir*, fetched unless already cached.

        IntegrityError (size or checksum mismatch) leaves no file behind.
        """
        cache_dir.mkdir(parents=True, exist_ok=True)
        target = cache_dir / Path(release.tarball).name
        if target.is_file():
            if _matches(target, release):
                _log.info("using the cached %s", target)
                return target
            _log.info("cached %s does not match the index: fetching again", target)
            target.unlink()
        part = target.with_name(target.name + ".part")
        where = self.describe(release.tarball)
        _log.info("fetching %s", where)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(part, "wb") as out:
                # One byte over the announced size is enough to know it is wrong.
                for chunk in self._chunks(release.tarball, release.size + 1):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            _check(release, size, digest.hexdigest(), where)
            os.replace(part, target)
            fsync_dir(cache_dir)
        except BaseException:
            with suppress(FileNotFoundError):
                part.unlink()
            raise
        return target


def _check(release: Release, size: int, sha256: str, where: str) -> None:
    if size != release.size:
        raise IntegrityError(
            f"size mismatch for {release.key}: the index says {release.size} bytes, "
            f"{where} has {size if size <= release.size else 'more'}"
        )
    if sha256 != release.sha256:
        raise IntegrityError(
            f"checksum mismatch for {release.key}: the index says sha256 {release.sha256}, "
            f"{where} has {sha256}"
        )


def _matches(path: Path, release: Release) -> bool:
    if path.stat().st_size != release.size:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == release.sha256


class DirectorySource(Source):
    """A repository that is a directory on this machine."""

    def describe(self, relpath: str) -> str:
        return str(Path(self.location) / relpath)

    def _chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        path = Path(self.location) / relpath
        try:
            f: BinaryIO = open(path, "rb")
        except OSError as e:
            raise RepositoryUnreachable(f"cannot read {path}: {e.strerror or e}") from None
        with f:
            total = 0
            while total <= limit:
                chunk = f.read(CHUNK)
                if not chunk:
                    return
                total += len(chunk)
                yield chunk


class HttpSource(Source):
    """A repository served over http(s); requests is imported here and only here."""

    def __init__(self, location: str) -> None:
        super().__init__(location.rstrip("/") + "/")

    def describe(self, relpath: str) -> str:
        return self.location + quote(relpath)

    def _chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        import requests  # lazily: a directory-fed probe never pays for it

        url = self.describe(relpath)
        try:
            with requests.get(url, stream=True, timeout=HTTP_TIMEOUTS) as resp:
                if resp.status_code != 200:
                    raise RepositoryUnreachable(
                        f"cannot read {url}: HTTP {resp.status_code} {resp.reason}"
                    )
                total = 0
                for chunk in resp.iter_content(CHUNK):
                    total += len(chunk)
                    yield chunk
                    if total > limit:
                        return
        except requests.RequestException as e:
            raise RepositoryUnreachable(f"cannot read {url}: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    """The gist of a requests error, whose str() nests urllib3 errors and object reprs."""
    reason = getattr(e.args[0], "reason", None) if e.args else None  # urllib3 MaxRetryError
    text = str(reason or e) or type(e).__name__
    return text.rsplit(": ", 1)[-1]


def open_source(repository: str) -> Source:
    """The source for ``--repository`` (a directory path, or an http(s) URL)."""
    if is_url(repository):
        return HttpSource(repository)
    if "://" in repository:
        raise BadInput(
            f"repository {repository!r}: only directories and http(s) URLs are supported"
        )
    return DirectorySource(repository)


def discard(path: Path) -> None:
    """Remove a cached file (no error if it is gone)."""
    with suppress(FileNotFoundError):
        path.unlink()
