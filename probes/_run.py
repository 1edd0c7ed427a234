"""One probe run's context: what it was asked, where the site keeps things, what it noticed.

:class:`Request` is the checked site file and command line; :class:`Outcome` is what a run of
one version found; :class:`Run` carries a run's layout, its notes and the tag edits it made, and
reads (and trusts) the repository's index.  :mod:`probes._converge` does one version,
:mod:`probes._retire` what is no longer a preview.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from pps.errors import BadInput, PPSError
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
from probes._fetch import MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES, FileMissing, Source
from probes._records import LocalTestResult, VersionRecord
from probes._site import SiteLayout, clean_stale
from probes._tree import owns_tree
from probes._trust import TrustError, TrustStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_log = logging.getLogger("nagiosplugin." + __name__)

#: Outcome status when nothing was installed because something is wrong (see the message).
REFUSED = "refused"
#: Outcome status when the tests could not complete (see ``Outcome.withdrawn``).
INCOMPLETE = "incomplete"
#: Runs in a row whose tests cannot complete before the tag goes.
INCOMPLETE_LIMIT = 2


class NotAnnounced(PPSError):
    """A verified version one of the site's publishers could not announce: the others took it
    back (a tag, an RTE and a machine attribute never disagree)."""


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
    #: The tarball comes on stdin from the push running the probe (probes/_pushed.py).
    push_stream: bool = False
    #: The site file the run read ("" without one), named in what the admin is told to change.
    site_file: str = ""
    #: ``"COMPONENT VERSION"`` of each version the site opts out of (the site file's ``skip``).
    skip: tuple[str, ...] = ()
    #: Take pps off the site (``--uninstall``) instead of converging a version.
    uninstall: bool = False
    #: Where a verified version is announced (the site file's ``publish``: probes/_publish.py).
    publish: tuple[str, ...] = ("tags",)
    arc_conf: str = "/etc/arc.conf"
    arcctl: str = "/usr/sbin/arcctl"
    arc_runtimedir: str = ""
    condor_config: str = ""
    condor_reconfig: str = "/usr/sbin/condor_reconfig"

    def __post_init__(self) -> None:
        if self.component or self.version:
            check_component(self.component)
            check_version(self.version)
        check_subcluster(self.subcluster)
        if not self.vos and not self.uninstall:  # --uninstall cleans every VO's tags file
            raise BadInput("at least one VO is needed (--vo, or 'vos' in the site file)")
        for vo in self.vos:
            check_vo(vo)
        object.__setattr__(self, "vos", tuple(dict.fromkeys(self.vos)))

    def skips(self, component: str, version: str) -> bool:
        """Whether the site file opts out of *component* *version*."""
        return f"{component} {version}" in self.skip

    @property
    def skip_reason(self) -> str:
        return f"this site opts out of it: skip in {self.site_file or 'the site file'}"


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
    #: The configuration hook's run, when it ran and failed (the long output shows it).
    hook: LocalTestResult | None = None
    #: What the publishers said besides, for the status line (not a warning: a pool to be
    #: reconfigured by hand...).
    said: tuple[str, ...] = ()

    @property
    def failed_tests(self) -> tuple[LocalTestResult, ...]:
        return tuple(t for t in self.tests if not t.ok)


class Run:
    """One run's context: the request, the layout, what was noticed on the way."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.layout = SiteLayout(req.preview_root)
        self.notes: list[str] = []
        self.changed = False
        #: Releases (``"component version"``) whose tests a killed earlier run left running.
        self.interrupted: set[str] = set()
        self._publishers: list[Any] | None = None

    def outcome(
        self, status: str, release: Release | None, message: str = "", **more: Any
    ) -> Outcome:
        """The run's :class:`Outcome`: with the tag changes and notes made so far."""
        said: tuple[str, ...] = ()
        if self._publishers is not None:
            from probes._publish import said as publishers_said

            said = tuple(publishers_said(self._publishers))
        return Outcome(self.req, status, release, message, tags_changed=self.changed,
                       notes=tuple(self.notes), said=said, **more)  # fmt: skip

    # -- tags, and the other publishers the site file names (probes/_publish.py)
    def publishers(self) -> list[Any] | None:
        """The site's publishers, ``None`` for a tags-only site (its runs load none of them)."""
        req = self.req
        if req.publish == ("tags",):
            return None
        if self._publishers is None:
            from probes._publish import publishers

            self._publishers = publishers(
                req.publish,
                info_dir=str(req.info_dir),
                subcluster=req.subcluster,
                preview_root=str(req.preview_root),
                arc_conf=req.arc_conf,
                arcctl=req.arcctl,
                arc_runtimedir=req.arc_runtimedir,
                condor_config=req.condor_config,
                condor_reconfig=req.condor_reconfig,
                deadline=req.deadline,
            )
        return self._publishers

    def publish(self, release: Release) -> None:
        pubs = self.publishers()
        if pubs is not None:
            from probes._publish import each

            try:
                changed = each(pubs, "publish", release.component, release.version, self.req.vos)
            except (PPSError, OSError) as e:
                said = os_error_line(e, self.req) if isinstance(e, OSError) else str(e)
                kinds = ", ".join(p.kind for p in pubs)
                self.changed = True
                raise NotAnnounced(
                    f"{release.key} verified, but it could not be announced: {said}; taken back "
                    f"from every publisher ({kinds})"
                ) from None
            self.changed = changed or self.changed
            return
        for vo in self.req.vos:
            tags = [version_tag(vo, release.component, release.version), PREVIEW_CAPABILITY]
            self.changed = (
                _tagsfile.add_tags(self.req.info_dir, self.req.subcluster, vo, tags) or self.changed
            )

    def withdraw(
        self, component: str, version: str, vos: tuple[str, ...] | list[str], *,
        retire: bool = False,
    ) -> None:  # fmt: skip
        """Stop announcing *component* *version* to *vos* (*retire*: it is no preview any more).
        A withdrawal for every VO this run tags for is the version's own (the tree's verdict);
        one for other VOs only (the site file dropped them) leaves what serves every VO at once
        (the ARC RTE) as it is."""
        pubs = self.publishers()
        if pubs is not None:
            from probes._publish import each

            vos = list(dict.fromkeys(vos))
            whole = set(self.req.vos) <= set(vos)
            action = "retire" if retire else "withdraw"
            changed = each(pubs, action, component, version, vos, whole=whole)
            self.changed = changed or self.changed
            return
        for vo in dict.fromkeys(vos):
            try:
                tag = version_tag(vo, component, version)
            except BadInput:
                continue  # a hand-edited record: never let it stop a withdrawal
            self.changed = (
                _tagsfile.remove_tags(self.req.info_dir, self.req.subcluster, vo, [tag])
                or self.changed
            )

    def every_vo(self, record: VersionRecord | None) -> tuple[str, ...]:
        vos = list(self.req.vos) + list(self.req.site_vos or ())
        if record is not None:
            vos += list(record.vos)
        return tuple(dict.fromkeys(vos))

    def kept_vos(self, record: VersionRecord | None) -> tuple[str, ...]:
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


def prepare(run: Run) -> None:
    """Start a run (the caller holds the site lock): work directories, what a killed run left."""
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


def os_error_line(e: OSError, req: Request | None) -> str:
    """The one line a run stopped by *e* says: for a permission the probe's account lacks,
    which path, and what to do (:mod:`probes._denied`)."""
    path = os.fsdecode(e.filename) if e.filename else ""
    if e.errno not in (errno.EACCES, errno.EPERM) or not os.path.isabs(path) or req is None:
        return f"{e.strerror or e}" + (f": {path}" if path else "")
    from probes._denied import write_line

    return write_line(path, req)


def lexists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


def owns(tree: Path, record: VersionRecord | None) -> bool:
    return owns_tree(tree, record.tree) if record is not None else False


def not_ours(tree: Path) -> PPSError:
    from probes._install import NotOurs

    return NotOurs(f"{tree} exists and was not installed by pps: not removing or replacing it")
