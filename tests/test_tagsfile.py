"""probes._tagsfile: the CE's tags files, edited the way lcg-tags users expect, and safely.

The VO directories may belong to a VO's software manager: what is at a tags file's path may be
a link, a FIFO or another file's hard link, and the probe, running as root, must neither follow
nor publish it; every line it did not write stays byte for byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pps.errors import BadInput
from probes._safefs import UnsafePath
from probes._tagsfile import (
    add_tags,
    edit_tags,
    legacy_tags_file,
    parse_tags,
    read_tags,
    remove_tags,
    tags_file,
    tags_files_of,
)

SC = "ce01.example.org"
TAG = "VO-dteam-PPS-x-1"


def test_parse_ignores_comments_blank_lines_and_case_insensitive_duplicates() -> None:
    text = b"# site tags\n\nVO-dteam-A  vo-dteam-a\tPPS-PREVIEW # trailing comment\npps-preview B\n"

    assert parse_tags(text) == ["VO-dteam-A", "PPS-PREVIEW", "B"]


@pytest.mark.parametrize(
    "separator",
    [b"\x0b", b"\x0c", b"\x1c", b"\x85", "\u2028".encode(), "\u00a0".encode(), b"\r"],
    ids=["vertical-tab", "form-feed", "file-separator", "nel", "line-separator", "nbsp", "cr"],
)
def test_text_in_a_comment_never_becomes_a_tag(separator: bytes) -> None:
    data = b"FOREIGN # note" + separator + b"VO-dteam-PPS-evil-1\n"

    assert parse_tags(data) == ["FOREIGN"]


def test_only_ascii_space_and_tab_separate_tags() -> None:
    assert parse_tags(b"A\x0bB C\tD\n") == ["A\x0bB", "C", "D"]


def test_crlf_lines_are_read_without_their_carriage_return() -> None:
    assert parse_tags(b"A B\r\nC\r\n") == ["A", "B", "C"]


def test_edit_keeps_comments_foreign_tags_and_order() -> None:
    text = (
        b"# managed by lcg-tags\nFOREIGN-1 VO-dteam-PPS-x-1 FOREIGN-2\n\nVO-dteam-PPS-x-2 # old\n"
    )

    new = edit_tags(text, add=["vo-dteam-pps-X-2", "NEW"], remove=["vo-DTEAM-pps-x-1"])

    assert new == b"# managed by lcg-tags\nFOREIGN-1 FOREIGN-2\n\nVO-dteam-PPS-x-2 # old\nNEW\n"


def test_lines_pps_does_not_change_stay_byte_for_byte() -> None:
    foreign = (
        b"# caf\xe9 \xff\r\n"  # not UTF-8, CRLF
        b"  A\t\tB  \r\n"  # odd spacing
        b"a\n"  # a duplicate of A, in another spelling: not pps's business
        b"C\x0bD\x0c\n"  # odd whitespace inside a token
        b"last-line-without-newline"
    )
    data = (
        foreign[: -len(b"last-line-without-newline")]
        + TAG.encode()
        + b"\n"
        + (b"last-line-without-newline")
    )

    removed = edit_tags(data, remove=[TAG])
    added = edit_tags(foreign, add=[TAG])

    assert removed == foreign
    assert added == foreign + b"\n" + TAG.encode() + b"\n"


def test_a_withdrawn_tag_is_cut_from_a_shared_line_with_one_separator() -> None:
    data = b"FIRST\t" + TAG.encode() + b"  LAST # keep me\r\n" + TAG.lower().encode() + b" B\n"

    assert edit_tags(data, remove=[TAG]) == b"FIRST  LAST # keep me\r\nB\n"


def test_a_line_left_with_only_its_comment_keeps_the_comment() -> None:
    assert edit_tags(TAG.encode() + b" # added by hand\n", remove=[TAG]) == b"# added by hand\n"


def test_tags_added_to_a_crlf_file_use_crlf() -> None:
    assert edit_tags(b"A\r\nB\r\n", add=["C"]) == b"A\r\nB\r\nC\r\n"


def test_add_creates_the_file_in_the_subcluster_location(tmp_path: Path) -> None:
    changed = add_tags(tmp_path, SC, "dteam", [TAG, "PPS-PREVIEW"])

    assert changed is True
    path = tmp_path / SC / "dteam" / "dteam.list"
    assert path == tags_file(tmp_path, SC, "dteam")
    assert path.read_text() == f"{TAG}\nPPS-PREVIEW\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755


def test_adding_what_is_there_does_not_rewrite_the_file(tmp_path: Path) -> None:
    add_tags(tmp_path, SC, "dteam", [TAG])
    inode = tags_file(tmp_path, SC, "dteam").stat().st_ino

    changed = add_tags(tmp_path, SC, "dteam", [TAG.upper()])

    assert changed is False
    assert tags_file(tmp_path, SC, "dteam").stat().st_ino == inode


def test_a_rewrite_keeps_the_owner_group_and_mode(tmp_path: Path) -> None:
    path = tags_file(tmp_path, SC, "dteam")
    path.parent.mkdir(parents=True)
    path.write_text("FOREIGN\n")
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    before = path.stat()

    assert add_tags(tmp_path, SC, "dteam", [TAG]) is True

    after = path.stat()
    assert after.st_ino != before.st_ino  # replaced, atomically
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (
        before.st_uid,
        before.st_gid,
        0o640,
    )
    assert path.read_text() == f"FOREIGN\n{TAG}\n"


def test_removing_from_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    assert remove_tags(tmp_path, SC, "dteam", [TAG]) is False
    assert list(tmp_path.iterdir()) == []


def test_remove_withdraws_from_the_legacy_location_too(tmp_path: Path) -> None:
    legacy = legacy_tags_file(tmp_path, "dteam")
    legacy.parent.mkdir(parents=True)
    legacy.write_text(f"OLD-FOREIGN\n{TAG}\n")
    add_tags(tmp_path, SC, "dteam", [TAG, "PPS-PREVIEW"])

    changed = remove_tags(tmp_path, SC, "dteam", [TAG.upper()])

    assert changed is True
    assert legacy.read_text() == "OLD-FOREIGN\n"
    assert tags_file(tmp_path, SC, "dteam").read_text() == "PPS-PREVIEW\n"


def test_read_understands_the_legacy_location(tmp_path: Path) -> None:
    legacy = legacy_tags_file(tmp_path, "ops")
    legacy.parent.mkdir(parents=True)
    legacy.write_text("LEGACY-TAG\nPPS-PREVIEW\n")
    add_tags(tmp_path, SC, "ops", ["pps-preview", "NEW-TAG"])

    assert read_tags(tmp_path, SC, "ops") == ["pps-preview", "NEW-TAG", "LEGACY-TAG"]
    assert read_tags(tmp_path, SC, "dteam") == []


def test_tags_files_of_lists_current_then_legacy_locations(tmp_path: Path) -> None:
    add_tags(tmp_path, SC, "dteam", ["A"])
    add_tags(tmp_path, SC, "vo.neugrid.eu", ["B"])
    add_tags(tmp_path, "ce02.example.org", "ops", ["C"])  # another subcluster: not listed
    legacy = legacy_tags_file(tmp_path, "atlas")
    legacy.parent.mkdir(parents=True)
    legacy.write_text("D\n")
    (tmp_path / "notes").mkdir()  # a directory without a tags file
    (tmp_path / "README").write_text("a file beside the VO directories\n")

    found = [(vo, Path(p).relative_to(tmp_path).as_posix(), data)
             for vo, p, data in tags_files_of(tmp_path, SC)]  # fmt: skip

    assert found == [
        ("dteam", f"{SC}/dteam/dteam.list", b"A\n"),
        ("vo.neugrid.eu", f"{SC}/vo.neugrid.eu/vo.neugrid.eu.list", b"B\n"),
        ("atlas", "atlas/atlas.list", b"D\n"),
    ]
    assert tags_files_of(tmp_path / "missing", SC) == []


def test_vo_names_outside_the_grammar_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"VO name '\.\./etc' is not valid"):
        add_tags(tmp_path, SC, "../etc", ["X"])


# -- hostile things at the tags file's path


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash\n")
    secret.chmod(0o600)
    return secret


def test_a_symlinked_tags_file_is_never_read_or_written_through(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    info = tmp_path / "info"
    path = tags_file(info, SC, "dteam")
    path.parent.mkdir(parents=True)
    path.symlink_to(secret)

    for action in (
        lambda: add_tags(info, SC, "dteam", [TAG]),
        lambda: remove_tags(info, SC, "dteam", [TAG]),
        lambda: read_tags(info, SC, "dteam"),
    ):
        with pytest.raises(UnsafePath, match=rf"^{path} is a symbolic link"):
            action()

    assert secret.read_text() == "root:$6$hash\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert path.is_symlink()
    vo, where, data = tags_files_of(info, SC)[0]
    assert (vo, where, type(data)) == ("dteam", str(path), UnsafePath)


def test_a_symlinked_vo_directory_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    info = tmp_path / "info"
    (info / SC).mkdir(parents=True)
    (info / SC / "dteam").symlink_to(elsewhere)

    with pytest.raises(UnsafePath, match=r"dteam is a symbolic link: not following it"):
        add_tags(info, SC, "dteam", [TAG])

    assert list(elsewhere.iterdir()) == []


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tags_file(tmp_path, SC, "dteam")
    path.parent.mkdir(parents=True)
    os.mkfifo(path)

    with pytest.raises(UnsafePath, match=r"is a FIFO"):
        add_tags(tmp_path, SC, "dteam", [TAG])


def test_a_hard_link_to_another_file_is_refused(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    path = tags_file(tmp_path / "info", SC, "dteam")
    path.parent.mkdir(parents=True)
    os.link(secret, path)

    with pytest.raises(UnsafePath, match=r"has 2 hard links"):
        read_tags(tmp_path / "info", SC, "dteam")
    with pytest.raises(UnsafePath, match=r"has 2 hard links"):
        add_tags(tmp_path / "info", SC, "dteam", [TAG])
    assert secret.read_text() == "root:$6$hash\n"


def test_a_symlinked_lock_file_is_refused(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    path = tags_file(tmp_path / "info", SC, "dteam")
    path.parent.mkdir(parents=True)
    (path.parent / ".dteam.list.lock").symlink_to(secret)

    with pytest.raises(UnsafePath, match=r"lock file .*\.dteam\.list\.lock is a symbolic link"):
        add_tags(tmp_path / "info", SC, "dteam", [TAG])
    assert secret.read_text() == "root:$6$hash\n"


def test_a_huge_tags_file_is_refused(tmp_path: Path) -> None:
    path = tags_file(tmp_path, SC, "dteam")
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.truncate(64 << 20)  # sparse: costs no disk

    with pytest.raises(UnsafePath, match=r"is larger than \d+ bytes"):
        read_tags(tmp_path, SC, "dteam")
