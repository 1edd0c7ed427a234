"""Unpacking a verified tarball without trusting it.

The checksum says the tarball is the one the repository announced, not that it is harmless, so
every member is checked before anything is written and extraction is done by hand (tarfile's
``filter=`` is missing on older Python 3.9).  Refused, with the member named: absolute paths and
``..``; hard links; devices, fifos and other special members; setuid, setgid and sticky bits;
symbolic links that are absolute or resolve outside the tree; writing through a symbolic link;
duplicate members; more members or more bytes than the limits.  Files are created with
``O_EXCL | O_NOFOLLOW``, so nothing outside the target directory is ever opened for writing.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

from pps.errors import IntegrityError

#: Limits against archive bombs; a grid client tree is far below both.
MAX_MEMBERS = 200_000
MAX_TOTAL_BYTES = 8 << 30
_CHUNK = 1 << 16


class UnsafeArchive(IntegrityError):
    """The tarball holds something a site must not unpack."""


def _relative_parts(name: str, archive: str) -> tuple[str, ...]:
    path = PurePosixPath(name)
    if name.startswith("/") or path.is_absolute():
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} is an absolute path")
    parts = tuple(p for p in path.parts if p != ".")
    if ".." in parts:
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} leaves the tree ('..')")
    if any("\0" in p for p in parts):
        raise UnsafeArchive(f"unsafe tarball {archive}: member {name!r} has a NUL byte")
    return parts


def _check_link_target(parts: tuple[str, ...], target: str, name: str, archive: str) -> None:
    """A symbolic link's target must stay in the tree, counted from the link's directory."""
    if not target or target.startswith("/"):
        raise UnsafeArchive(
            f"unsafe tarball {archive}: symbolic link {name!r} points to {target!r}, "
            "outside the tree"
        )
    depth = len(parts) - 1
    for p in PurePosixPath(target).parts:
        if p == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchive(
                    f"unsafe tarball {archive}: symbolic link {name!r} points to {target!r}, "
                    "outside the tree"
                )
        elif p != ".":
            depth += 1


def _parent_dir(root: Path, parts: tuple[str, ...], name: str, archive: str) -> Path:
    """The member's parent directory under *root*, created as needed, never through a link."""
    current = root
    for i, p in enumerate(parts[:-1], 1):
        current = current / p
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
            continue
        if not stat.S_ISDIR(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a file"
            raise UnsafeArchive(
                f"unsafe tarball {archive}: member {name!r} would be written through "
                f"{what} ({'/'.join(parts[:i])})"
            )
    return current


def _kind(m: tarfile.TarInfo) -> str:
    if m.ischr() or m.isblk():
        return "a device"
    if m.isfifo():
        return "a fifo"
    if m.islnk():
        return "a hard link"
    return f"an unsupported member type ({m.type!r})"


def extract_safely(
    tarball: Path,
    dest: Path,
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_TOTAL_BYTES,
) -> int:
    """Unpack *tarball* into the existing empty directory *dest*; the unpacked byte count.

    UnsafeArchive names the first offending member; *dest* may then hold a partial tree, which
    the caller throws away.
    """
    archive = tarball.name
    total = 0
    count = 0
    seen: set[tuple[str, ...]] = set()
    dir_modes: list[tuple[Path, int]] = []
    links: list[Path] = []
    try:
        tf = tarfile.open(tarball, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UnsafeArchive(f"tarball {archive} cannot be read: {e}") from None
    with tf:
        try:
            for m in tf:
                count += 1
                if count > max_members:
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: more than {max_members} members"
                    )
                parts = _relative_parts(m.name, archive)
                if not parts:
                    continue  # the root itself ("." or "./")
                if m.mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: member {m.name!r} has the setuid, setgid "
                        f"or sticky bit (mode {m.mode:04o})"
                    )
                if parts in seen and not m.isdir():
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: member {m.name!r} appears twice"
                    )
                seen.add(parts)
                parent = _parent_dir(dest, parts, m.name, archive)
                target = parent / parts[-1]
                if m.isdir():
                    if not os.path.lexists(target):
                        os.mkdir(target, 0o700)
                    elif not target.is_dir() or target.is_symlink():
                        raise UnsafeArchive(
                            f"unsafe tarball {archive}: directory {m.name!r} clashes with "
                            "another member"
                        )
                    dir_modes.append((target, (m.mode & 0o777) | 0o700))
                elif m.issym():
                    _check_link_target(parts, m.linkname, m.name, archive)
                    os.symlink(m.linkname, target)
                    links.append(target)
                elif m.isreg():
                    total += m.size
                    if total > max_bytes:
                        raise UnsafeArchive(
                            f"unsafe tarball {archive}: unpacks to more than {max_bytes} bytes"
                        )
                    _write_file(tf, m, target)
                else:
                    raise UnsafeArchive(
                        f"unsafe tarball {archive}: member {m.name!r} is {_kind(m)}"
                    )
        except (tarfile.TarError, EOFError, OSError) as e:
            if isinstance(e, FileExistsError):
                raise UnsafeArchive(
                    f"unsafe tarball {archive}: member {e.filename!r} clashes with another member"
                ) from None
            raise UnsafeArchive(f"tarball {archive} is damaged: {e}") from None
    real_root = os.path.realpath(dest)
    for link in links:
        # The lexical check cannot see links through links (a -> ., b -> a/..): ask the
        # file system where each one finally leads.
        resolved = os.path.realpath(link)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            name = link.relative_to(dest).as_posix()
            raise UnsafeArchive(
                f"unsafe tarball {archive}: symbolic link {name!r} resolves outside the tree"
            )
    for path, mode in reversed(dir_modes):
        os.chmod(path, mode)
    return total


def _write_file(tf: tarfile.TarFile, m: tarfile.TarInfo, target: Path) -> None:
    src = tf.extractfile(m)
    if src is None:  # pragma: no cover - a regular member always has a file object
        raise UnsafeArchive(f"member {m.name!r} has no content")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out, src:
        remaining = m.size
        while remaining > 0:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise EOFError(f"member {m.name!r} is truncated")
            out.write(chunk)
            remaining -= len(chunk)
        os.fchmod(out.fileno(), m.mode & 0o777)
    os.utime(target, (m.mtime, m.mtime))
