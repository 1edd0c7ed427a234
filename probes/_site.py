"""Where the probe keeps things at a site: the layout under the preview root.

One place names every path the site-side programs use, so the probe, the GIP provider and the
tests agree on them::

    <preview_root>/<component>/<version>/      installed trees (appear by atomic rename)
    <preview_root>/hooks/configure             the site's local configuration hook (default)
    <preview_root>/.pps/lock                   held for a whole probe run
    <preview_root>/.pps/cache/                 downloaded tarballs ("*.part" while streaming)
    <preview_root>/.pps/tmp/                   work dirs; anything here is stale at a run's start
    <preview_root>/.pps/state/<c>/<v>.json     state records
    <preview_root>/.pps/incoming/              where a push uploads (written by the distributor)
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from pps.names import check_component, check_version


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
    def state_dir(self) -> Path:
        return self.pps_dir / "state"

    @property
    def default_hook(self) -> Path:
        return self.root / "hooks" / "configure"

    def install_dir(self, component: str, version: str) -> Path:
        return self.root / check_component(component) / check_version(version)

    def state_file(self, component: str, version: str) -> Path:
        return self.state_dir / check_component(component) / f"{check_version(version)}.json"


def remove_tree(path: Path) -> None:
    """Remove *path* (a tree, a file or a link), also where a tree made itself read-only."""

    def make_writable_and_retry(func: Any, name: str, _exc: Any) -> None:
        parent = os.path.dirname(name)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IRWXU)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, stat.S_IMODE(os.lstat(name).st_mode) | stat.S_IRWXU)
            func(name)
        except FileNotFoundError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=make_writable_and_retry)
        else:
            shutil.rmtree(path, onerror=make_writable_and_retry)


def clean_tmp(layout: SiteLayout) -> list[str]:
    """Remove what earlier runs left in ``.pps/tmp`` (a killed run); the names removed.

    Only call this while holding the run lock: then no other run is using anything there.
    """
    removed = []
    if layout.tmp_dir.is_dir():
        for entry in sorted(layout.tmp_dir.iterdir()):
            remove_tree(entry)
            removed.append(entry.name)
    return removed
