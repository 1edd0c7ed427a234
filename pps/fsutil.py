"""Small file-system primitives every part needs: atomic writes and advisory locks.

Nothing pps writes is ever half-written: a file appears whole by ``rename`` from a temporary file
in the same directory, after ``fsync``.  Writers that read-modify-write (the repository index, a
tags file) hold an ``flock`` on a lock file beside the data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str], mode: int) -> Iterator[BinaryIO]:
    """A temporary file beside *path* that replaces it, fsync'd, when the block ends well;
    removed when it does not.  Each writer gets its own temporary name."""
    import tempfile  # only a write needs it (a provider's or a reading probe's run never does)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write *data* to *path* so that readers see the old content or the new, never a mix."""
    with _replacing(path, mode) as f:
        f.write(data)


def atomic_copy(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], mode: int = 0o644
) -> None:
    """Copy *src* to *dst*, streaming, so that *dst* appears whole or not at all."""
    import shutil  # only a copy needs it

    with _replacing(dst, mode) as out, open(src, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename in *path* durable (best effort on file systems that refuse it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(lock_path: str | os.PathLike[str], shared: bool = False) -> Iterator[None]:
    """Hold an advisory ``flock`` on *lock_path* (created if missing) for the ``with`` block."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
