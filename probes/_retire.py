"""Retiring a version the repository no longer lists as a preview.

A release that was closed (moved to production), rejected or removed loses its tags at once: no
new job may be sent to it.  Its tree stays for a grace period (the site file's ``retire_grace``)
so that jobs already running on it are not pulled away, and after that it is removed only when
no process uses it (its working directory, root, executable, an open file or a mapped library
under the tree).  pps removes only a tree its state record names (device and inode) and that
carries its install marker; the record goes with the tree.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

_log = logging.getLogger("nagiosplugin." + __name__)


def parse_utc(stamp: str | None) -> _dt.datetime | None:
    if not stamp:
        return None
    try:
        return _dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def grace_left(retired_at: str | None, grace: float, now: _dt.datetime | None = None) -> float:
    """Seconds until a tree retired at *retired_at* may go (0 when it may go now)."""
    start = parse_utc(retired_at)
    if start is None:
        return grace
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, grace - (now - start).total_seconds())


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def users_of(tree: Path) -> list[str]:
    """Processes that use something under *tree*: ``"pid 123 (bash)"`` each."""
    root = os.path.realpath(tree)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        base = entry.path
        if _uses(base, root):
            try:
                with open(f"{base}/comm", "rb") as f:
                    name = f.read().decode("utf-8", "replace").strip()
            except OSError:
                name = "?"
            found.append(f"pid {entry.name} ({name})")
    return found


def _uses(base: str, root: str) -> bool:
    for link in ("cwd", "root", "exe"):
        try:
            if _under(os.readlink(f"{base}/{link}"), root):
                return True
        except OSError:
            pass
    try:
        for fd in os.scandir(f"{base}/fd"):
            try:
                if _under(os.readlink(fd.path), root):
                    return True
            except OSError:
                pass
    except OSError:
        pass
    try:
        with open(f"{base}/maps", "rb") as f:
            needle = root.encode() + b"/"
            for line in f:
                if needle in line:
                    return True
    except OSError:
        pass
    return False
