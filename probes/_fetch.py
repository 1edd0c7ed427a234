"""Reading the repository: its index, the index's signature and a release's tarball.

The repository is whatever ``--repository`` (or the site file's ``repository``) names: a
directory (a mirror, or the incoming area a push uploaded to) or an ``https://`` URL of the same
static layout.  Plain ``http://`` is accepted only from a site that pins the repository's signing
key: then the signature, not the channel, vouches for the index, and the index's sha256 for the
tarball.

HTTP goes through the standard library (:mod:`urllib.request`), not ``requests``: the one-file
probe then needs nothing installed, and TLS uses the system's CA store (``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` select another, e.g. the grid CAs).  Every request has a time limit taken from
what is left of the run's budget; connection errors, timeouts, 5xx answers and a body cut short
are retried a few times with backoff, and a cut download resumes where it stopped (``Range``) or,
when the server cannot, starts again and skips what was already read.  404 and other 4xx answers
are final.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from pps.errors import BadInput, PPSError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_log = logging.getLogger("nagiosplugin." + __name__)

CHUNK = 256 << 10
#: Seconds one http(s) request may take at most (connect, or silence while reading).
HTTP_TIMEOUT = 30.0
#: Attempts per file, and the pause before each retry.
ATTEMPTS = 4
BACKOFF = (0.5, 1.0, 2.0)
#: Files that are small by nature: refused beyond these sizes.
MAX_INDEX_BYTES = 32 << 20
MAX_SIGNATURE_BYTES = 4096


class RepositoryUnreachable(PPSError):
    """The repository (or one file in it) could not be read; nothing was changed."""


class FileMissing(RepositoryUnreachable):
    """The repository answered that the file does not exist."""


def is_url(repository: str) -> bool:
    return repository.startswith(("http://", "https://"))


class Source:
    """A repository to read from: :func:`open_source` picks the kind."""

    def __init__(self, location: str, deadline: float = float("inf")) -> None:
        self.location = location
        #: ``time.monotonic()`` by which every read must be over.
        self.deadline = deadline

    def describe(self, relpath: str) -> str:
        raise NotImplementedError

    def chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        """The bytes of *relpath*, in chunks; stops soon after more than *limit* came."""
        raise NotImplementedError

    def read_small(self, relpath: str, limit: int) -> bytes:
        """The whole of *relpath*; BadInput if it is larger than *limit*."""
        data = b"".join(self.chunks(relpath, limit))
        if len(data) > limit:
            raise BadInput(f"{self.describe(relpath)} is larger than {limit} bytes")
        return data


class DirectorySource(Source):
    """A repository that is a directory on this machine."""

    def describe(self, relpath: str) -> str:
        return os.path.join(self.location, relpath)

    def chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        path = self.describe(relpath)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise FileMissing(f"cannot read {path}: No such file or directory") from None
        except PermissionError:
            from probes._denied import read_line

            raise RepositoryUnreachable(
                read_line(os.path.abspath(path), "the repository file")
            ) from None
        except OSError as e:
            raise RepositoryUnreachable(f"cannot read {path}: {e.strerror or e}") from None
        with f:
            total = 0
            while total <= limit:
                chunk = f.read(min(CHUNK, limit + 1 - total))
                if not chunk:
                    return
                total += len(chunk)
                yield chunk


class HttpSource(Source):
    """A repository served over http(s), read with the standard library.

    A redirect is followed only to an ``https://`` URL, or to ``http://`` when *allow_http*
    (the site pins the repository's key): an https repository cannot hand the probe over to
    plain http (nor to ftp, which urllib would follow by itself).
    """

    def __init__(
        self, location: str, deadline: float = float("inf"), *, allow_http: bool = False
    ) -> None:
        super().__init__(location.rstrip("/") + "/", deadline)
        self.allow_http = allow_http
        self._opener: Any = None

    def _open(self, request: Any, timeout: float) -> Any:
        if self._opener is None:
            self._opener = _opener(self.allow_http)
        return self._opener.open(request, timeout=timeout)

    def describe(self, relpath: str) -> str:
        from urllib.parse import quote  # only for URLs: the steady state of a directory skips it

        return self.location + quote(relpath)

    def _timeout(self, url: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise RepositoryUnreachable(f"cannot read {url}: out of time")
        return min(HTTP_TIMEOUT, left)

    def _pause(self, attempt: int, url: str, why: str) -> None:
        if attempt >= ATTEMPTS:
            raise RepositoryUnreachable(f"cannot read {url}: {why} (after {attempt} attempts)")
        pause = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
        if time.monotonic() + pause >= self.deadline:
            raise RepositoryUnreachable(f"cannot read {url}: {why}")
        _log.info("%s: %s; retrying in %gs", url, why, pause)
        time.sleep(pause)

    def chunks(self, relpath: str, limit: int) -> Iterator[bytes]:
        import http.client
        import urllib.error
        import urllib.request

        url = self.describe(relpath)
        got = 0  # bytes already handed out
        attempt = 0
        while True:
            attempt += 1
            headers = {"User-Agent": "pps-check_preview_client"}
            if got:
                headers["Range"] = f"bytes={got}-"
            request = urllib.request.Request(url, headers=headers)
            try:
                resp: Any = self._open(request, self._timeout(url))
            except urllib.error.HTTPError as e:
                e.close()
                if e.code == 416 and got:
                    return  # nothing beyond what we have: the size check decides
                why = f"HTTP {e.code} {e.reason}"
                if e.code == 404:
                    raise FileMissing(f"cannot read {url}: {why}") from None
                if e.code < 500 and e.code not in (408, 429):
                    raise RepositoryUnreachable(f"cannot read {url}: {why}") from None
                self._pause(attempt, url, why)
                continue
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                if getattr(getattr(e, "reason", e), "verify_message", None):
                    # an untrusted certificate does not get better by asking again
                    raise RepositoryUnreachable(f"cannot read {url}: {_reason(e)}") from None
                self._pause(attempt, url, _reason(e))
                continue
            with resp:
                skip = 0
                if got and resp.status != 206:
                    skip = got  # the server ignored Range: read it all again, skip what we have
                    _log.info("%s: no resume; restarting and skipping %d bytes", url, got)
                elif got and not resp.headers.get("Content-Range", "").startswith(f"bytes {got}-"):
                    self._pause(attempt, url, "a resumed download came back misaligned")
                    continue
                try:
                    while got <= limit:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            if resp.length:  # Content-Length promised more
                                raise ConnectionError(f"the body ended {resp.length} bytes early")
                            return
                        if skip:
                            drop = min(skip, len(chunk))
                            skip -= drop
                            chunk = chunk[drop:]
                            if not chunk:
                                continue
                        got += len(chunk)
                        attempt = 0  # progress: the next cut gets fresh attempts
                        yield chunk
                    return
                except (OSError, http.client.HTTPException) as e:
                    why = _reason(e)
            self._pause(max(attempt, 1), url, f"the download was cut ({why})")


def _opener(allow_http: bool) -> Any:
    """A urllib opener whose redirects stay on https (or http too, when *allow_http*)."""
    import urllib.request

    schemes = ("https", "http") if allow_http else ("https",)

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> Any:
            scheme = newurl.split(":", 1)[0].lower()
            if scheme not in schemes:
                fp.close()
                why = "only http(s) is supported"
                if scheme == "http":
                    why = (
                        "plain http is refused unless the site file pins the "
                        "repository's public_key"
                    )
                raise RepositoryUnreachable(
                    f"cannot read {req.full_url}: HTTP {code} redirects to {newurl!r}: {why}"
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(Redirects)


def _reason(e: BaseException) -> str:
    """The gist of a urllib / socket error."""
    verify_message = getattr(e, "verify_message", None)
    if verify_message:  # ssl.SSLCertVerificationError: its reason alone is a bare code
        return f"certificate verify failed: {verify_message}"
    reason = getattr(e, "reason", None)
    if reason is not None and not isinstance(reason, str):
        return _reason(reason)
    if isinstance(e, TimeoutError) or type(e).__name__ == "timeout":
        return "timed out"
    text = str(reason or e) or type(e).__name__
    return text


def open_source(repository: str, *, signed: bool, deadline: float = float("inf")) -> Source:
    """The source for *repository* (a directory path, or an http(s) URL).

    Plain http is refused unless *signed* (the site pins the repository's key).  A location
    must be printable text (a URL printable ASCII without spaces): a NUL, a newline or an
    escape in it is refused here, before any file or URL is made of it.
    """
    if not repository.isprintable() or (
        is_url(repository) and not all("!" <= c <= "~" for c in repository)
    ):
        raise BadInput(
            f"repository {repository!r} holds a control character"
            + (" or a space (a URL is printable ASCII)" if is_url(repository) else "")
        )
    if repository.startswith("https://"):
        return HttpSource(repository, deadline, allow_http=signed)
    if repository.startswith("http://"):
        if not signed:
            raise BadInput(
                f"repository {repository!r}: plain http is refused unless the site file pins the "
                "repository's public_key; use https"
            )
        return HttpSource(repository, deadline, allow_http=True)
    if "://" in repository:
        raise BadInput(
            f"repository {repository!r}: only directories and http(s) URLs are supported"
        )
    return DirectorySource(repository, deadline)


def discard(path: Path) -> None:
    """Remove a cached file (no error if it is gone)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
