"""Real components the tests drive: present, or the test skips; under CI (CI=true) it fails.

``scripts/install-system-deps`` installs every one of them, so a CI run that misses one has a
broken install step, which must never hide behind a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require(binary: str, package: str) -> str:
    """The path of *binary* (absolute, or found on PATH); skip without it, fail under CI."""
    found = binary if os.path.isabs(binary) and os.access(binary, os.X_OK) else None
    found = found or shutil.which(binary)
    if found:
        return found
    if under_ci():
        pytest.fail(f"{binary} is missing and CI=true: install Debian's {package}")
    pytest.skip(f"{binary} is not installed (apt-get install {package})")
