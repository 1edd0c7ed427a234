"""An installed preview tree: its install marker, its environment script and its manifest.

Besides the tarball's content, a tree holds two files the probe writes before the tree is renamed
into place: ``.pps-install.json`` (the marker: which tarball, by sha256, the tree came from; the
probe trusts a tree only when the marker matches the index) and ``pps-env.sh`` (what a test or a
job sources: the site's production ``profile.d`` first, then the preview in front of PATH,
LD_LIBRARY_PATH and PYTHONPATH, then the manifest's own setup script).  Reading a tree is the
steady state of the probe, so this module imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from pps import jsonfile
from pps.errors import BadInput, IntegrityError
from pps.fsutil import atomic_write
from pps.manifest import MANIFEST_NAME, Manifest
from pps.repository import Release

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV_SCRIPT = "pps-env.sh"
MARKER = ".pps-install.json"
MARKER_FORMAT = "pps-install/1"
#: Names at the root of a tree that the probe writes; a tarball holding them is refused.
RESERVED = (ENV_SCRIPT, MARKER)
#: What :func:`shlex.quote` leaves unquoted (``[\\w@%+=:,./-]``, ASCII).
_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")


def shell_quote(text: str) -> str:
    """:func:`shlex.quote`, without importing :mod:`shlex` (and compiling its regular
    expression) at every probe run."""
    if not text:
        return "''"
    if _SHELL_SAFE.issuperset(text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def env_script(final_dir: Path, profile_d: Path, manifest: Manifest) -> str:
    """The text of ``pps-env.sh`` for a tree that lives (or will live) at *final_dir*."""
    q = shell_quote
    lines = [
        f"# Preview environment of {manifest.component} {manifest.version}.",
        "# Written by check_preview_client: the site's production environment first,",
        "# then the preview in front of it.  Source it from sh or bash.",
        f"if [ -d {q(str(profile_d))} ]; then",
        f"    for pps_profile in {q(str(profile_d))}/*.sh; do",
        '        if [ -r "$pps_profile" ]; then . "$pps_profile"; fi',
        "    done",
        "    unset pps_profile",
        "fi",
        f"PPS_PREVIEW_HOME={q(str(final_dir))}",
        'PATH="$PPS_PREVIEW_HOME/bin${PATH:+:$PATH}"',
        'LD_LIBRARY_PATH="$PPS_PREVIEW_HOME/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"',
        'PYTHONPATH="$PPS_PREVIEW_HOME/lib/python${PYTHONPATH:+:$PYTHONPATH}"',
        "export PPS_PREVIEW_HOME PATH LD_LIBRARY_PATH PYTHONPATH",
    ]
    if manifest.setup:
        lines.append(f'. "$PPS_PREVIEW_HOME"/{q(manifest.setup)}')
    return "\n".join(lines) + "\n"


def ensure_env_script(tree: Path, final_dir: Path, profile_d: Path, manifest: Manifest) -> bool:
    """Write ``pps-env.sh`` into *tree* unless it already says the same; True if written.

    Run on every probe run, so a changed ``--profile-d`` reaches an installed tree.
    """
    text = env_script(final_dir, profile_d, manifest).encode()
    path = tree / ENV_SCRIPT
    try:
        if path.read_bytes() == text:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, text, mode=0o644)
    return True


def load_manifest(tree: Path, release: Release) -> Manifest:
    """The manifest inside *tree*, checked to describe *release* (IntegrityError if not)."""
    path = tree / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        raise IntegrityError(f"the tarball of {release.key} has no {MANIFEST_NAME} at its root")
    try:
        manifest = Manifest.from_json(path.read_bytes())
    except BadInput as e:
        raise IntegrityError(f"the tarball of {release.key} has a bad manifest: {e}") from None
    if (manifest.component, manifest.version) != (release.component, release.version):
        raise IntegrityError(
            f"the tarball of {release.key} holds a manifest for "
            f"{manifest.component} {manifest.version}"
        )
    if manifest.setup:
        setup = tree / manifest.setup
        if not setup.is_file():
            raise IntegrityError(
                f"the manifest of {release.key} names the setup script {manifest.setup!r}, "
                "which is not in the tarball"
            )
    return manifest


def write_marker(tree: Path, release: Release, installed_at: str) -> None:
    data = {
        "format": MARKER_FORMAT,
        "component": release.component,
        "version": release.version,
        "sha256": release.sha256,
        "installed_at": installed_at,
    }
    atomic_write(tree / MARKER, jsonfile.dumps(data))


def read_marker(tree: Path) -> dict[str, Any] | None:
    """The install marker of *tree*, ``None`` if there is no usable one."""
    try:
        data = json.loads((tree / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    return data


def installed_manifest(tree: Path, release: Release) -> tuple[Manifest, str] | None:
    """``(manifest, installed_at)`` if *tree* is a complete install of exactly *release*.

    ``None`` means "install it": no tree, another tarball (sha256), or a tree that is not ours.
    """
    marker = read_marker(tree)
    if marker is None or marker.get("sha256") != release.sha256:
        return None
    try:
        manifest = load_manifest(tree, release)
    except IntegrityError:
        return None
    return manifest, str(marker.get("installed_at") or "")


def tree_id(path: Path) -> str:
    """``"<st_dev>:<st_ino>"`` of *path*: what the state record keeps to know its tree."""
    st = os.lstat(path)
    return f"{st.st_dev}:{st.st_ino}"


def owns_tree(path: Path, recorded_tree: str) -> bool:
    """Whether the tree at *path* is one pps put there: the install marker is inside, and the
    state record names this very directory (*recorded_tree*, from :func:`tree_id`)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode) or read_marker(path) is None:
        return False
    return bool(recorded_tree) and recorded_tree == f"{st.st_dev}:{st.st_ino}"


def reserved_names_in(tree: Path) -> list[str]:
    return [name for name in RESERVED if os.path.lexists(tree / name)]
