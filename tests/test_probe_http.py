"""check_preview_client reading a repository from a real web server: https, and network faults.

Without a pinned key the probe reads only https (plain http is refused before any request).
Connection errors, timeouts, 5xx answers and a cut body are retried with backoff (0.5, 1, 2 s;
4 attempts), a cut download resumes with ``Range`` or starts again; 404 is final.  Whatever
happens on the way, a failed run leaves no partial download and changes nothing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from pps.repository import Release
from tests.http_helpers import Fault, Seen, free_port, serve
from tests.probe_helpers import (
    Site,
    add_release,
    environ_without,
    files_under,
    make_site,
    run_probe,
    status_line,
)

OK_LINE = re.compile(
    r"PREVIEW_CLIENT OK - fake-client 1\.0\.0 verified at ce01\.example\.org: 2/2 tests passed, "
    r"tagged for dteam,ops \| live=1;;;0 size=\d+B;;;0 tests_failed=0;;;0 tests_passed=2;;;0 "
    r"time=[\d.]+s;;;0"
)
TAG = "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"


def _assert_installed(site: Site) -> None:
    assert (site.install_dir() / "bin" / "fake-client").is_file()
    assert site.tags_text("dteam") == TAG
    assert files_under(site.preview_root / ".pps" / "cache") == []
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def _assert_nothing_installed(site: Site) -> None:
    assert not site.install_dir().exists()
    assert not site.info_dir.exists()  # no tags file was even created
    assert not (site.preview_root / ".pps" / "state" / "fake-client").exists()
    assert files_under(site.preview_root / ".pps" / "cache") == []
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def _a_release(tmp_path: Path) -> tuple[Release, Site]:
    return add_release(tmp_path / "repo"), make_site(tmp_path)


def test_install_over_https_is_verified_and_tagged_and_leaves_no_download_behind(
    tmp_path: Path,
) -> None:
    release, site = _a_release(tmp_path)

    with serve(tmp_path / "repo") as server:
        proc = run_probe(site, server.url, env=server.env())
        again = run_probe(site, server.url.rstrip("/"), env=server.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert again.returncode == 0, again.stdout + again.stderr
    assert OK_LINE.fullmatch(status_line(again))
    _assert_installed(site)
    assert server.requests == [
        Seen("index.json", None, 200),
        Seen(release.tarball, None, 200),
        Seen("index.json", None, 200),  # the second run only re-reads the index
    ]


def test_checksum_mismatch_over_https_leaves_no_partial_download(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", sha256="f" * 64)
    site = make_site(tmp_path)

    with serve(tmp_path / "repo") as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.fullmatch(
        r"PREVIEW_CLIENT CRITICAL - checksum mismatch for fake-client 1\.0\.0: the index says "
        rf"sha256 f{{64}}, {re.escape(server.url)}unverified/fake-client/1\.0\.0/"
        r"fake-client-1\.0\.0\.tar\.gz has [0-9a-f]{64}; nothing installed "
        r"\| live=0;;;0 size=\d+B;;;0 time=[\d.]+s;;;0",
        status_line(proc),
    )
    _assert_nothing_installed(site)


def test_a_tarball_the_server_says_is_missing_is_unknown_at_once(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", faults={release.tarball: Fault(status=404)}) as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read {server.url}{release.tarball}: HTTP 404 Not Found\n"
    )
    assert server.requests_for(release.tarball) == [Seen(release.tarball, None, 404)]  # final
    _assert_nothing_installed(site)


def test_http_500_twice_is_retried_with_backoff_and_the_third_answer_installs(
    tmp_path: Path,
) -> None:
    release, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", faults={release.tarball: Fault(status=500, times=2)}) as server:
        started = time.monotonic()
        proc = run_probe(site, server.url, env=server.env())
        elapsed = time.monotonic() - started

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert server.requests_for(release.tarball) == [
        Seen(release.tarball, None, 500),
        Seen(release.tarball, None, 500),
        Seen(release.tarball, None, 200),
    ]
    assert elapsed >= 1.5  # 0.5 s, then 1 s of backoff
    _assert_installed(site)


def test_http_500_on_every_attempt_is_unknown_after_four_attempts(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", faults={release.tarball: Fault(status=500)}) as server:
        started = time.monotonic()
        proc = run_probe(site, server.url, env=server.env())
        elapsed = time.monotonic() - started

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read {server.url}{release.tarball}: "
        "HTTP 500 Internal Server Error (after 4 attempts)\n"
    )
    assert len(server.requests_for(release.tarball)) == 4
    assert 3.5 <= elapsed < 15  # 0.5 + 1 + 2 s of backoff, then it gives up
    _assert_nothing_installed(site)


def test_a_server_that_never_answers_is_unknown_within_the_timeout(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", faults={release.tarball: Fault(hang=True)}) as server:
        started = time.monotonic()
        proc = run_probe(site, server.url, env=server.env(), timeout=8)
        elapsed = time.monotonic() - started

    assert proc.returncode == 3, proc.stdout + proc.stderr
    # The request's own time limit (what is left of --timeout) or the plugin's alarm, whichever
    # comes first: either way UNKNOWN, on time.
    assert proc.stdout in (
        f"PREVIEW_CLIENT UNKNOWN - cannot read {server.url}{release.tarball}: timed out\n",
        "PREVIEW_CLIENT UNKNOWN: Timeout: check execution aborted after 8s\n",
    )
    assert elapsed < 8 + 4
    assert server.requests_for(release.tarball) == [Seen(release.tarball, None, 0)]
    _assert_nothing_installed(site)


def test_a_truncated_body_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)
    half = release.size // 2

    with serve(tmp_path / "repo", faults={release.tarball: Fault(cut_after=half)}) as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert server.requests_for(release.tarball) == [
        Seen(release.tarball, None, 200),
        Seen(release.tarball, f"bytes={half}-", 206),
    ]
    _assert_installed(site)


def test_a_cut_download_from_a_server_that_ignores_range_starts_again(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)
    fault = Fault(cut_after=release.size // 2, ignore_range=True)

    with serve(tmp_path / "repo", faults={release.tarball: fault}) as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert server.requests_for(release.tarball) == [
        Seen(release.tarball, None, 200),
        Seen(release.tarball, f"bytes={release.size // 2}-", 200),  # the whole file again
    ]
    _assert_installed(site)


def test_a_connection_reset_in_the_middle_of_the_body_is_retried(tmp_path: Path) -> None:
    release, site = _a_release(tmp_path)
    fault = Fault(cut_after=release.size // 2, reset=True)

    with serve(tmp_path / "repo", faults={release.tarball: fault}) as server:
        proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OK_LINE.fullmatch(status_line(proc))
    assert len(server.requests_for(release.tarball)) == 2
    _assert_installed(site)


def test_plain_http_without_a_public_key_is_refused_before_any_request(tmp_path: Path) -> None:
    _, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", tls=False) as server:
        proc = run_probe(site, server.url)

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - repository '{server.url}': plain http is refused unless the "
        "site file pins the repository's public_key; use https\n"
    )
    assert server.requests == []
    _assert_nothing_installed(site)


def test_an_https_repository_redirecting_to_plain_http_is_refused(tmp_path: Path) -> None:
    _, site = _a_release(tmp_path)

    with serve(tmp_path / "repo", tls=False) as plain:
        redirect = Fault(redirect=plain.url + "index.json")
        with serve(tmp_path / "repo", faults={"index.json": redirect}) as server:
            proc = run_probe(site, server.url, env=server.env())

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read {server.url}index.json: HTTP 302 redirects to "
        f"'{plain.url}index.json': plain http is refused unless the site file pins the "
        "repository's public_key\n"
    )
    assert server.requests == [Seen("index.json", None, 302)]  # final: not retried
    assert plain.requests == []
    _assert_nothing_installed(site)


def test_a_server_with_an_untrusted_certificate_is_refused_at_once(tmp_path: Path) -> None:
    _, site = _a_release(tmp_path)

    with serve(tmp_path / "repo") as server:
        started = time.monotonic()
        proc = run_probe(site, server.url, env=environ_without("SSL_CERT_FILE", "SSL_CERT_DIR"))
        took = time.monotonic() - started

    assert proc.returncode == 3
    assert re.fullmatch(
        rf"PREVIEW_CLIENT UNKNOWN - cannot read {re.escape(server.url)}index\.json: "
        r"certificate verify failed: self[- ]signed certificate\n",
        proc.stdout,
    )
    assert took < 3  # not retried: asking again does not make a certificate trusted
    assert server.requests == []  # no request was sent over the unverified channel
    _assert_nothing_installed(site)


def test_a_server_that_is_down_is_unknown_and_changes_nothing(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    port = free_port()

    proc = run_probe(site, f"https://127.0.0.1:{port}/repo/")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read https://127.0.0.1:{port}/repo/index.json: "
        "[Errno 111] Connection refused (after 4 attempts)\n"
    )
    _assert_nothing_installed(site)


def test_other_url_schemes_are_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path)

    proc = run_probe(site, "ftp://example.org/repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        "PREVIEW_CLIENT UNKNOWN - --repository 'ftp://example.org/repo' must be an absolute "
        "directory or an http(s) URL\n"
    )
    assert not site.preview_root.exists()
