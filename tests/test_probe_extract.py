"""probes._extract: unpacking without trusting the tarball, limits included."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from probes._extract import UnsafeArchive, extract_file
from tests.probe_helpers import file_member, files_under, special_member, write_tarball


def tarball(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    path = tmp_path / "t.tar.gz"
    write_tarball(path, None, {}, extra=members)
    (tmp_path / "out").mkdir()
    return path


def test_safe_tree_is_unpacked_with_modes_links_and_times(tmp_path: Path) -> None:
    path = tarball(
        tmp_path,
        special_member("bin", tarfile.DIRTYPE, mode=0o755),
        file_member("bin/tool", b"#!/bin/sh\n", 0o755),
        file_member("lib/libx.so.1", b"ELF"),
        special_member("lib/libx.so", tarfile.SYMTYPE, "libx.so.1"),
        special_member("share/tool", tarfile.SYMTYPE, "../bin/tool"),
        special_member("self", tarfile.SYMTYPE, "."),
    )

    unpacked = extract_file(path, tmp_path / "out")

    out = tmp_path / "out"
    assert unpacked == len(b"#!/bin/sh\n") + len(b"ELF")
    assert files_under(out) == [
        "bin",
        "bin/tool",
        "lib",
        "lib/libx.so",
        "lib/libx.so.1",
        "self",
        "share",
        "share/tool",
    ]
    assert (out / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (out / "lib" / "libx.so.1").stat().st_mode & 0o777 == 0o644
    assert (out / "lib" / "libx.so").read_bytes() == b"ELF"
    assert (out / "bin" / "tool").stat().st_mtime == 1_300_000_000


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    path = tarball(tmp_path, *(file_member(f"f{i}", b"") for i in range(5)))

    with pytest.raises(UnsafeArchive, match=r"^unsafe tarball t\.tar\.gz: more than 4 members$"):
        extract_file(path, tmp_path / "out", max_members=4)


def test_too_many_bytes_is_refused_before_they_are_written(tmp_path: Path) -> None:
    path = tarball(tmp_path, file_member("a", b"x" * 600), file_member("b", b"x" * 600))

    with pytest.raises(UnsafeArchive, match=r"unpacks to more than 1000 bytes$"):
        extract_file(path, tmp_path / "out", max_bytes=1000)
    assert files_under(tmp_path / "out") == ["a"]


def test_gzip_that_is_not_a_tarball_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.tar.gz"
    path.write_bytes(b"not gzip at all")
    (tmp_path / "out").mkdir()

    with pytest.raises(UnsafeArchive, match=r"^tarball t\.tar\.gz is not a valid gzip stream: "):
        extract_file(path, tmp_path / "out")


def test_file_clashing_with_a_directory_is_refused(tmp_path: Path) -> None:
    path = tarball(tmp_path, file_member("a", b"x"), special_member("a", tarfile.DIRTYPE))

    with pytest.raises(UnsafeArchive, match=r"member 'a' clashes with another member$"):
        extract_file(path, tmp_path / "out")


def test_setgid_directory_is_refused(tmp_path: Path) -> None:
    path = tarball(tmp_path, special_member("shared", tarfile.DIRTYPE, mode=0o2775))

    with pytest.raises(UnsafeArchive, match=r"member 'shared' has the setuid, setgid or sticky"):
        extract_file(path, tmp_path / "out")
