from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from distributor.repository.tarball import build_tarball
from pps.errors import BadInput
from pps.manifest import MANIFEST_NAME, Manifest

MANIFEST = Manifest("glite-UI", "1.0", "bc-client", "revision")


def _tree(root):
    (root / "bin").mkdir(parents=True)
    (root / "bin/tool").write_text("#!/bin/sh\necho tool\n")
    (root / "bin/tool").chmod(0o700)
    (root / "etc").mkdir()
    (root / "etc/conf").write_text("x = 1\n")
    (root / "etc/link").symlink_to("conf")
    return root


def test_same_tree_gives_same_bytes_whatever_the_times_and_modes(tmp_path):
    a = _tree(tmp_path / "a")
    first = build_tarball(a, MANIFEST)
    os.utime(a / "etc/conf", (1, 1))
    (a / "etc/conf").chmod(0o600)
    second = build_tarball(a, MANIFEST)
    b = _tree(tmp_path / "b")
    third = build_tarball(b, MANIFEST)
    assert first.sha256 == second.sha256 == third.sha256
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()


def test_content_change_changes_the_checksum(tmp_path):
    a = _tree(tmp_path / "a")
    before = build_tarball(a, MANIFEST).sha256
    (a / "etc/conf").write_text("x = 2\n")
    assert build_tarball(a, MANIFEST).sha256 != before


def test_members_are_sorted_owned_by_root_with_normal_modes_and_the_manifest_first(tmp_path):
    built = build_tarball(_tree(tmp_path / "a"), MANIFEST)
    with tarfile.open(fileobj=io.BytesIO(built.data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == [MANIFEST_NAME, "bin", "bin/tool", "etc", "etc/conf", "etc/link"]
        modes = {m.name: m.mode for m in members}
        assert modes["bin/tool"] == 0o755 and modes["etc/conf"] == 0o644
        assert {(m.uid, m.gid, m.uname) for m in members} == {(0, 0, "root")}
        assert Manifest.from_json(tar.extractfile(MANIFEST_NAME).read()) == MANIFEST


def test_source_date_epoch_sets_member_times(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    built = build_tarball(_tree(tmp_path / "a"), MANIFEST)
    with tarfile.open(fileobj=io.BytesIO(built.data)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_symlink_out_of_the_tree_is_refused(tmp_path):
    a = _tree(tmp_path / "a")
    (a / "etc/evil").symlink_to("/etc/passwd")
    with pytest.raises(BadInput, match="symlink etc/evil -> /etc/passwd points outside"):
        build_tarball(a, MANIFEST)


def test_fifo_is_refused(tmp_path):
    a = _tree(tmp_path / "a")
    os.mkfifo(a / "pipe")
    with pytest.raises(BadInput, match="pipe is not a regular file"):
        build_tarball(a, MANIFEST)


def test_reserved_manifest_name_in_the_source_is_refused(tmp_path):
    a = _tree(tmp_path / "a")
    (a / MANIFEST_NAME).write_text("{}")
    with pytest.raises(BadInput, match="reserved"):
        build_tarball(a, MANIFEST)
