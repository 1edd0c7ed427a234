"""Bounded resources: a release, a header, a name or an inflated stream bigger than the site allows
is refused while it streams, with one line, and nothing is left behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import resource
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.probe_helpers import (
    add_release,
    file_member,
    files_under,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
    status_line,
)

TARBALL = "fake-client-1.0.0.tar.gz"


def _assert_refused(site, proc, message: str) -> None:
    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(f"PREVIEW_CLIENT CRITICAL - {message}"), status_line(proc)
    assert not site.install_dir().exists()
    assert files_under(site.preview_root / ".pps" / "tmp") == []
    assert files_under(site.preview_root / ".pps" / "cache") == []
    assert site.tags_text("dteam") is None


def _limited_probe(site, repository: Path, address_space: int) -> subprocess.CompletedProcess[str]:
    """The probe under an address-space limit: a run that needed more would die, not answer."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    argv = [sys.executable, "-m", "probes.check_preview_client", *probe_args(site, repository)]
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit, timeout=120)


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bomb = file_member("bin/big-header", b"x")[0]
    bomb.pax_headers = {"comment": "x" * 1_500_000}
    add_release(tmp_path / "repo", make_manifest(), extra=[(bomb, b"x")])
    site = make_site(tmp_path)

    proc = _limited_probe(site, tmp_path / "repo", 400 << 20)

    _assert_refused(
        site, proc, f"unsafe tarball {TARBALL}: a pax header of 1500017 bytes (at most 65536)"
    )


def test_a_member_name_longer_than_a_path_may_be_is_refused(tmp_path: Path) -> None:
    long = file_member("bin/" + "/".join(["d" * 200] * 25), b"x")
    add_release(tmp_path / "repo", make_manifest(), extra=[long])
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(site, proc, f"unsafe tarball {TARBALL}: a member name longer than 4096 bytes")


def test_a_name_component_longer_than_255_bytes_is_refused(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest(), extra=[file_member("x" * 300, b"x")])
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(site, proc, f"unsafe tarball {TARBALL}: member 'xxxxxxxx")
    assert "has a name component longer than 255 bytes" in status_line(proc)


def test_a_release_larger_than_the_site_allows_is_refused_before_any_byte_is_fetched(
    tmp_path: Path,
) -> None:
    release = add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(max_release_bytes=100)
    (tmp_path / "repo" / release.tarball).unlink()  # a fetch would fail differently

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(
        site,
        proc,
        f"fake-client 1.0.0 is {release.size} bytes; the site allows at most 100 "
        "(max_release_bytes); nothing installed |",
    )


def _zeros_release(repo: Path, size: int, declared_unpacked: int = 0) -> None:
    """A release with one file of *size* zero bytes (tiny once compressed)."""
    manifest = make_manifest([("runs", "true")], setup=None)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        body = manifest.to_json()
        info = tarfile.TarInfo(".pps-manifest.json")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
        info = tarfile.TarInfo("zeros")
        info.size = size
        tf.addfile(info, io.BytesIO(bytes(size)))
    add_release(repo, manifest, {})  # index + paths; the tarball is replaced below
    index = json.loads((repo / "index.json").read_text())
    entry = index["releases"][0]
    data = gzip.compress(raw.getvalue(), mtime=0)
    (repo / entry["tarball"]).write_bytes(data)
    entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    if declared_unpacked:
        entry["unpacked_size"] = declared_unpacked
    (repo / "index.json").write_text(json.dumps(index))


def test_a_tarball_unpacking_to_more_than_the_site_allows_is_refused_while_streaming(
    tmp_path: Path,
) -> None:
    _zeros_release(tmp_path / "repo", 64 << 20)
    site = make_site(tmp_path)
    site.write_site_file(max_unpacked_bytes=8 << 20)

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(site, proc, f"unsafe tarball {TARBALL}: unpacks to more than 8388608 bytes")


def test_a_tarball_unpacking_to_more_than_its_index_entry_says_is_refused(tmp_path: Path) -> None:
    _zeros_release(tmp_path / "repo", 4 << 20, declared_unpacked=1 << 20)
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(site, proc, f"unsafe tarball {TARBALL}: unpacks to more than 1048576 bytes")


def test_a_release_that_does_not_fit_on_the_disk_is_refused_before_it_is_fetched(
    tmp_path: Path,
) -> None:
    _zeros_release(tmp_path / "repo", 1024, declared_unpacked=1 << 50)
    site = make_site(tmp_path)
    site.write_site_file(max_unpacked_bytes=1 << 52)

    proc = run_probe(site, tmp_path / "repo")

    _assert_refused(site, proc, f"not enough free space in {site.preview_root / '.pps' / 'tmp'}:")
    assert "nothing fetched; nothing installed |" in status_line(proc)


@pytest.mark.parametrize("what", ["index", "tarball"])
def test_random_bytes_give_one_status_line(tmp_path: Path, what: str) -> None:
    release = add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    noise = bytes(range(256)) * 64
    if what == "index":
        (tmp_path / "repo" / "index.json").write_bytes(noise)
    else:
        index = json.loads((tmp_path / "repo" / "index.json").read_text())
        index["releases"][0].update(sha256=hashlib.sha256(noise).hexdigest(), size=len(noise))
        (tmp_path / "repo" / "index.json").write_text(json.dumps(index))
        (tmp_path / "repo" / release.tarball).write_bytes(noise)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.stdout.count("\n") == 1, proc.stdout
    assert proc.returncode in (2, 3)
    assert proc.stderr == ""


def test_a_10000_deep_index_gives_one_status_line(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "index.json").write_text("[" * 10_000 + "]" * 10_000)
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - {tmp_path / 'repo' / 'index.json'} is nested too deeply to "
        "be a pps record\n"
    )
