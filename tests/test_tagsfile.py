"""probes._tagsfile: the CE's tags files, edited the way lcg-tags users expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from pps.errors import BadInput
from probes._tagsfile import (
    add_tags,
    edit_tags_text,
    legacy_tags_file,
    parse_tags,
    read_tags,
    remove_tags,
    tags_file,
    tags_files_of,
)

SC = "ce01.example.org"


def test_parse_ignores_comments_blank_lines_and_case_insensitive_duplicates() -> None:
    text = "# site tags\n\nVO-dteam-A  vo-dteam-a\tPPS-PREVIEW # trailing comment\npps-preview B\n"

    assert parse_tags(text) == ["VO-dteam-A", "PPS-PREVIEW", "B"]


def test_edit_keeps_comments_foreign_tags_and_order() -> None:
    text = "# managed by lcg-tags\nFOREIGN-1 VO-dteam-PPS-x-1 FOREIGN-2\n\nVO-dteam-PPS-x-2 # old\n"

    new = edit_tags_text(text, add=["vo-dteam-pps-X-2", "NEW"], remove=["vo-DTEAM-pps-x-1"])

    assert new == "# managed by lcg-tags\nFOREIGN-1 FOREIGN-2\n\nVO-dteam-PPS-x-2 # old\nNEW\n"


def test_edit_drops_later_duplicates_and_emptied_lines() -> None:
    assert edit_tags_text("A\na\nB\n", remove=["B"]) == "A\n"


def test_add_creates_the_file_in_the_subcluster_location(tmp_path: Path) -> None:
    changed = add_tags(tmp_path, SC, "dteam", ["VO-dteam-PPS-x-1", "PPS-PREVIEW"])

    assert changed is True
    path = tmp_path / SC / "dteam" / "dteam.list"
    assert path == tags_file(tmp_path, SC, "dteam")
    assert path.read_text() == "VO-dteam-PPS-x-1\nPPS-PREVIEW\n"


def test_adding_what_is_there_does_not_rewrite_the_file(tmp_path: Path) -> None:
    add_tags(tmp_path, SC, "dteam", ["VO-dteam-PPS-x-1"])
    inode = tags_file(tmp_path, SC, "dteam").stat().st_ino

    changed = add_tags(tmp_path, SC, "dteam", ["vo-dteam-pps-X-1"])

    assert changed is False
    assert tags_file(tmp_path, SC, "dteam").stat().st_ino == inode


def test_removing_from_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    assert remove_tags(tmp_path, SC, "dteam", ["VO-dteam-PPS-x-1"]) is False
    assert list(tmp_path.iterdir()) == []


def test_remove_withdraws_from_the_legacy_location_too(tmp_path: Path) -> None:
    legacy = legacy_tags_file(tmp_path, "dteam")
    legacy.parent.mkdir(parents=True)
    legacy.write_text("OLD-FOREIGN\nVO-dteam-PPS-x-1\n")
    add_tags(tmp_path, SC, "dteam", ["VO-dteam-PPS-x-1", "PPS-PREVIEW"])

    changed = remove_tags(tmp_path, SC, "dteam", ["VO-DTEAM-PPS-X-1"])

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


def test_non_utf8_bytes_in_foreign_lines_survive_an_edit(tmp_path: Path) -> None:
    path = tags_file(tmp_path, SC, "dteam")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"# caf\xe9\nFOREIGN\n")

    add_tags(tmp_path, SC, "dteam", ["PPS-PREVIEW"])

    assert path.read_bytes() == b"# caf\xe9\nFOREIGN\nPPS-PREVIEW\n"


def test_tags_files_of_lists_current_then_legacy_locations(tmp_path: Path) -> None:
    add_tags(tmp_path, SC, "dteam", ["A"])
    add_tags(tmp_path, SC, "vo.neugrid.eu", ["B"])
    add_tags(tmp_path, "ce02.example.org", "ops", ["C"])  # another subcluster: not listed
    legacy = legacy_tags_file(tmp_path, "atlas")
    legacy.parent.mkdir(parents=True)
    legacy.write_text("D\n")
    (tmp_path / "notes").mkdir()  # a directory without a tags file

    found = [(vo, p.relative_to(tmp_path).as_posix()) for vo, p in tags_files_of(tmp_path, SC)]

    assert found == [
        ("dteam", f"{SC}/dteam/dteam.list"),
        ("vo.neugrid.eu", f"{SC}/vo.neugrid.eu/vo.neugrid.eu.list"),
        ("atlas", "atlas/atlas.list"),
    ]
    assert tags_files_of(tmp_path / "missing", SC) == []


def test_vo_names_outside_the_grammar_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"VO name '\.\./etc' is not valid"):
        add_tags(tmp_path, SC, "../etc", ["X"])
