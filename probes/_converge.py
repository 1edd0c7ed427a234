"""One probe run's work: bring the site in line with the repository for one release.

Read the index (its signature and serial first, when the site pins the repository's key); retire
the release if the index no longer lists it as a preview; install it unless the tree already
there came from the same tarball; run its local tests; record the verdict; publish or withdraw
the version's tag.  The caller holds the site lock for the whole run.

What the tags say is never ahead of what was verified:

* a new tarball for an installed version (its sha256 changed) withdraws the tag before anything
  is fetched or swapped, and the state says ``untested`` until the new tree passed its tests;
* a tag is added only after every test passed on the tree now in place;
* tests that cannot complete (their own timeout, or a run killed while testing) keep an earlier
  verdict for one run, and withdraw the tag on the second run in a row;
* a VO's tag is withdrawn only because of the tree's result (the same tree serves every VO) or
  because the site file no longer lists the VO: a run given a narrower ``--vo`` list leaves the
  other VOs' tags alone.

Errors that mean "cannot tell" (repository unreachable, unknown release, a corrupt index) are
raised and change nothing; outcomes a site admin must act on (a bad signature, a checksum
mismatch, an unsafe tarball, a path pps did not make, a failed hook, a failing test) come back as
an :class:`Outcome`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pps.errors import BadInput, IntegrityError, NotFound, PPSError
from pps.names import (
    PREVIEW_CAPABILITY,
    check_component,
    check_subcluster,
    check_version,
    check_vo,
    version_tag,
)
from pps.record import Record
from pps.repository import INDEX_NAME, SIGNATURE_NAME, Index, Release
from probes import _orphans, _tagsfile
from probes._fetch import (
    MAX_INDEX_BYTES,
    MAX_SIGNATURE_BYTES,
    FileMissing,
    Source,
    open_source,
)
from probes._safefs import UnsafePath
from probes._site import SiteLayout, clean_stale, remove_tree
from probes._state import (
    AWAITING_CONFIGURATION,
    BROKEN,
    RETIRED,
    UNTESTED,
    VERIFIED,
    LocalTestResult,
    StateRecord,
    iter_state_files,
    read_state,
    utc_now,
    write_state,
)
from probes._tree import ensure_env_script, load_manifest, owns_tree, read_marker
from probes._trust import TrustError, TrustStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_log = logging.getLogger("nagiosplugin." + __name__)

#: Outcome status when nothing was installed because something is wrong (see the message).
REFUSED = "refused"
#: Outcome status when the tests could not complete (see ``Outcome.withdrawn``).
INCOMPLETE = "incomplete"
#: Seconds kept back from the run's budget when a hook gets the rest.
_MARGIN = 2.0
#: Runs in a row whose tests cannot complete before the tag goes.
INCOMPLETE_LIMIT = 2


class Request(Record):
    """What the probe was asked to do (its site file and command line, checked)."""

    component: str
    version: str
    repository: str
    preview_root: Path
    info_dir: Path
    subcluster: str
    #: The VOs this run tags for.
    vos: tuple[str, ...]
    profile_d: Path
    config_hook: Path
    #: The site file's VO list (None without a site file): a VO missing from it loses its tag.
    site_vos: tuple[str, ...] | None = None
    public_key: str = ""
    test_user: str = "nobody"
    max_release_bytes: int = 2 << 30
    max_unpacked_bytes: int = 8 << 30
    retire_grace: float = 86400.0
    #: ``time.monotonic()`` by which the whole run must be over.
    deadline: float = float("inf")

    def __post_init__(self) -> None:
        if self.component or self.version:
            check_component(self.component)
            check_version(self.version)
        check_subcluster(self.subcluster)
        if not self.vos:
            raise BadInput("at least one VO is needed (--vo, or 'vos' in the site file)")
        for vo in self.vos:
            check_vo(vo)
        object.__setattr__(self, "vos", tuple(dict.fromkeys(self.vos)))


class Outcome(Record):
    """What a run did and found."""

    request: Request
    #: ``verified``, ``broken``, ``incomplete``, ``awaiting-configuration``, ``retired`` or
    #: ``refused``.
    status: str
    release: Release | None
    message: str = ""
    tests: tuple[LocalTestResult, ...] = ()
    installed_now: bool = False
    tags_changed: bool = False
    #: For ``incomplete``: whether the tag is gone (else it was kept for one more run).
    withdrawn: bool = False
    #: Runs in a row whose tests could not complete, this one included.
    incomplete_runs: int = 0
    #: What the admin should know besides (test processes of a killed run, killed now).
    notes: tuple[str, ...] = ()

    @property
    def failed_tests(self) -> tuple[LocalTestResult, ...]:
        return tuple(t for t in self.tests if not t.ok)


class _Run:
    """One run's context: the request, the layout, what was noticed on the way."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.layout = SiteLayout(req.preview_root)
        self.notes: list[str] = []
        self.changed = False
        #: Releases (``"component version"``) whose tests a killed earlier run left running.
        self.interrupted: set[str] = set()

    # -- tags
    def publish(self, release: Release) -> None:
        for vo in self.req.vos:
            tags = [version_tag(vo, release.component, release.version), PREVIEW_CAPABILITY]
            self.changed = (
                _tagsfile.add_tags(self.req.info_dir, self.req.subcluster, vo, tags) or self.changed
            )

    def withdraw(self, component: str, version: str, vos: tuple[str, ...] | list[str]) -> None:
        for vo in dict.fromkeys(vos):
            try:
                tag = version_tag(vo, component, version)
            except BadInput:
                continue  # a hand-edited record: never let it stop a withdrawal
            self.changed = (
                _tagsfile.remove_tags(self.req.info_dir, self.req.subcluster, vo, [tag])
                or self.changed
            )

    def every_vo(self, record: StateRecord | None) -> tuple[str, ...]:
        vos = list(self.req.vos) + list(self.req.site_vos or ())
        if record is not None:
            vos += list(record.vos)
        return tuple(dict.fromkeys(vos))

    def kept_vos(self, record: StateRecord | None) -> tuple[str, ...]:
        """The VOs a record keeps: its own minus those the site file dropped, plus this run's."""
        old = list(record.vos) if record else []
        if self.req.site_vos is not None:
            old = [vo for vo in old if vo in self.req.site_vos]
        return tuple(dict.fromkeys(old + list(self.req.vos)))

    # -- index
    def read_index(self, source: Source) -> Index:
        raw = source.read_small(INDEX_NAME, MAX_INDEX_BYTES)
        where = source.describe(INDEX_NAME)
        if not self.req.public_key:
            return Index.from_json(raw, where)
        from probes._siteconfig import public_key_bytes

        store = TrustStore(self.layout.trust_file, self.req.public_key)
        sig_where = source.describe(SIGNATURE_NAME)
        for attempt in (1, 2):
            try:
                sig = source.read_small(SIGNATURE_NAME, MAX_SIGNATURE_BYTES)
            except FileMissing:
                raise TrustError(
                    f"{where} is not signed (no {SIGNATURE_NAME}) and this site pins the "
                    "repository's public_key"
                ) from None
            try:
                store.check_signature(public_key_bytes(self.req.public_key), raw, sig, sig_where)
                break
            except TrustError:
                if attempt == 2:
                    raise
                # The repository may be between writing the index and its signature: once more.
                time.sleep(1.0)
                raw = source.read_small(INDEX_NAME, MAX_INDEX_BYTES)
        index = Index.from_json(raw, where)
        store.check_serial(index.serial, where)
        store.save()
        return index


def _prepare(run: _Run) -> None:
    layout = run.layout
    layout.prepare_work_dirs()
    killed, run.interrupted = _orphans.reap(layout.running_dir)
    if killed:
        run.notes.append(
            f"killed {len(killed)} test process(es) a killed earlier run left running: "
            + ", ".join(killed[:5])
            + (" ..." if len(killed) > 5 else "")
        )
    leftovers = clean_stale(layout)
    if leftovers:
        _log.info("removed leftovers of an interrupted run: %s", ", ".join(leftovers))


def converge(req: Request) -> Outcome:
    """Do one run for *req* (the caller holds the site lock)."""
    run = _Run(req)
    _prepare(run)
    source = open_source(req.repository, signed=bool(req.public_key), deadline=req.deadline)
    try:
        index = run.read_index(source)
    except TrustError as e:
        return Outcome(req, REFUSED, None, f"{e}; nothing changed", notes=tuple(run.notes))
    layout = run.layout
    state_file = layout.state_file(req.component, req.version)
    try:
        previous = read_state(state_file)
    except BadInput as e:
        _log.info("ignoring an unreadable state record: %s", e)
        previous = None
    try:
        release = index.find(req.component, req.version)
    except NotFound:
        if previous is None or index.extra.get("subset"):
            raise
        return _retire(run, previous, "it is no longer in the repository", None)
    if not release.in_preview:
        return _retire(run, previous, f"its stage is now {release.stage}", release)
    try:
        return _check(run, source, release, previous)
    except (IntegrityError, UnsafePath) as e:
        return Outcome(req, REFUSED, release, f"{e}; nothing installed", tags_changed=run.changed,
                       notes=tuple(run.notes))  # fmt: skip
    except PPSError as e:
        from probes import _install

        if isinstance(e, (_install.NotOurs, _install.NoSpace, _install.HookFailed)):
            return Outcome(req, REFUSED, release, f"{e}; nothing installed",
                           tags_changed=run.changed, notes=tuple(run.notes))  # fmt: skip
        raise


def _check(run: _Run, source: Source, release: Release, previous: StateRecord | None) -> Outcome:
    req, layout = run.req, run.layout
    state_file = layout.state_file(release.component, release.version)
    tree = layout.install_dir(release.component, release.version)
    if previous is not None and previous.sha256 != release.sha256:
        # The index announces another tarball for this version: whatever was verified is not
        # what the index describes any more.  The tag goes before anything is fetched.
        run.withdraw(release.component, release.version, run.every_vo(previous))
        previous = previous.replace(sha256=release.sha256, status=UNTESTED, tests=(),
                           last_verified=None, incomplete_runs=0)  # fmt: skip
        write_state(state_file, previous)
    marker = read_marker(tree) if _lexists(tree) else None
    ours = _owns(tree, previous)
    if _lexists(tree) and not ours:
        raise _not_ours(tree)
    current = ours and marker is not None and marker.get("sha256") == release.sha256
    installed_now = False
    installed_at = previous.installed_at if previous else None
    if current:
        manifest = load_manifest(tree, release)
        _log.info("%s %s is installed at %s", release.component, release.version, tree)
        ensure_env_script(tree, tree, req.profile_d, manifest)
    else:
        from probes import _install  # lazily: unpacking is not the steady state

        _install.check_limits(release, _limits(req))
        _install.component_dir(layout, release.component, create=False)

        def record_tree(ident: str) -> None:
            base = previous or _blank(release, UNTESTED)
            write_state(state_file, base.replace(sha256=release.sha256, status=UNTESTED, tree=ident,
                vos=run.kept_vos(previous), install_dir=str(tree), tests=(), last_verified=None,
                incomplete_runs=0, installed_at=None,
            ))  # fmt: skip

        result = _install.install_release(
            release,
            layout,
            source=source,
            limits=_limits(req),
            profile_d=req.profile_d,
            hook=req.config_hook,
            hook_timeout=max(1.0, req.deadline - time.monotonic() - _MARGIN),
            record_tree=record_tree,
        )
        if isinstance(result, _install.AwaitingConfiguration):
            base = previous or _blank(release, AWAITING_CONFIGURATION)
            write_state(
                state_file,
                base.replace(
                    status=AWAITING_CONFIGURATION,
                    vos=run.kept_vos(previous),
                    install_dir=str(tree),
                ),
            )
            run.withdraw(release.component, release.version, run.every_vo(previous))
            return Outcome(req, AWAITING_CONFIGURATION, release, result.message,
                           tags_changed=run.changed, notes=tuple(run.notes))  # fmt: skip
        manifest, installed_at, installed_now = result.manifest, result.installed_at, True
        previous = read_state(state_file)  # what record_tree wrote
    assert previous is not None or installed_now or current
    record = previous or _blank(release, UNTESTED)
    was_verified = record.status == VERIFIED and not installed_now
    incomplete = record.incomplete_runs
    if release.key in run.interrupted:
        incomplete += 1  # the run before was killed while it was testing
        run.notes.append(f"the previous run was killed while testing ({incomplete} in a row)")
    if incomplete >= INCOMPLETE_LIMIT:
        run.withdraw(release.component, release.version, run.every_vo(record))
        was_verified = False
    before = record
    record = record.replace(incomplete_runs=incomplete, installed_at=installed_at,
                            status=record.status if was_verified else UNTESTED,
                            install_dir=str(tree))  # fmt: skip
    if record != before:  # only then: the steady state writes the record once, at the end
        write_state(state_file, record)

    from probes._localtests import Unreachable, run_local_tests, test_account

    try:
        tests = _tests_or_interrupted(run, record, state_file, lambda: run_local_tests(
            manifest,
            tree,
            scratch_dir=layout.tmp_dir,
            account=test_account(req.test_user),
            running_dir=layout.running_dir,
            label=release.key,
        ))  # fmt: skip
    except Unreachable as e:
        run.withdraw(release.component, release.version, run.every_vo(record))
        write_state(state_file, record.replace(status=UNTESTED))
        return Outcome(req, REFUSED, release, f"{e}; tag withdrawn", tags_changed=run.changed,
                       notes=tuple(run.notes))  # fmt: skip
    failed = any(not t.ok and not t.timed_out for t in tests)
    timed_out = any(t.timed_out for t in tests)
    vos = run.kept_vos(record)
    if failed:
        status, incomplete = BROKEN, 0
    elif timed_out:
        incomplete += 1
        status = VERIFIED if was_verified and incomplete < INCOMPLETE_LIMIT else UNTESTED
    else:
        status, incomplete = VERIFIED, 0
    record = record.replace(status=status, tests=tests, vos=vos, incomplete_runs=incomplete,
                     last_verified=utc_now() if status == VERIFIED and not timed_out
                     else record.last_verified)  # fmt: skip
    write_state(state_file, record)
    if status == VERIFIED and not timed_out:
        run.publish(release)
        if req.site_vos is not None:
            dropped = [vo for vo in run.every_vo(previous) if vo not in req.site_vos]
            run.withdraw(release.component, release.version, dropped)
        outcome_status = VERIFIED
    elif status == VERIFIED:  # timed out once after a verified run: the tag stays, for now
        outcome_status = INCOMPLETE
    else:
        run.withdraw(release.component, release.version, run.every_vo(record))
        outcome_status = BROKEN if failed else INCOMPLETE
    return Outcome(
        req,
        outcome_status,
        release,
        tests=tests,
        installed_now=installed_now,
        tags_changed=run.changed,
        withdrawn=outcome_status == INCOMPLETE and status != VERIFIED,
        incomplete_runs=incomplete,
        notes=tuple(run.notes),
    )


def _tests_or_interrupted(
    run: _Run, record: StateRecord, state_file: Path, tests: Callable[[], Any]
) -> Any:
    """Run *tests*; if the run is stopped meanwhile (its --timeout, SIGTERM), count the run as
    one whose tests could not complete (the second in a row withdraws the tag) before the
    interruption goes on."""
    try:
        return tests()
    except (PPSError, OSError):
        raise
    except Exception:
        incomplete = record.incomplete_runs + 1
        if incomplete >= INCOMPLETE_LIMIT:
            run.withdraw(record.component, record.version, run.every_vo(record))
        status = record.status if incomplete < INCOMPLETE_LIMIT else UNTESTED
        write_state(state_file, record.replace(incomplete_runs=incomplete, status=status))
        raise


def _blank(release: Release, status: str) -> StateRecord:
    return StateRecord(release.component, release.version, release.sha256, status)


def _limits(req: Request) -> Any:
    from probes._install import Limits

    return Limits(req.max_release_bytes, req.max_unpacked_bytes)


def _lexists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


def _owns(tree: Path, record: StateRecord | None) -> bool:
    return owns_tree(tree, record.tree) if record is not None else False


def _not_ours(tree: Path) -> PPSError:
    from probes._install import NotOurs

    return NotOurs(f"{tree} exists and was not installed by pps: not removing or replacing it")


def _retire(run: _Run, record: StateRecord | None, why: str, release: Release | None) -> Outcome:
    """Withdraw the tags of a version that is no longer a preview; remove its tree after the
    grace period, when nothing uses it."""
    req = run.req
    if record is None:  # never installed here: nothing of pps's to withdraw or remove
        return Outcome(req, RETIRED, release, f"{req.component} {req.version} is not a preview "
                       f"any more ({why}); not installed here", notes=tuple(run.notes))  # fmt: skip
    message = retire_record(run, record, why)
    return Outcome(req, RETIRED, release, message, tags_changed=run.changed, notes=tuple(run.notes))


def retire_record(run: _Run, record: StateRecord, why: str) -> str:
    """Retire the version of *record*; one sentence saying what became of it."""
    from probes._retire import grace_left, users_of

    req, layout = run.req, run.layout
    key = f"{record.component} {record.version}"
    run.withdraw(record.component, record.version, run.every_vo(record))
    state_file = layout.state_file(record.component, record.version)
    if record.status != RETIRED:
        record = record.replace(status=RETIRED, retired_at=utc_now())
        write_state(state_file, record)
    tree = layout.install_dir(record.component, record.version)
    said = f"{key} is not a preview any more ({why}): tags withdrawn"
    cache = layout.cache_dir / f"{record.component}-{record.version}.tar.gz"
    if cache.exists():
        cache.unlink()
    if not _lexists(tree):
        state_file.unlink()
        return f"{said}, nothing installed"
    if not _owns(tree, record):
        return f"{said}; {tree} was not installed by pps: left alone"
    left = grace_left(record.retired_at, req.retire_grace)
    if left > 0:
        return f"{said}; the tree goes in {_duration(left)} (grace period)"
    users = users_of(tree)
    if users:
        return f"{said}; the tree stays while in use by {', '.join(users[:3])}"
    remove_tree(tree)
    state_file.unlink()
    return f"{said}, tree removed"


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 90:
        return f"{seconds / 60:.0f}min"
    return f"{seconds:.0f}s"


class CleanupOutcome(Record):
    """What a cleanup run did: one sentence per retired version."""

    request: Request
    retired: tuple[str, ...]
    kept: int
    notes: tuple[str, ...] = ()


def cleanup(req: Request) -> CleanupOutcome:
    """Retire every installed version the (complete) index no longer lists as a preview."""
    run = _Run(req)
    _prepare(run)
    source = open_source(req.repository, signed=bool(req.public_key), deadline=req.deadline)
    index = run.read_index(source)
    if index.extra.get("subset"):
        raise BadInput(
            f"{source.describe(INDEX_NAME)} lists only some releases (a push's index): cleanup "
            "needs the repository's whole index"
        )
    previews = {(r.component, r.version) for r in index.releases if r.in_preview}
    stages = {(r.component, r.version): r.stage for r in index.releases}
    said, kept = [], 0
    for path in iter_state_files(run.layout.state_dir):
        try:
            record = read_state(path)
        except BadInput as e:
            run.notes.append(f"skipped {path}: {e}")
            continue
        if record is None:
            continue
        key = (record.component, record.version)
        if key in previews:
            kept += 1
            continue
        why = (f"its stage is now {stages[key]}" if key in stages
               else "it is no longer in the repository")  # fmt: skip
        said.append(retire_record(run, record, why))
    return CleanupOutcome(req, tuple(said), kept, tuple(run.notes))
