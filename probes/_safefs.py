"""File operations that a root process can do in directories other accounts may write.

The tags files live in the site's information directory, whose per-VO directories may belong to
a VO's software manager account: someone else may have put a symbolic link, a FIFO or a hard link
where the probe expects a file.  Everything here works relative to directory descriptors opened
with ``O_NOFOLLOW``, one level at a time below a base directory the site admin configured, so a
link is never followed, a special file is never read, and a rename happens in the very directory
that was checked.  A refusal is :class:`UnsafePath`, one line naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator, Sequence

from pps.errors import PPSError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafePath(PPSError):
    """A path the probe must not read or write through (a link, a special file...)."""


def _what(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "of an unknown kind"


def _named(e: OSError, where: str) -> OSError:
    """*e*, naming the full path *where* rather than a name relative to a directory's
    descriptor (the probe's one line must say which file it could not use)."""
    e.filename = where
    return e


def open_base(path: str, *, create: bool = False, mode: int = 0o755) -> int:
    """A descriptor of the configured directory *path* (created, parents too, if asked)."""
    if create:
        try:
            os.makedirs(path, mode=mode, exist_ok=True)
        except FileExistsError:
            pass
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise UnsafePath(f"{path} is not a directory") from None


def open_subdir(
    dirfd: int, name: str, where: str, *, create: bool, mode: int = 0o755
) -> int | None:
    """The directory *name* inside *dirfd*, never through a link; ``None`` if it is missing and
    *create* is false.  *where* is its full path, for messages."""
    _check_name(name, where)
    created = False
    for _ in range(2):
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dirfd)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o700, dir_fd=dirfd)
                created = True
            except FileExistsError:
                pass  # someone was first: open what is there (and check it) on the next turn
            except OSError as e:
                raise _named(e, where) from None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                raise UnsafePath(f"{where} is {_what(st.st_mode)}: not following it") from None
            raise _named(e, where) from None
        else:
            if created:  # made 0700, opened, then given its mode: never briefly too open
                os.fchmod(fd, mode)
            return fd
    raise UnsafePath(f"{where} keeps changing under the probe")  # pragma: no cover


def walk_subdirs(fd: int, base: str, parts: Sequence[str], *, create: bool) -> int | None:
    """From the open directory *fd* (the path *base*), a descriptor of ``base/parts...``, each
    step through :func:`open_subdir` (never a link); ``None`` if one is missing and *create*
    is false.  *fd* is always consumed (closed, or returned when *parts* is empty)."""
    where = base
    for part in parts:
        where = os.path.join(where, part)
        try:
            sub = open_subdir(fd, part, where, create=create)
        finally:
            os.close(fd)
        if sub is None:
            return None
        fd = sub
    return fd


def _check_name(name: str, where: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise UnsafePath(f"{where}: {name!r} is not a plain file name")


def read_regular(
    dirfd: int, name: str, where: str, limit: int
) -> tuple[bytes, os.stat_result] | None:
    """The bytes and status of the regular file *name* in *dirfd*, ``None`` if it is missing.

    Refused: a symbolic link, anything not a regular file, a file with other hard links (it
    could be a system file linked here) and a file larger than *limit*.
    """
    _check_name(name, where)
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dirfd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(
                f"{where} is a symbolic link: not reading or writing through it"
            ) from None
        raise _named(e, where) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{where} is {_what(st.st_mode)}: not reading or writing it")
        if st.st_nlink > 1:
            raise UnsafePath(
                f"{where} has {st.st_nlink} hard links: it may be another file linked here; "
                "not reading or writing it"
            )
        if st.st_size > limit:
            raise UnsafePath(f"{where} is larger than {limit} bytes: not reading it")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"{where} is larger than {limit} bytes: not reading it")
    return data, st


def replace_regular(
    dirfd: int,
    name: str,
    data: bytes,
    where: str,
    *,
    like: os.stat_result | None = None,
    mode: int = 0o644,
) -> None:
    """Make *name* in *dirfd* hold *data*, atomically (a new file renamed over the old one).

    With *like* (the old file's status) the new file keeps its owner, group and mode; without
    it the file gets *mode* and the process's owner.  A process that may not give the file its
    old owner (not root) leaves it alone: PermissionError naming *where*.
    """
    tmp = f".{name}.pps-{os.getpid()}.tmp"
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dirfd,
        )
    except OSError as e:
        raise _named(e, os.path.join(os.path.dirname(where), tmp)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if like is not None:
                if (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(f.fileno(), like.st_uid, like.st_gid)
                    except PermissionError as e:  # not root: the probe says what to do
                        raise _named(e, where) from None
                os.fchmod(f.fileno(), stat.S_IMODE(like.st_mode))
            else:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dirfd)
        raise
    with contextlib.suppress(OSError):
        os.fsync(dirfd)


@contextlib.contextmanager
def locked_at(dirfd: int, name: str, where: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lock file *name* in *dirfd* (created if missing, never
    through a link) for the ``with`` block."""
    _check_name(name, where)
    try:
        fd = os.open(
            name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644,
            dir_fd=dirfd,
        )  # fmt: skip
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"lock file {where} is a symbolic link: not following it") from None
        raise _named(e, where) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"lock file {where} is {_what(st.st_mode)}")
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def locked_path(path: str) -> Iterator[None]:
    """:func:`locked_at` for a lock file given by its full path (its directory is trusted)."""
    parent, name = os.path.split(path)
    dirfd = open_base(parent, create=True)
    try:
        with locked_at(dirfd, name, path):
            yield
    finally:
        os.close(dirfd)
