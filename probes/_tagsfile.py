"""The tags file on the CE: the RunTimeEnvironment tags a VO sees at a subcluster.

This is the file ``lcg-ManageVOTag`` / ``lcg-tags`` edit and the GIP reads:
``<info_dir>/<subcluster>/<vo>/<vo>.list`` (older sites: ``<info_dir>/<vo>/<vo>.list``).

Format, as pps reads it: lines end at ``\\n`` (a ``\\r`` before it belongs to the line end, so
CRLF files work); ``#`` starts a comment that runs to the end of the line; tags are separated by
ASCII spaces and tabs and by nothing else (a vertical tab, a form feed or a Unicode space is part
of a token, never a separator, so no text in a comment can turn into a tag).  Tags compare
case-insensitively (GLUE 1.3 RTE values are caseIgnoreIA5).

Edits work on bytes: every line pps does not change stays byte for byte (comments, foreign tags,
odd whitespace, CRLF, bytes that are not UTF-8, duplicates); a withdrawn tag is cut out of its
line with one separator; added tags go on lines of their own at the end.  The file is replaced
atomically under a lock beside it, keeping its owner, group and mode, and never through a
symbolic link: the VO directories may belong to a VO's software manager account, so every step
goes through :mod:`probes._safefs`.  When nothing changes the file is not touched, so the steady
state costs one read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from pps.names import check_subcluster, check_vo
from probes._safefs import (
    UnsafePath,
    locked_at,
    open_base,
    open_subdir,
    read_regular,
    replace_regular,
    walk_subdirs,
)

LIST_SUFFIX = ".list"
#: A tags file larger than this is not one (a few hundred tags are a few kB).
MAX_TAGS_FILE_BYTES = 4 << 20
_TOKEN = re.compile(rb"[^ \t]+")


def tags_file(info_dir: str | os.PathLike[str], subcluster: str, vo: str) -> Path:
    """``<info_dir>/<subcluster>/<vo>/<vo>.list``: where the probe writes."""
    return Path(info_dir, check_subcluster(subcluster), check_vo(vo), vo + LIST_SUFFIX)


def legacy_tags_file(info_dir: str | os.PathLike[str], vo: str) -> Path:
    """``<info_dir>/<vo>/<vo>.list``: the location of older sites, read and withdrawn from."""
    return Path(info_dir, check_vo(vo), vo + LIST_SUFFIX)


def _key(token: bytes) -> bytes:
    return token.lower()  # ASCII only: what caseIgnoreIA5 compares


def _split_line(line: bytes) -> tuple[bytes, bytes]:
    """*line* (without ``\\n``) as (part that holds tags, the rest: comment and ``\\r``)."""
    end = len(line) - 1 if line.endswith(b"\r") else len(line)
    hash_at = line.find(b"#", 0, end)
    cut = end if hash_at < 0 else hash_at
    return line[:cut], line[cut:]


def parse_tags(data: bytes) -> list[str]:
    """The tags in a tags file's *data*, in order, the first spelling of each kept."""
    seen: set[bytes] = set()
    tags = []
    for line in data.split(b"\n"):
        body, _ = _split_line(line)
        for token in _TOKEN.findall(body):
            if _key(token) not in seen:
                seen.add(_key(token))
                tags.append(token.decode("utf-8", "surrogateescape"))
    return tags


def _without(body: bytes, drop: set[bytes]) -> bytes:
    """*body* with the tokens in *drop* cut out, each with one separator run beside it."""
    spans = [m.span() for m in _TOKEN.finditer(body) if _key(m.group()) in drop]
    for start, end in reversed(spans):
        if start > 0:  # take the separator before the token
            sep = start
            while sep > 0 and body[sep - 1] in b" \t":
                sep -= 1
            body = body[:sep] + body[end:]
        else:  # first on its line: take the separator after it
            after = end
            while after < len(body) and body[after] in b" \t":
                after += 1
            body = body[after:]
    return body


def edit_tags(data: bytes, add: Iterable[str] = (), remove: Iterable[str] = ()) -> bytes:
    """*data* with the tags in *remove* cut out (every spelling) and those in *add* appended,
    one per line, unless already there in some spelling.  Lines without a removed tag are kept
    byte for byte; a line that loses its last tag and has no comment disappears."""
    drop = {t.encode("ascii").lower() for t in remove}
    lines = data.split(b"\n")
    last_terminated = len(lines) - 1  # the bytes after the final "\n" (often empty)
    out = []
    present: set[bytes] = set()
    for i, line in enumerate(lines):
        body, rest = _split_line(line)
        tokens = _TOKEN.findall(body)
        if drop and any(_key(t) in drop for t in tokens):
            body = _without(body, drop)
            if not _TOKEN.search(body) and not rest.lstrip(b"\r"):
                continue  # nothing left on the line: the line goes, its newline too
            line = body + rest
        present.update(_key(t) for t in _TOKEN.findall(body))
        out.append((line, i < last_terminated))
    text = b"".join(line + (b"\n" if nl else b"") for line, nl in out)
    new = []
    for tag in add:
        key = tag.encode("ascii").lower()
        if key not in present and key not in drop:
            present.add(key)
            new.append(tag.encode("ascii"))
    if new:
        eol = b"\r\n" if text.endswith(b"\r\n") else b"\n"
        if text and not text.endswith(b"\n"):
            text += eol
        text += b"".join(t + eol for t in new)
    return text


def _vo_dir(info_dir: str, parts: tuple[str, ...], create: bool) -> int | None:
    """A descriptor of ``info_dir/parts...`` walked without following links (None: missing)."""
    fd = open_base(info_dir, create=create) if create else _open_existing_base(info_dir)
    if fd is None:
        return None
    return walk_subdirs(fd, info_dir, parts, create=create)


def _open_existing_base(path: str) -> int | None:
    try:
        return open_base(path)
    except FileNotFoundError:
        return None


def _edit_file(
    info_dir: str, parts: tuple[str, ...], vo: str, add: list[str], remove: list[str]
) -> bool:
    """Apply the edit to ``info_dir/parts/<vo>.list`` under its lock; True if it changed."""
    where = os.path.join(info_dir, *parts, vo + LIST_SUFFIX)
    name = vo + LIST_SUFFIX
    fd = _vo_dir(info_dir, parts, create=bool(add))
    if fd is None:
        return False  # nothing to withdraw from
    try:
        found = read_regular(fd, name, where, MAX_TAGS_FILE_BYTES)
        data = found[0] if found else b""
        if edit_tags(data, add, remove) == data:
            return False  # the steady state: no lock, no write
        if found is None and not add:
            return False
        lock = f".{name}.lock"
        with locked_at(fd, lock, os.path.join(os.path.dirname(where), lock)):
            found = read_regular(fd, name, where, MAX_TAGS_FILE_BYTES)  # again, under the lock
            data, st = found if found else (b"", None)
            new = edit_tags(data, add, remove)
            if new == data:
                return False
            replace_regular(fd, name, new, where, like=st)
            return True
    finally:
        os.close(fd)


def read_tags(info_dir: str | os.PathLike[str], subcluster: str, vo: str) -> list[str]:
    """Tags *vo* sees at *subcluster*: the current file, then the legacy one."""
    data = b""
    for parts in ((check_subcluster(subcluster), check_vo(vo)), (vo,)):
        fd = _vo_dir(os.fspath(info_dir), parts, create=False)
        if fd is None:
            continue
        try:
            where = os.path.join(info_dir, *parts, vo + LIST_SUFFIX)
            found = read_regular(fd, vo + LIST_SUFFIX, where, MAX_TAGS_FILE_BYTES)
        finally:
            os.close(fd)
        if found:
            data += found[0] + b"\n"
    return parse_tags(data)


def add_tags(
    info_dir: str | os.PathLike[str], subcluster: str, vo: str, tags: Iterable[str]
) -> bool:
    """Make sure *tags* are in *vo*'s tags file at *subcluster*; True if the file changed."""
    parts = (check_subcluster(subcluster), check_vo(vo))
    return _edit_file(os.fspath(info_dir), parts, vo, list(tags), [])


def remove_tags(
    info_dir: str | os.PathLike[str], subcluster: str, vo: str, tags: Iterable[str]
) -> bool:
    """Take *tags* out of *vo*'s tags files (current and legacy); True if a file changed."""
    tags = list(tags)
    changed = False
    for parts in ((check_subcluster(subcluster), check_vo(vo)), (vo,)):
        changed = _edit_file(os.fspath(info_dir), parts, vo, [], tags) or changed
    return changed


def tags_files_of(
    info_dir: str | os.PathLike[str], subcluster: str
) -> list[tuple[str, str, bytes | UnsafePath]]:
    """``(vo, path, content)`` for every tags file of *subcluster*: current locations, then
    legacy ones.  A file that may not be read gives its UnsafePath instead of content; a
    missing info dir simply has none."""
    info = os.fspath(info_dir)
    found: list[tuple[str, str, bytes | UnsafePath]] = []
    for parts in ((check_subcluster(subcluster),), ()):
        base = _vo_dir(info, parts, create=False)
        if base is None:
            continue
        try:
            names = sorted(os.listdir(base))
            for vo in names:
                if vo.startswith(".") or (not parts and vo == subcluster):
                    continue  # the subcluster's own directory is not a legacy VO directory
                where = os.path.join(info, *parts, vo, vo + LIST_SUFFIX)
                try:
                    kind = os.stat(vo, dir_fd=base, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(kind):
                    link = os.path.dirname(where)
                    found.append((vo, where, UnsafePath(f"{link} is a symbolic link: not read")))
                    continue
                if not stat.S_ISDIR(kind):
                    continue  # a file beside the VO directories: not a tags directory
                sub = open_subdir(base, vo, os.path.dirname(where), create=False)
                if sub is None:
                    continue
                try:
                    got = read_regular(sub, vo + LIST_SUFFIX, where, MAX_TAGS_FILE_BYTES)
                except UnsafePath as e:
                    found.append((vo, where, e))
                    continue
                finally:
                    os.close(sub)
                if got is not None:
                    found.append((vo, where, got[0]))
        finally:
            os.close(base)
    return found
