"""One probe run's work: bring the site in line with the repository for one release.

Read the index; install the release unless the tree already there came from the same tarball;
run its local tests; record the verdict; publish or withdraw the version's tag for each VO.  The
caller holds the site lock for the whole run.  Errors that mean "cannot tell" (repository
unreachable, unknown release, a corrupt index) are raised and change nothing; outcomes a site
admin must act on (checksum mismatch, unsafe tarball, failed hook, awaiting configuration, a
failing test) come back as an :class:`Outcome`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pps.errors import BadInput, IntegrityError
from pps.names import (
    PREVIEW_CAPABILITY,
    check_component,
    check_subcluster,
    check_version,
    check_vo,
    version_tag,
)
from pps.repository import Release
from probes import _tagsfile
from probes._fetch import discard, open_source
from probes._localtests import run_local_tests
from probes._site import SiteLayout, clean_tmp
from probes._state import (
    AWAITING_CONFIGURATION,
    BROKEN,
    VERIFIED,
    LocalTestResult,
    StateRecord,
    read_state,
    utc_now,
    write_state,
)
from probes._tree import ensure_env_script, installed_manifest

_log = logging.getLogger("nagiosplugin." + __name__)

#: Outcome status when the release was not installed because something in it is wrong.
REFUSED = "refused"
#: Seconds kept back from the run's budget when a hook gets the rest.
_MARGIN = 2.0


@dataclass(frozen=True)
class Request:
    """What the probe was asked to converge (its command line, checked)."""

    component: str
    version: str
    repository: str
    preview_root: Path
    info_dir: Path
    subcluster: str
    vos: tuple[str, ...]
    profile_d: Path
    config_hook: Path
    #: ``time.monotonic()`` by which the whole run must be over.
    deadline: float = float("inf")

    def __post_init__(self) -> None:
        check_component(self.component)
        check_version(self.version)
        check_subcluster(self.subcluster)
        if not self.vos:
            raise BadInput("at least one --vo is needed")
        for vo in self.vos:
            check_vo(vo)
        object.__setattr__(self, "vos", tuple(dict.fromkeys(self.vos)))


@dataclass(frozen=True)
class Outcome:
    """What a run did and found."""

    request: Request
    #: ``verified``, ``broken``, ``awaiting-configuration`` or ``refused``.
    status: str
    release: Release
    message: str = ""
    tests: tuple[LocalTestResult, ...] = ()
    installed_now: bool = False
    tags_changed: bool = False

    @property
    def failed_tests(self) -> tuple[LocalTestResult, ...]:
        return tuple(t for t in self.tests if not t.ok)


def converge(req: Request) -> Outcome:
    """Do one run for *req* (the caller holds the site lock)."""
    layout = SiteLayout(req.preview_root)
    leftovers = clean_tmp(layout)
    if leftovers:
        _log.info("removed leftovers of an interrupted run: %s", ", ".join(leftovers))
    source = open_source(req.repository)
    release = source.read_index().find(req.component, req.version)
    tree = layout.install_dir(release.component, release.version)
    state_file = layout.state_file(release.component, release.version)
    try:
        previous = read_state(state_file)
    except BadInput as e:
        _log.info("ignoring an unreadable state record: %s", e)
        previous = None

    found = installed_manifest(tree, release)
    installed_now = False
    if found is not None:
        manifest, installed_at = found
        _log.info("%s %s is installed at %s", release.component, release.version, tree)
        ensure_env_script(tree, tree, req.profile_d, manifest)
    else:
        from probes import _install  # lazily: unpacking pulls tarfile, the steady state not

        try:
            tarball = source.fetch(release, layout.cache_dir)
            result = _install.install_release(
                tarball,
                release,
                layout,
                profile_d=req.profile_d,
                hook=req.config_hook,
                hook_timeout=max(1.0, req.deadline - time.monotonic() - _MARGIN),
            )
        except (IntegrityError, _install.HookFailed) as e:
            if isinstance(e, IntegrityError):
                discard(layout.cache_dir / Path(release.tarball).name)
            return Outcome(req, REFUSED, release, f"{e}; nothing installed")
        if isinstance(result, _install.AwaitingConfiguration):
            # The verified tarball stays cached: the next run does not download it again.
            record = StateRecord(
                release.component,
                release.version,
                release.sha256,
                AWAITING_CONFIGURATION,
                vos=req.vos,
                install_dir=str(tree),
            )
            write_state(state_file, record)
            changed = _withdraw(req, release, previous)
            return Outcome(
                req, AWAITING_CONFIGURATION, release, result.message, tags_changed=changed
            )
        discard(tarball)
        manifest, installed_at, installed_now = result.manifest, result.installed_at, True

    tests = run_local_tests(manifest, tree, scratch_dir=layout.tmp_dir)
    verified = all(t.ok for t in tests)
    record = StateRecord(
        release.component,
        release.version,
        release.sha256,
        VERIFIED if verified else BROKEN,
        installed_at=installed_at or None,
        last_verified=utc_now(),
        vos=req.vos,
        tests=tests,
        install_dir=str(tree),
    )
    write_state(state_file, record)
    if verified:
        changed = _publish(req, release)
        dropped = [vo for vo in previous.vos if vo not in req.vos] if previous else []
        if dropped:  # a VO the site no longer serves must not keep the tag
            changed = _withdraw_for(req, release, dropped) or changed
    else:
        changed = _withdraw(req, release, previous)
    return Outcome(
        req,
        record.status,
        release,
        tests=tests,
        installed_now=installed_now,
        tags_changed=changed,
    )


def _publish(req: Request, release: Release) -> bool:
    changed = False
    for vo in req.vos:
        tags = [version_tag(vo, release.component, release.version), PREVIEW_CAPABILITY]
        changed = _tagsfile.add_tags(req.info_dir, req.subcluster, vo, tags) or changed
    return changed


def _withdraw(req: Request, release: Release, previous: StateRecord | None) -> bool:
    """Take the version tag away for the VOs of this run and of the previous record."""
    vos = list(req.vos)
    if previous is not None:
        vos += [vo for vo in previous.vos if vo not in vos]
    return _withdraw_for(req, release, vos)


def _withdraw_for(req: Request, release: Release, vos: list[str]) -> bool:
    changed = False
    for vo in vos:
        try:
            tag = version_tag(vo, release.component, release.version)
        except BadInput:
            continue  # a hand-edited record: never let it stop a withdrawal
        changed = _tagsfile.remove_tags(req.info_dir, req.subcluster, vo, [tag]) or changed
    return changed
