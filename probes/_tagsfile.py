"""The tags file on the CE: the RunTimeEnvironment tags a VO sees at a subcluster.

This is the file ``lcg-ManageVOTag`` / ``lcg-tags`` edit and the GIP reads:
``<info_dir>/<subcluster>/<vo>/<vo>.list`` (older sites: ``<info_dir>/<vo>/<vo>.list``).
Whitespace-separated tokens; blank lines and ``#`` comments are ignored; tags compare
case-insensitively (GLUE 1.3 RTE values are caseIgnoreIA5), so a duplicate in another spelling is
the same tag.  Edits keep everything else in the file (comments, foreign tags, their order), are
written atomically under a lock beside the file, and do not touch the file at all when nothing
changes, so the steady state costs one read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pps.fsutil import atomic_write, locked
from pps.names import check_vo

LIST_SUFFIX = ".list"


def tags_file(info_dir: str | os.PathLike[str], subcluster: str, vo: str) -> Path:
    """``<info_dir>/<subcluster>/<vo>/<vo>.list``: where the probe writes."""
    check_vo(vo)
    return Path(info_dir) / subcluster / vo / f"{vo}{LIST_SUFFIX}"


def legacy_tags_file(info_dir: str | os.PathLike[str], vo: str) -> Path:
    """``<info_dir>/<vo>/<vo>.list``: the location of older sites, read and withdrawn from."""
    check_vo(vo)
    return Path(info_dir) / vo / f"{vo}{LIST_SUFFIX}"


def parse_tags(text: str) -> list[str]:
    """The tags in a tags file's *text*, in order, first spelling of each kept."""
    seen: set[str] = set()
    tags = []
    for line in text.splitlines():
        for token in line.partition("#")[0].split():
            if token.casefold() not in seen:
                seen.add(token.casefold())
                tags.append(token)
    return tags


def edit_tags_text(text: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> str:
    """*text* with the tags in *remove* taken out and those in *add* appended (one a line).

    Comments, blank lines and other tags stay where they were; a later duplicate of a tag (in
    any spelling) is dropped; a line left without tokens or comment disappears.
    """
    drop = {t.casefold() for t in remove}
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        body, hash_, comment = line.partition("#")
        tokens = body.split()
        kept = []
        for token in tokens:
            key = token.casefold()
            if key not in drop and key not in seen:
                seen.add(key)
                kept.append(token)
        if kept == tokens:
            lines.append(line)
        elif kept or hash_:
            lines.append(" ".join(kept + ([hash_ + comment] if hash_ else [])))
    for tag in add:
        if tag.casefold() not in seen and tag.casefold() not in drop:
            seen.add(tag.casefold())
            lines.append(tag)
    return "".join(line + "\n" for line in lines)


def _read_text(path: Path) -> str:
    try:
        # surrogateescape: bytes that are not UTF-8 in foreign lines survive a rewrite
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return ""


def _edit_file(path: Path, add: Iterable[str], remove: Iterable[str]) -> bool:
    """Apply the edit to *path* under its lock; True if the file changed."""
    add, remove = list(add), list(remove)
    text = _read_text(path)
    if edit_tags_text(text, add, remove) == text:
        return False  # the steady state: no lock, no write
    with locked(path.parent / f".{path.name}.lock"):
        text = _read_text(path)  # again, under the lock: another writer may have been first
        new = edit_tags_text(text, add, remove)
        if new == text:
            return False
        atomic_write(path, new.encode("utf-8", errors="surrogateescape"))
        return True


def read_tags(info_dir: str | os.PathLike[str], subcluster: str, vo: str) -> list[str]:
    """Tags *vo* sees at *subcluster*: the current file, then the legacy one."""
    text = _read_text(tags_file(info_dir, subcluster, vo))
    text += "\n" + _read_text(legacy_tags_file(info_dir, vo))
    return parse_tags(text)


def add_tags(
    info_dir: str | os.PathLike[str], subcluster: str, vo: str, tags: Iterable[str]
) -> bool:
    """Make sure *tags* are in *vo*'s tags file at *subcluster*; True if the file changed."""
    return _edit_file(tags_file(info_dir, subcluster, vo), tags, ())


def remove_tags(
    info_dir: str | os.PathLike[str], subcluster: str, vo: str, tags: Iterable[str]
) -> bool:
    """Take *tags* out of *vo*'s tags files (current and legacy); True if a file changed."""
    tags = list(tags)
    changed = False
    for path in (tags_file(info_dir, subcluster, vo), legacy_tags_file(info_dir, vo)):
        if path.exists():
            changed = _edit_file(path, (), tags) or changed
    return changed


def tags_files_of(info_dir: str | os.PathLike[str], subcluster: str) -> list[tuple[str, Path]]:
    """``(vo, path)`` for every tags file of *subcluster*: current locations, then legacy ones.

    A missing info dir simply has none.
    """
    info = Path(info_dir)
    found = []
    for base in (info / subcluster, info):
        if not base.is_dir():
            continue
        for vo_dir in sorted(base.iterdir()):
            path = vo_dir / f"{vo_dir.name}{LIST_SUFFIX}"
            if vo_dir.name == subcluster and base == info:
                continue  # the subcluster's own directory is not a legacy VO directory
            if path.is_file():
                found.append((vo_dir.name, path))
    return found
