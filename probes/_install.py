"""Installing a verified tarball beside production, so that a kill leaves old or new.

The tree is unpacked into ``.pps/tmp/`` (same file system as its final place), checked against
the manifest inside it, given its ``pps-env.sh`` and install marker, configured by the site's hook
when the manifest asks for it, and only then renamed to ``<preview_root>/<component>/<version>``.
A stale tree already there is swapped out in one ``renameat2(RENAME_EXCHANGE)`` where the kernel
has it (else moved aside first) and removed after.  Anything left in ``.pps/tmp`` by a killed run
is removed by the next run.  Imported only when something is to be installed: it pulls tarfile.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pps.errors import PPSError
from pps.fsutil import fsync_dir
from pps.manifest import Manifest
from pps.repository import Release
from probes._extract import UnsafeArchive, extract_safely
from probes._process import run_bounded
from probes._site import SiteLayout, remove_tree
from probes._state import utc_now
from probes._tree import ensure_env_script, load_manifest, reserved_names_in, write_marker

_log = logging.getLogger("nagiosplugin." + __name__)


class HookFailed(PPSError):
    """The site's configuration hook failed; nothing was installed."""


@dataclass(frozen=True)
class Installed:
    manifest: Manifest
    installed_at: str
    unpacked_bytes: int


@dataclass(frozen=True)
class AwaitingConfiguration:
    """The release needs the site's configuration hook, which is not there yet."""

    message: str


def hook_problem(hook: Path) -> str | None:
    """Why *hook* cannot run (a message for the operator), or ``None`` if it can."""
    if not hook.is_file() or not os.access(hook, os.X_OK):
        return f"awaiting local configuration: create executable {hook}"
    return None


def install_release(
    tarball: Path,
    release: Release,
    layout: SiteLayout,
    *,
    profile_d: Path,
    hook: Path,
    hook_timeout: float,
) -> Installed | AwaitingConfiguration:
    """Install the verified *tarball* of *release* under *layout*.

    IntegrityError (the tree is unsafe or does not match) and HookFailed leave nothing
    installed; so does a kill at any point (the work directory is cleaned by the next run).
    """
    final = layout.install_dir(release.component, release.version)
    if release.update_class.needs_site_config:
        # Known from the index already: no need to unpack on every run until the hook exists.
        problem = hook_problem(hook)
        if problem:
            return AwaitingConfiguration(problem)
    layout.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"install-{release.component}-", dir=layout.tmp_dir))
    try:
        _log.info("unpacking %s into %s", tarball, work)
        unpacked = extract_safely(tarball, work)
        reserved = reserved_names_in(work)
        if reserved:
            raise UnsafeArchive(
                f"unsafe tarball {tarball.name}: it holds {reserved[0]}, a file the probe writes"
            )
        manifest = load_manifest(work, release)
        if manifest.requires_site_config:
            problem = hook_problem(hook)
            if problem:
                return AwaitingConfiguration(problem)
        ensure_env_script(work, final, profile_d, manifest)
        if manifest.requires_site_config:
            _run_hook(hook, work, release, final, hook_timeout, layout.tmp_dir)
        installed_at = utc_now()
        write_marker(work, release, installed_at)
        os.chmod(work, 0o755)  # mkdtemp made it 0700; jobs of every grid user read the tree
        _put_in_place(work, final, layout)
        return Installed(manifest, installed_at, unpacked)
    finally:
        if os.path.lexists(work):
            remove_tree(work)


def _run_hook(
    hook: Path, work: Path, release: Release, final: Path, timeout: float, scratch: Path
) -> None:
    env = dict(os.environ)
    env.update(
        PPS_COMPONENT=release.component, PPS_VERSION=release.version, PPS_INSTALL_DIR=str(final)
    )
    _log.info("running the configuration hook %s", hook)
    done = run_bounded(
        [str(hook), str(work), release.component, release.version],
        cwd=work,
        env=env,
        timeout=timeout,
        scratch_dir=scratch,
    )
    if done.exit_code == 0:
        return
    last = (done.output_tail.strip().splitlines() or [""])[-1][:200]
    said = f" (it said: {last})" if last else ""
    if done.timed_out:
        raise HookFailed(f"configuration hook {hook} timed out after {timeout:g}s{said}")
    raise HookFailed(f"configuration hook {hook} exited with {done.exit_code}{said}")


def _put_in_place(work: Path, final: Path, layout: SiteLayout) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(final):
        os.rename(work, final)
    elif _exchange(work, final):
        _log.info("swapped the stale %s out", final)  # *work* now holds the stale tree
    else:
        aside = Path(tempfile.mkdtemp(prefix="stale-", dir=layout.tmp_dir)) / "tree"
        os.rename(final, aside)
        os.rename(work, final)
        remove_tree(aside.parent)
    fsync_dir(final.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap *a* and *b* atomically (Linux ``renameat2``); False where that is not available."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))
