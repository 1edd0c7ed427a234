"""Fixtures shared by the whole suite: a clean environment and a small local grid."""

from __future__ import annotations

import os

import pytest

from tests.grid import Grid, make_grid


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's pps settings or build-time overrides."""
    for name in list(os.environ):
        if name.startswith("PPS_") or name == "SOURCE_DATE_EPOCH":
            monkeypatch.delenv(name)


@pytest.fixture
def grid(tmp_path) -> Grid:
    """Four local sites (none, silver with hook, silver without hook, gold), a repository."""
    return make_grid(tmp_path)
