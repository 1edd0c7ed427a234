"""Where the probe keeps things at a site: the layout under the preview root, and its checks.

One place names every path the site-side programs use, so the probe, the GIP provider and the
tests agree on them::

    <preview_root>/<component>/<version>/      installed trees (appear by atomic rename)
    <preview_root>/hooks/configure             the site's local configuration hook (default)
    <preview_root>/.pps/lock                   held for a whole probe run
    <preview_root>/.pps/cache/                 verified tarballs kept for later ("*.part" while
                                               streaming; stale at a run's start)
    <preview_root>/.pps/tmp/                   work dirs; anything here is stale at a run's start
    <preview_root>/.pps/running/               one file per local test running now (orphans)
    <preview_root>/.pps/state/<c>/<v>.json     state records: the ledger of what pps installed
    <preview_root>/.pps/trust.json             the last index serial accepted (signed repos)
    <preview_root>/.pps/incoming/              where a push uploads (written by the distributor)

Why plain paths are safe below the preview root: :meth:`SiteLayout.prepare` refuses a preview
root (or ``.pps``) that another account could write into (owner not root or the probe's user,
or group/world-writable), and every directory pps uses below it is checked not to be a link.
Then only the probe's own account can change what is there between a check and a use.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from pps.names import check_component, check_version
from probes._safefs import UnsafePath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Directory modes: what is here is readable by every account (the GIP provider reads the
#: state records, jobs read the trees), writable only by the probe's account.
DIR_MODE = 0o755


def check_owned_dir(path: Path, what: str) -> os.stat_result:
    """*path* must be a directory that only the probe's account (or root) can change."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{what} {path} is not a directory")
    uid = os.geteuid()
    if st.st_uid not in (0, uid):
        raise UnsafePath(
            f"{what} {path} belongs to uid {st.st_uid}: it must belong to root or to the "
            "probe's account"
        )
    if st.st_mode & 0o022:
        raise UnsafePath(
            f"{what} {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}):"
            " chmod go-w it"
        )
    return st


def ensure_private_dir(path: Path, mode: int = DIR_MODE) -> None:
    """Make *path* (one level) a real directory of ours with *mode*; never follow a link."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
            os.chmod(path, mode)
            return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise UnsafePath(f"{path} is {kind}: the probe keeps its own files there")


class SiteLayout:
    """Paths under one preview root."""

    def __init__(self, preview_root: str | os.PathLike[str]) -> None:
        self.root = Path(preview_root)

    @property
    def pps_dir(self) -> Path:
        return self.root / ".pps"

    @property
    def lock_file(self) -> Path:
        return self.pps_dir / "lock"

    @property
    def cache_dir(self) -> Path:
        return self.pps_dir / "cache"

    @property
    def tmp_dir(self) -> Path:
        return self.pps_dir / "tmp"

    @property
    def running_dir(self) -> Path:
        return self.pps_dir / "running"

    @property
    def state_dir(self) -> Path:
        return self.pps_dir / "state"

    @property
    def trust_file(self) -> Path:
        return self.pps_dir / "trust.json"

    @property
    def default_hook(self) -> Path:
        return self.root / "hooks" / "configure"

    def install_dir(self, component: str, version: str) -> Path:
        return self.root / check_component(component) / check_version(version)

    def state_file(self, component: str, version: str) -> Path:
        return self.state_dir / check_component(component) / f"{check_version(version)}.json"

    def prepare(self) -> None:
        """Create (or check) the preview root and ``.pps`` before the lock is taken."""
        if not self.root.exists():
            os.makedirs(self.root, mode=DIR_MODE, exist_ok=True)
            os.chmod(self.root, DIR_MODE)
        check_owned_dir(self.root, "preview root")
        ensure_private_dir(self.pps_dir)
        check_owned_dir(self.pps_dir, "the probe's directory")

    def prepare_work_dirs(self) -> None:
        """The directories a run writes in (call with the lock held)."""
        for d in (self.cache_dir, self.tmp_dir, self.running_dir, self.state_dir):
            ensure_private_dir(d)


def remove_tree(path: Path) -> None:
    """Remove *path* (a tree, a file or a link), also where a tree made itself read-only.

    shutil.rmtree never follows a symbolic link inside the tree (it works on directory
    descriptors where the platform has them, as Linux does).
    """

    def make_writable_and_retry(func: Any, name: str, _exc: Any) -> None:
        parent = os.path.dirname(name)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IRWXU)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, stat.S_IMODE(os.lstat(name).st_mode) | stat.S_IRWXU)
            func(name)
        except FileNotFoundError:
            pass

    import shutil  # only a removal needs it (a GIP provider run never removes anything)

    if path.is_symlink() or not path.is_dir():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    elif sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def clean_stale(layout: SiteLayout) -> list[str]:
    """Remove what a killed run left: everything in ``.pps/tmp`` and ``*.part`` downloads in
    ``.pps/cache``; the names removed.  Only call this while holding the run lock: then no
    other run is using anything there."""
    removed = []
    for entry in sorted(os.scandir(layout.tmp_dir), key=lambda e: e.name):
        remove_tree(Path(entry.path))
        removed.append(f"tmp/{entry.name}")
    for entry in sorted(os.scandir(layout.cache_dir), key=lambda e: e.name):
        if entry.name.endswith(".part"):
            remove_tree(Path(entry.path))
            removed.append(f"cache/{entry.name}")
    return removed
