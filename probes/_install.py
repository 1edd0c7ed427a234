"""Installing a release beside production, in one streaming pass, so that a kill leaves old or new.

The tarball is unpacked while it arrives (from the repository, or from the cache) into a private
work directory in ``.pps/tmp/`` (same file system as its final place); only when the size and the
sha256 of every byte received match the index does the tree go on: checked against the manifest
inside it, given its ``pps-env.sh`` and install marker, configured by the site's hook when the
manifest asks for it, recorded in the state ledger, and renamed to
``<preview_root>/<component>/<version>``.  A stale tree of pps's own already there is swapped out
in one ``renameat2(RENAME_EXCHANGE)`` where the kernel has it (else moved aside first) and removed
after.  Anything a killed run left in ``.pps/tmp`` is removed by the next run.

pps touches only what it made: a component directory carries ``.pps-component``; a tree carries
``.pps-install.json`` *and* is named by its state record (device and inode).  Anything else at
those paths is :class:`NotOurs`, never removed or replaced.  Imported only when something is to
be installed.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pps.errors import IntegrityError, PPSError
from pps.fsutil import atomic_write, fsync_dir
from pps.manifest import Manifest
from pps.record import Record
from pps.repository import Release
from probes._extract import (
    HEADER_ALLOWANCE,
    CompressedInput,
    SizeExceeded,
    UnsafeArchive,
    extract_stream,
)
from probes._fetch import Source
from probes._process import run_bounded
from probes._records import LocalTestResult, utc_now
from probes._site import SiteLayout, remove_tree
from probes._tree import (
    ensure_env_script,
    load_manifest,
    reserved_names_in,
    tree_id,
    write_marker,
)

_log = logging.getLogger("nagiosplugin." + __name__)

COMPONENT_MARKER = ".pps-component"
#: Free space kept in reserve beyond what a release needs.
SPACE_MARGIN = 64 << 20


class HookFailed(PPSError):
    """The site's configuration hook failed; nothing was installed.  *result* is its run (the
    state record keeps it)."""

    def __init__(self, message: str, result: LocalTestResult) -> None:
        super().__init__(message)
        self.result = result


class NotOurs(PPSError):
    """A path pps would install at holds something pps did not make."""


class NoSpace(PPSError):
    """Not enough free space for the release; nothing was fetched."""


class Limits(Record):
    """The site's bounds on a release."""

    max_release_bytes: int
    max_unpacked_bytes: int


class Installed(Record):
    manifest: Manifest
    installed_at: str
    unpacked_bytes: int
    tree: str
    #: The configuration hook's run, when the release needed it.
    hook: LocalTestResult | None = None


class AwaitingConfiguration(Record):
    """The release needs the site's configuration hook, which is not there yet."""

    message: str


def component_dir(layout: SiteLayout, component: str, *, create: bool) -> Path:
    """``<preview_root>/<component>``, made by pps (NotOurs if something else is there)."""
    path = layout.root / component
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return path
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)
        atomic_write(path / COMPONENT_MARKER, b"made by pps: previews of this component\n")
        return path
    import stat

    if stat.S_ISDIR(st.st_mode) and os.path.isfile(path / COMPONENT_MARKER):
        return path
    raise NotOurs(f"{path} exists and was not made by pps: not installing into it")


def hook_problem(hook: Path) -> str | None:
    """Why *hook* cannot run (a message for the operator), or ``None`` if it can."""
    waiting = "awaiting local configuration: "
    try:
        st = os.stat(hook)
    except (FileNotFoundError, NotADirectoryError):
        return f"{waiting}create executable {hook}"
    except PermissionError:
        from probes._denied import read_line

        return waiting + read_line(str(hook), "the configuration hook")
    import stat

    if not stat.S_ISREG(st.st_mode):
        return f"{waiting}{hook} is not a file: make it an executable file"
    if not os.access(hook, os.X_OK):
        from probes._denied import run_line

        return waiting + run_line(str(hook))
    return None


def check_space(directory: Path, need: int) -> None:
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free < need + SPACE_MARGIN:
        raise NoSpace(
            f"not enough free space in {directory}: the release needs {_mib(need)} "
            f"(+{_mib(SPACE_MARGIN)} reserve), {_mib(free)} free; nothing fetched"
        )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def check_limits(release: Release, limits: Limits) -> None:
    """Refuse, before any byte is fetched, a release larger than the site allows."""
    if release.size > limits.max_release_bytes:
        raise IntegrityError(
            f"{release.key} is {release.size} bytes; the site allows at most "
            f"{limits.max_release_bytes} (max_release_bytes)"
        )
    if release.unpacked_size > limits.max_unpacked_bytes:
        raise IntegrityError(
            f"{release.key} unpacks to {release.unpacked_size} bytes; the site allows at most "
            f"{limits.max_unpacked_bytes} (max_unpacked_bytes)"
        )


def _verify(release: Release, inp: CompressedInput, where: str) -> None:
    if inp.size != release.size:
        raise IntegrityError(
            f"size mismatch for {release.key}: the index says {release.size} bytes, "
            f"{where} has {inp.size if inp.size <= release.size else 'more'}"
        )
    sha = inp.sha256.hexdigest()
    if sha != release.sha256:
        raise IntegrityError(
            f"checksum mismatch for {release.key}: the index says sha256 {release.sha256}, "
            f"{where} has {sha}"
        )


def fetch_to_cache(source: Source, release: Release, layout: SiteLayout) -> Path:
    """The verified tarball of *release* in the cache, fetched unless already there."""
    target = layout.cache_dir / Path(release.tarball).name
    if target.is_file():
        inp = _input(_file_chunks(target), release, target.name)
        inp.drain()
        try:
            _verify(release, inp, str(target))
            return target
        except IntegrityError:
            target.unlink()
    check_space(layout.cache_dir, release.size)
    part = target.with_name(target.name + ".part")
    where = source.describe(release.tarball)
    inp = _input(source.chunks(release.tarball, release.size), release, target.name)
    try:
        with open(part, "wb") as out:
            for chunk in _tee(inp):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _verify(release, inp, where)
        os.replace(part, target)
        fsync_dir(layout.cache_dir)
    except SizeExceeded:
        raise IntegrityError(
            f"size mismatch for {release.key}: the index says {release.size} bytes, {where} has "
            "more"
        ) from None
    finally:
        if part.exists():
            part.unlink()
    return target


def _tee(inp: CompressedInput) -> Iterator[bytes]:
    """The compressed chunks as *inp* hashes them (no inflating)."""
    while True:
        chunk = inp.next_compressed()
        if not chunk:
            return
        yield chunk


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(1 << 20), b"")


def _input(
    chunks: Iterator[bytes], release: Release, name: str, limits: Limits | None = None
) -> CompressedInput:
    max_unpacked = limits.max_unpacked_bytes if limits else 1 << 62
    return CompressedInput(
        chunks, max_in=release.size, max_out=max_unpacked + HEADER_ALLOWANCE, name=name
    )


def install_release(
    release: Release,
    layout: SiteLayout,
    *,
    source: Source,
    limits: Limits,
    profile_d: Path,
    hook: Path,
    hook_timeout: float,
    record_tree: Callable[[str, LocalTestResult | None], None],
) -> Installed | AwaitingConfiguration:
    """Install *release* under *layout*, streaming it from the cache or from *source*.

    *record_tree* is called with the new tree's identity (and the configuration hook's run, when
    the release needed it) just before it is renamed into place
    (the caller writes it into the state ledger).  IntegrityError (the tarball does not match
    or is unsafe), NoSpace and HookFailed leave nothing installed; so does a kill at any point
    (the work directory is cleaned by the next run).  The caller has checked that whatever is
    at the final path is pps's own.
    """
    # One piece: the order of the steps is the safety argument (fetch and unpack into a private
    # directory, check size and sha256, run the hook, record, rename into place); read whole.
    final = layout.install_dir(release.component, release.version)
    cached = layout.cache_dir / Path(release.tarball).name
    if release.update_class.needs_site_config:
        # Known from the index already: fetch (verified) once, unpack when the hook exists.
        problem = hook_problem(hook)
        if problem:
            fetch_to_cache(source, release, layout)
            return AwaitingConfiguration(problem)
    check_space(layout.tmp_dir, release.unpacked_size or release.size)
    if cached.is_file():
        chunks, where = _file_chunks(cached), str(cached)
    else:
        chunks, where = (
            source.chunks(release.tarball, release.size),
            source.describe(release.tarball),
        )
    work = Path(tempfile.mkdtemp(prefix=f"install-{release.component}-", dir=layout.tmp_dir))
    try:
        inp = _input(chunks, release, Path(release.tarball).name, limits)
        max_bytes = limits.max_unpacked_bytes
        if release.unpacked_size:
            max_bytes = min(max_bytes, release.unpacked_size)
        _log.info("unpacking %s into %s as it arrives", where, work)
        try:
            unpacked, _members = extract_stream(inp, work, max_bytes=max_bytes)
        except SizeExceeded:
            raise IntegrityError(
                f"size mismatch for {release.key}: the index says {release.size} bytes, "
                f"{where} has more"
            ) from None
        except UnsafeArchive:
            # A download damaged on the way also looks like a bad archive: say which it is.
            try:
                inp.drain()
            except SizeExceeded:
                pass
            _verify(release, inp, where)
            raise
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise NoSpace(
                    f"no space left in {layout.tmp_dir} while unpacking {release.key}"
                ) from None
            raise
        _verify(release, inp, where)
        reserved = reserved_names_in(work)
        if reserved:
            raise UnsafeArchive(
                f"unsafe tarball {inp.name}: it holds {reserved[0]}, a file the probe writes"
            )
        manifest = load_manifest(work, release)
        if manifest.requires_site_config:
            problem = hook_problem(hook)
            if problem:
                return AwaitingConfiguration(problem)
        ensure_env_script(work, final, profile_d, manifest)
        hook_run = None
        if manifest.requires_site_config:
            hook_run = _run_hook(hook, work, release, final, hook_timeout, layout.tmp_dir)
        installed_at = utc_now()
        write_marker(work, release, installed_at)
        os.chmod(work, 0o755)  # mkdtemp made it 0700; jobs of every grid user read the tree
        ident = tree_id(work)
        component_dir(layout, release.component, create=True)
        record_tree(ident, hook_run)
        _put_in_place(work, final, layout)
        if cached.exists():
            cached.unlink()
        return Installed(manifest, installed_at, unpacked, ident, hook_run)
    finally:
        if os.path.lexists(work):
            remove_tree(work)


def _run_hook(
    hook: Path, work: Path, release: Release, final: Path, timeout: float, scratch: Path
) -> LocalTestResult:
    """Run the site's configuration hook on the unpacked tree; its run (HookFailed with it
    when it failed)."""
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
    result = LocalTestResult(
        name=str(hook),
        ok=done.exit_code == 0,
        exit_code=done.exit_code,
        seconds=done.seconds,
        output_tail=done.output_tail,
        timed_out=done.timed_out,
        timeout=round(timeout, 3),
    )
    _log.info("configuration hook %s %s in %.2fs", hook, result.verdict, done.seconds)
    if result.ok:
        return result
    last = (done.output_tail.strip().splitlines() or [""])[-1][:200]
    said = f" (it said: {last})" if last else ""
    if done.timed_out:
        raise HookFailed(f"configuration hook {hook} timed out after {timeout:g}s{said}", result)
    raise HookFailed(f"configuration hook {hook} exited with {done.exit_code}{said}", result)


def _put_in_place(work: Path, final: Path, layout: SiteLayout) -> None:
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
