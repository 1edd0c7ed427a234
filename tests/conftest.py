"""Fixtures shared by the whole suite: a clean environment and a small local grid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.grid import Grid, make_grid


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No test sees the developer's pps settings or build-time overrides, and the probes a test
    runs keep their caches in a temp dir, not in the machine's /var/cache/pps."""
    for name in list(os.environ):
        if name.startswith("PPS_") or name == "SOURCE_DATE_EPOCH":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PPS_CACHE_DIR", str(tmp_path_factory.mktemp("pps-cache")))


@pytest.fixture(autouse=True)
def _reachable_tmp_path(tmp_path: Path) -> None:
    """Run as root, the probe runs the local tests as 'nobody', as it does at a site: like a
    site's preview root, a test's directories must then be reachable by every account (pytest
    makes them 0700)."""
    if os.geteuid() != 0:
        return
    for path in (tmp_path, *tmp_path.parents):
        if path == Path(tmp_path.anchor) or path == Path("/tmp"):
            break
        mode = path.stat().st_mode
        if mode & 0o055 != 0o055:
            path.chmod(mode | 0o055)


@pytest.fixture
def grid(tmp_path) -> Grid:
    """Four local sites (none, silver with hook, silver without hook, gold), a repository."""
    return make_grid(tmp_path)
