"""A release's tarball checked against its index entry before it is carried anywhere."""

from __future__ import annotations

import hashlib

from pps.errors import IntegrityError
from pps.repository import Release, Repository


def check_tarball(repo: Repository, release: Release) -> None:
    """Refuse to carry a tarball that does not match its index entry (one line, before any
    site is touched): the sites would refuse it anyway, one by one."""
    path = repo.path_of(release.tarball)
    try:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise IntegrityError(f"cannot read the tarball of {release.key}: {e}") from None
    if size != release.size or digest.hexdigest() != release.sha256:
        raise IntegrityError(
            f"{path} does not match index.json (sha256 {digest.hexdigest()[:16]}..., "
            f"{size} bytes; expected {release.sha256[:16]}..., {release.size} bytes): "
            "not pushing it"
        )
