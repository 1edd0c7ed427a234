"""Reproducible preview tarballs.

The same source tree and manifest always give the same bytes (and so the same sha256): members
are sorted, owners are ``root:root`` with ids 0, times are one fixed instant (``SOURCE_DATE_EPOCH``
when set), permissions are normalised to 0755/0644, and gzip carries no name and no time.  Only
directories, regular files and symlinks that stay inside the tree are packed; anything else is
refused with the path named, because a site would refuse it anyway.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pps.errors import BadInput
from pps.fsutil import atomic_write
from pps.manifest import MANIFEST_NAME, Manifest

#: 2000-01-01T00:00:00Z: a fixed, unremarkable mtime for every member.
DEFAULT_EPOCH = 946684800


@dataclass(frozen=True)
class BuiltTarball:
    data: bytes
    sha256: str
    members: int
    #: The bytes of the regular files (what a site needs to unpack it).
    unpacked_size: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


def _epoch() -> int:
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise BadInput(f"SOURCE_DATE_EPOCH {raw!r} is not a whole number of seconds") from None
    return DEFAULT_EPOCH


def _tarinfo(name: str, kind: bytes, mode: int, mtime: int, size: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = mtime
    ti.size = size
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def build_tarball(src: str | os.PathLike[str], manifest: Manifest) -> BuiltTarball:
    """Pack *src* and *manifest* (as ``.pps-manifest.json`` at the root) into gzip'd tar bytes."""
    src = Path(src)
    if not src.is_dir():
        raise BadInput(f"source directory {str(src)!r} does not exist or is not a directory")
    mtime = _epoch()
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            entries.append((full.relative_to(src).as_posix(), full))
    entries.sort(key=lambda e: e[0])
    if any(rel == MANIFEST_NAME for rel, _ in entries):
        raise BadInput(f"{src}/{MANIFEST_NAME} exists: that name is reserved for the manifest")

    raw = io.BytesIO()
    unpacked = 0
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        body = manifest.to_json()
        unpacked += len(body)
        tar.addfile(
            _tarinfo(MANIFEST_NAME, tarfile.REGTYPE, 0o644, mtime, len(body)), io.BytesIO(body)
        )
        for rel, full in entries:
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target))
                if os.path.isabs(target) or resolved.startswith(".."):
                    raise BadInput(f"symlink {rel} -> {target} points outside the source tree")
                ti = _tarinfo(rel, tarfile.SYMTYPE, 0o777, mtime)
                ti.linkname = target
                tar.addfile(ti)
            elif stat.S_ISDIR(st.st_mode):
                tar.addfile(_tarinfo(rel, tarfile.DIRTYPE, 0o755, mtime))
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                unpacked += st.st_size
                with open(full, "rb") as f:
                    tar.addfile(_tarinfo(rel, tarfile.REGTYPE, mode, mtime, st.st_size), f)
            else:
                raise BadInput(f"{rel} is not a regular file, directory or symlink: not packed")
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    data = out.getvalue()
    return BuiltTarball(data, hashlib.sha256(data).hexdigest(), len(entries) + 1, unpacked)


def write_checksum(path: Path, sha256: str, filename: str) -> None:
    """A ``sha256sum -c``-compatible checksum file."""
    atomic_write(path, f"{sha256}  {filename}\n".encode())
