"""check_preview_client reading a repository over HTTP from a real web server."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from tests.probe_helpers import (
    add_release,
    files_under,
    make_site,
    run_probe,
    serve_directory,
    status_line,
)


def test_install_from_an_http_repository(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    with serve_directory(tmp_path / "repo") as url:
        proc = run_probe(site, url)
        again = run_probe(site, url.rstrip("/"))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed, "
        "tagged for dteam,ops |"
    )
    assert again.returncode == 0
    assert (site.install_dir() / "bin" / "fake-client").is_file()
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert files_under(site.preview_root / ".pps" / "cache") == []


def test_checksum_mismatch_over_http_leaves_no_partial_download(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", sha256="f" * 64)
    site = make_site(tmp_path)

    with serve_directory(tmp_path / "repo") as url:
        proc = run_probe(site, url)

    assert proc.returncode == 2
    assert re.match(
        r"PREVIEW_CLIENT CRITICAL - checksum mismatch for fake-client 1\.0\.0: the index says "
        rf"sha256 f{{64}}, {re.escape(url)}unverified/fake-client/1\.0\.0/"
        r"fake-client-1\.0\.0\.tar\.gz has [0-9a-f]{64}; nothing installed",
        status_line(proc),
    )
    assert files_under(site.preview_root / ".pps" / "cache") == []
    assert not site.install_dir().exists()


def test_missing_tarball_on_the_server_is_unknown(tmp_path: Path) -> None:
    release = add_release(tmp_path / "repo")
    (tmp_path / "repo" / release.tarball).unlink()
    site = make_site(tmp_path)

    with serve_directory(tmp_path / "repo") as url:
        proc = run_probe(site, url)

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read {url}{release.tarball}: HTTP 404 File not found\n"
    )


def test_server_that_is_down_is_unknown_and_changes_nothing(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    proc = run_probe(site, f"http://127.0.0.1:{port}/repo/")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - cannot read http://127.0.0.1:{port}/repo/index.json: "
        "[Errno 111] Connection refused\n"
    )
    assert not site.info_dir.exists()


def test_other_url_schemes_are_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path)

    proc = run_probe(site, "ftp://example.org/repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        "PREVIEW_CLIENT UNKNOWN - repository 'ftp://example.org/repo': only directories and "
        "http(s) URLs are supported\n"
    )
