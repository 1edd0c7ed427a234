"""check_preview_client refuses tarballs that are not what the index says or not safe to unpack."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from tests.probe_helpers import (
    Site,
    add_release,
    file_member,
    files_under,
    make_manifest,
    make_site,
    run_probe,
    special_member,
    status_line,
)

TARBALL = "fake-client-1.0.0.tar.gz"


def assert_nothing_installed(tmp_path: Path, site: Site, before: list[str]) -> None:
    """No install, no tags, no leftovers, and nothing new outside the preview root."""
    assert not site.install_dir().exists()
    assert not site.info_dir.exists()
    assert files_under(site.preview_root / ".pps" / "tmp") == []
    assert files_under(site.preview_root / ".pps" / "cache") == []
    preview = site.preview_root.relative_to(tmp_path).as_posix()
    ancestors = {"site/opt", "site/opt/pps", preview}
    new = [p for p in files_under(tmp_path) if p not in before]
    assert [p for p in new if p not in ancestors and not p.startswith(preview + "/")] == []


def test_checksum_mismatch_is_critical_and_installs_nothing(tmp_path: Path) -> None:
    release = add_release(tmp_path / "repo", sha256="0" * 64)
    site = make_site(tmp_path)
    before = files_under(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2
    assert re.fullmatch(
        r"PREVIEW_CLIENT CRITICAL - checksum mismatch for fake-client 1\.0\.0: the index says "
        rf"sha256 0{{64}}, {re.escape(str(tmp_path / 'repo' / release.tarball))} has "
        r"[0-9a-f]{64}; nothing installed \| live=0;;;0 size=\d+B;;;0 time=[\d.]+s;;;0",
        status_line(proc),
    )
    assert_nothing_installed(tmp_path, site, before)


def test_size_mismatch_is_critical_and_installs_nothing(tmp_path: Path) -> None:
    release = add_release(tmp_path / "repo")
    path = tmp_path / "repo" / release.tarball
    path.write_bytes(path.read_bytes() + b"trailing garbage")
    site = make_site(tmp_path)
    before = files_under(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - size mismatch for fake-client 1.0.0: the index says "
        f"{release.size} bytes, {path} has more; nothing installed |"
    )
    assert_nothing_installed(tmp_path, site, before)


OUTSIDE = "/tmp/pps-test-must-not-exist"

HOSTILE = {
    "dot-dot": (
        [file_member("../evil", b"x")],
        "member '../evil' leaves the tree ('..')",
    ),
    "nested-dot-dot": (
        [file_member("bin/../../evil", b"x")],
        "member 'bin/../../evil' leaves the tree ('..')",
    ),
    "absolute": (
        [file_member(OUTSIDE, b"x")],
        f"member '{OUTSIDE}' is an absolute path",
    ),
    "symlink-to-etc": (
        [special_member("etc-link", tarfile.SYMTYPE, "/etc")],
        "symbolic link 'etc-link' points to '/etc', outside the tree",
    ),
    "symlink-up": (
        [special_member("bin/up", tarfile.SYMTYPE, "../..")],
        "symbolic link 'bin/up' points to '../..', outside the tree",
    ),
    "symlink-chain": (
        [
            special_member("here", tarfile.SYMTYPE, "."),
            special_member("there", tarfile.SYMTYPE, "here/.."),
        ],
        "symbolic link 'there' resolves outside the tree",
    ),
    "write-through-symlink": (
        [special_member("lib", tarfile.SYMTYPE, "bin"), file_member("lib/evil", b"x")],
        "member 'lib/evil' would be written through a symbolic link (lib)",
    ),
    "hard-link": (
        [special_member("passwd", tarfile.LNKTYPE, "/etc/passwd")],
        "member 'passwd' is a hard link",
    ),
    "device": (
        [special_member("dev/mem", tarfile.CHRTYPE)],
        "member 'dev/mem' is a device",
    ),
    "fifo": (
        [special_member("pipe", tarfile.FIFOTYPE)],
        "member 'pipe' is a FIFO",
    ),
    "setuid": (
        [file_member("bin/su", b"#!/bin/sh\n", 0o4755)],
        "member 'bin/su' has the setuid, setgid or sticky bit (mode 4755)",
    ),
    "duplicate": (
        [file_member("bin/fake-client", b"#!/bin/sh\necho replaced\n", 0o755)],
        "member 'bin/fake-client' appears twice",
    ),
    "reserved-name": (
        [file_member("pps-env.sh", b"export PATH=/evil\n")],
        "it holds pps-env.sh, a file the probe writes",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tarball_is_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    members, reason = HOSTILE[case]
    add_release(tmp_path / "repo", make_manifest(), extra=members)
    site = make_site(tmp_path)
    before = files_under(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - unsafe tarball {TARBALL}: {reason}; nothing installed |"
    )
    assert_nothing_installed(tmp_path, site, before)
    assert not Path(OUTSIDE).exists()
    assert not (tmp_path / "evil").exists()
    assert not (site.preview_root / "evil").exists()


def test_tarball_without_manifest_is_refused(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", None, {"bin/fake-client": b"#!/bin/sh\n"})
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT CRITICAL - the tarball of fake-client 1.0.0 has no .pps-manifest.json "
        "at its root; nothing installed |"
    )
    assert not site.install_dir().exists()


def test_tarball_whose_manifest_names_another_version_is_refused(tmp_path: Path) -> None:
    manifest = make_manifest(version="2.0")
    add_release(tmp_path / "repo", manifest, version="1.0.0")
    # add_release takes the version from the manifest; index the same tarball as 1.0.0 too
    site = make_site(tmp_path)
    repo = tmp_path / "repo"
    index = (repo / "index.json").read_text()
    (repo / "index.json").write_text(index.replace('"version": "2.0"', '"version": "1.0.0"'))

    proc = run_probe(site, repo)

    assert proc.returncode == 2
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT CRITICAL - the tarball of fake-client 1.0.0 holds a manifest for "
        "fake-client 2.0; nothing installed |"
    )
    assert not site.install_dir().exists()
