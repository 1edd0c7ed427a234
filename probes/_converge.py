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
from pps.record import Record
from pps.repository import Release
from probes._fetch import Source, open_source
from probes._records import (
    AWAITING_CONFIGURATION,
    BROKEN,
    RETIRED,
    UNTESTED,
    VERIFIED,
    LocalTestResult,
    VersionRecord,
    read_record,
    utc_now,
    write_record,
)
from probes._run import (
    INCOMPLETE,
    INCOMPLETE_LIMIT,
    REFUSED,
    NotAnnounced,
    Outcome,
    Request,
    Run,
    lexists,
    not_ours,
    owns,
    prepare,
)
from probes._safefs import UnsafePath
from probes._tree import ensure_env_script, load_manifest, read_marker
from probes._trust import TrustError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_log = logging.getLogger("nagiosplugin." + __name__)

#: Seconds kept back from the run's budget when a hook gets the rest.
_MARGIN = 2.0


def converge(req: Request) -> Outcome:
    """Do one run for *req* (the caller holds the site lock)."""
    if req.uninstall:
        from probes._uninstall import uninstall

        return uninstall(req)
    run = Run(req)
    prepare(run)
    if req.skips(req.component, req.version):
        return _skipped(run)
    source = open_source(req.repository, signed=bool(req.public_key), deadline=req.deadline)
    if req.push_stream:
        from probes._pushed import PushedSource

        source = PushedSource(req.repository, req.deadline)
    try:
        index = run.read_index(source)
    except TrustError as e:
        return run.outcome(REFUSED, None, f"{e}; nothing changed")
    layout = run.layout
    state_file = layout.state_file(req.component, req.version)
    try:
        previous = read_record(state_file)
    except BadInput as e:
        _log.info("ignoring an unreadable state record: %s", e)
        previous = None
    try:
        release = index.find(req.component, req.version)
    except NotFound:
        if previous is None or index.extra.get("subset"):
            raise
        return _retired(run, previous, "it is no longer in the repository", None)
    if not release.in_preview:
        why = "it was withdrawn" if release.withdrawn else f"its stage is now {release.stage}"
        return _retired(run, previous, why, release)
    try:
        return _install_and_test(run, source, release, previous)
    except NotAnnounced as e:
        return run.outcome(REFUSED, release, str(e))
    except (IntegrityError, UnsafePath) as e:
        return run.outcome(REFUSED, release, f"{e}; nothing installed")
    except PPSError as e:
        from probes import _install

        if isinstance(e, _install.HookFailed):
            _record_hook(run, release, previous, e.result)
            return run.outcome(REFUSED, release, f"{e}; nothing installed", hook=e.result)
        if isinstance(e, (_install.NotOurs, _install.NoSpace)):
            return run.outcome(REFUSED, release, f"{e}; nothing installed")
        raise


class Decision(Record):
    """What a run's tests mean for the version (:func:`decide`)."""

    #: The state record's status now: VERIFIED, UNTESTED or BROKEN.
    status: str
    #: Runs in a row whose tests could not complete.
    incomplete_runs: int
    #: The outcome the probe reports: VERIFIED, INCOMPLETE or BROKEN.
    outcome: str
    #: "publish" the tag, "keep" it as it is (for one more run) or "withdraw" it.
    tag: str


def carried_over(status: str, incomplete_runs: int, killed_while_testing: bool) -> tuple[bool, int]:
    """Before the tests run: whether an earlier verdict still stands (its record says
    *status*) and how many runs in a row could not complete, counting the previous one when it
    was killed while testing.  At :data:`INCOMPLETE_LIMIT` the earlier verdict no longer stands
    (the caller withdraws the tag)."""
    incomplete = incomplete_runs + (1 if killed_while_testing else 0)
    return status == VERIFIED and incomplete < INCOMPLETE_LIMIT, incomplete


def decide(was_verified: bool, incomplete_runs: int, failed: bool, timed_out: bool) -> Decision:
    """The status and the tag after the tests: a failing test breaks the version; tests that
    could not complete keep an earlier verdict (and its tag) until the second such run in a
    row; tests that all passed verify it and publish the tag."""
    if failed:
        return Decision(BROKEN, 0, BROKEN, "withdraw")
    if not timed_out:
        return Decision(VERIFIED, 0, VERIFIED, "publish")
    incomplete = incomplete_runs + 1
    if was_verified and incomplete < INCOMPLETE_LIMIT:
        return Decision(VERIFIED, incomplete, INCOMPLETE, "keep")
    return Decision(UNTESTED, incomplete, INCOMPLETE, "withdraw")


def _install_and_test(
    run: Run, source: Source, release: Release, previous: VersionRecord | None
) -> Outcome:
    """Install *release* unless its tree is current, then test it and tag it."""
    state_file = run.layout.state_file(release.component, release.version)
    if previous is not None and previous.sha256 != release.sha256:
        # The index announces another tarball for this version: whatever was verified is not
        # what the index describes any more.  The tag goes before anything is fetched.
        run.withdraw(release.component, release.version, run.every_vo(previous))
        previous = previous.replace(
            sha256=release.sha256, status=UNTESTED, tests=(), last_verified=None, incomplete_runs=0
        )
        write_record(state_file, previous)
    placed = _place_tree(run, source, release, previous)
    if isinstance(placed, Outcome):
        return placed
    return _test_and_tag(run, release, placed)


class _Placed(Record):
    """The tree of a release, in place: its manifest, its record, whether it is new."""

    manifest: Any
    record: VersionRecord | None
    installed_at: Any
    installed_now: bool
    current: bool


def _place_tree(
    run: Run, source: Source, release: Release, previous: VersionRecord | None
) -> _Placed | Outcome:
    """The release's tree: the one there when it came from the same tarball, else a new one
    installed (the Outcome of a release awaiting the site's configuration hook)."""
    req, layout = run.req, run.layout
    state_file = layout.state_file(release.component, release.version)
    tree = layout.install_dir(release.component, release.version)
    marker = read_marker(tree) if lexists(tree) else None
    ours = owns(tree, previous)
    if lexists(tree) and not ours:
        raise not_ours(tree)
    installed_at = previous.installed_at if previous else None
    if ours and marker is not None and marker.get("sha256") == release.sha256:
        manifest = load_manifest(tree, release)
        _log.info("%s %s is installed at %s", release.component, release.version, tree)
        ensure_env_script(tree, tree, req.profile_d, manifest)
        return _Placed(manifest, previous, installed_at, False, True)
    from probes import _install  # lazily: unpacking is not the steady state

    _install.check_limits(release, _limits(req))
    _install.component_dir(layout, release.component, create=False)

    def record_tree(ident: str, hook: LocalTestResult | None) -> None:
        base = previous or _blank(release, UNTESTED)
        write_record(
            state_file,
            base.replace(
                sha256=release.sha256,
                status=UNTESTED,
                tree=ident,
                vos=run.kept_vos(previous),
                install_dir=str(tree),
                tests=(),
                last_verified=None,
                incomplete_runs=0,
                installed_at=None,
                hook=hook,
            ),
        )

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
        write_record(
            state_file,
            base.replace(
                status=AWAITING_CONFIGURATION,
                vos=run.kept_vos(previous),
                install_dir=str(tree),
            ),
        )
        run.withdraw(release.component, release.version, run.every_vo(previous))
        return run.outcome(AWAITING_CONFIGURATION, release, result.message)
    # what record_tree wrote
    return _Placed(result.manifest, read_record(state_file), result.installed_at, True, False)


def _test_and_tag(run: Run, release: Release, placed: _Placed) -> Outcome:
    """Run the release's local tests on the tree in place, record the verdict, tag by it."""
    req, layout = run.req, run.layout
    state_file = layout.state_file(release.component, release.version)
    tree = layout.install_dir(release.component, release.version)
    previous, installed_now = placed.record, placed.installed_now
    record = previous or _blank(release, UNTESTED)
    killed = release.key in run.interrupted
    was_verified, incomplete = carried_over(
        record.status if not installed_now else UNTESTED, record.incomplete_runs, killed
    )
    if killed:  # the run before was killed while it was testing
        run.notes.append(f"the previous run was killed while testing ({incomplete} in a row)")
    if incomplete >= INCOMPLETE_LIMIT:
        run.withdraw(release.component, release.version, run.every_vo(record))
    before = record
    record = record.replace(
        incomplete_runs=incomplete,
        installed_at=placed.installed_at,
        status=record.status if was_verified else UNTESTED,
        install_dir=str(tree),
    )
    if record != before:  # only then: the steady state writes the record once, at the end
        write_record(state_file, record)

    from probes._localtests import Unreachable, run_local_tests, test_account

    so_far: list[LocalTestResult] = []
    try:
        tests = _tests_or_interrupted(
            run,
            record,
            state_file,
            so_far,
            lambda: run_local_tests(
                placed.manifest,
                tree,
                scratch_dir=layout.tmp_dir,
                account=test_account(req.test_user),
                running_dir=layout.running_dir,
                label=release.key,
                results=so_far,
            ),
        )
    except Unreachable as e:
        run.withdraw(release.component, release.version, run.every_vo(record))
        write_record(state_file, record.replace(status=UNTESTED))
        return run.outcome(REFUSED, release, f"{e}; tag withdrawn")
    failed = any(not t.ok and not t.timed_out for t in tests)
    timed_out = any(t.timed_out for t in tests)
    decision = decide(was_verified, incomplete, failed, timed_out)
    record = record.replace(
        status=decision.status,
        tests=tests,
        vos=run.kept_vos(record),
        incomplete_runs=decision.incomplete_runs,
        last_verified=utc_now() if decision.tag == "publish" else record.last_verified,
    )
    write_record(state_file, record)
    if decision.tag == "publish":
        run.publish(release)
        if req.site_vos is not None:
            dropped = [vo for vo in run.every_vo(previous) if vo not in req.site_vos]
            run.withdraw(release.component, release.version, dropped)
    elif decision.tag == "withdraw":
        run.withdraw(release.component, release.version, run.every_vo(record))
    return run.outcome(
        decision.outcome,
        release,
        tests=tests,
        installed_now=installed_now,
        withdrawn=decision.outcome == INCOMPLETE and decision.tag == "withdraw",
        incomplete_runs=decision.incomplete_runs,
    )


def _tests_or_interrupted(
    run: Run,
    record: VersionRecord,
    state_file: Path,
    so_far: list[LocalTestResult],
    tests: Callable[[], Any],
) -> Any:
    """Run *tests*; if the run is stopped meanwhile (its --timeout, SIGTERM), count the run as
    one whose tests could not complete (the second in a row withdraws the tag) and record the
    tests *so_far* (the one stopped included, with its output) before the interruption goes
    on."""
    try:
        return tests()
    except (PPSError, OSError):
        raise
    except Exception:
        incomplete = record.incomplete_runs + 1
        if incomplete >= INCOMPLETE_LIMIT:
            run.withdraw(record.component, record.version, run.every_vo(record))
        status = record.status if incomplete < INCOMPLETE_LIMIT else UNTESTED
        done = tuple(so_far) or record.tests
        write_record(
            state_file, record.replace(incomplete_runs=incomplete, status=status, tests=done)
        )
        raise


def _blank(release: Release, status: str) -> VersionRecord:
    return VersionRecord(release.component, release.version, release.sha256, status)


def _limits(req: Request) -> Any:
    from probes._install import Limits

    return Limits(req.max_release_bytes, req.max_unpacked_bytes)


def _record_hook(
    run: Run, release: Release, previous: VersionRecord | None, hook: LocalTestResult
) -> None:
    """Keep a failed configuration hook's run (its output above all) in the version's state
    record: what was there stays there (nothing was installed), the hook's run is new."""
    state_file = run.layout.state_file(release.component, release.version)
    try:
        current = read_record(state_file)  # a new tarball's withdrawal may have rewritten it
    except BadInput:
        current = previous
    base = current or _blank(release, AWAITING_CONFIGURATION)
    write_record(state_file, base.replace(hook=hook, vos=run.kept_vos(current)))


def _skipped(run: Run) -> Outcome:
    """A version the site file opts out of: never installed or tagged; retired if it was (its
    tags at once, its tree after the grace period).  The repository is not even read."""
    req = run.req
    key = f"{req.component} {req.version}"
    state_file = run.layout.state_file(req.component, req.version)
    try:
        record = read_record(state_file)
    except BadInput as e:
        _log.info("ignoring an unreadable state record: %s", e)
        record = None
    if record is None:
        return run.outcome(RETIRED, None, f"{key} skipped ({req.skip_reason}): not installed here")
    from probes._retire import retire_record

    said = retire_record(run, record, req.skip_reason, headline=f"{key} skipped")
    return run.outcome(RETIRED, None, said)


def _retired(run: Run, record: VersionRecord | None, why: str, release: Release | None) -> Outcome:
    from probes._retire import retire

    return retire(run, record, why, release)
