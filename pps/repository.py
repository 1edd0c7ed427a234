"""The preview repository: a directory of static files and its ``index.json``.

Layout (any web server, or a plain directory, serves it)::

    index.json
    <stage>/<component>/<version>/<component>-<version>.tar.gz
    <stage>/<component>/<version>/<component>-<version>.tar.gz.sha256
    <stage>/<component>/<version>/<component>-<version>.manifest.json

``index.json`` is ``{"format": "pps-index/1", "serial": N, "releases": [...]}``; each release
records where its tarball is (relative to the repository root), its sha256, size and unpacked
size, its classes, dates and URLs.  ``serial`` grows by one at every write, so a site that pins the
repository's signing key can refuse an older index (a rollback).  No two releases may publish the
same tag, in any spelling (:func:`pps.names.release_tag_key`).  Fields this version does not know
are kept on a round trip, so an older tool never drops what a newer one wrote.  The index is
written atomically under a lock; ``index.json.sig`` beside it (written by the distributor) is a
detached Ed25519 signature over its exact bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pps import jsonfile
from pps.classes import ReleaseType, UpdateClass
from pps.errors import AlreadyExists, BadInput, NotFound
from pps.fsutil import atomic_write, locked
from pps.manifest import check_identity
from pps.names import check_component, check_version, release_tag_key
from pps.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INDEX_NAME = "index.json"
#: The detached signature of ``index.json`` (Ed25519 over its exact bytes).
SIGNATURE_NAME = "index.json.sig"
INDEX_FORMAT = "pps-index/1"
LOCK_NAME = ".index.lock"

#: Repository stages, in the order a release moves through them.
STAGES = ("unverified", "staged-rollout", "production")
#: Stages whose releases are previews: installed at sites beside production and tagged.  A
#: release in ``production`` (or gone from the index) is retired at the sites.
PREVIEW_STAGES = ("unverified", "staged-rollout")


def release_dir(stage: str, component: str, version: str) -> str:
    """Directory of a release inside the repository, relative to its root."""
    if stage not in STAGES:
        raise BadInput(f"stage {stage!r} is not one of: {', '.join(STAGES)}")
    return f"{stage}/{check_component(component)}/{check_version(version)}"


def tarball_name(component: str, version: str) -> str:
    return f"{component}-{version}.tar.gz"


def manifest_name(component: str, version: str) -> str:
    return f"{component}-{version}.manifest.json"


class Release(Record):
    """One release as the index records it."""

    component: str
    version: str
    stage: str
    tarball: str
    sha256: str
    size: int
    update_class: UpdateClass
    release_type: ReleaseType
    created: str = ""
    manifest: str = ""
    notes_url: str = ""
    feedback_url: str = ""
    embargo: bool = False
    #: Bytes the tarball's files add up to once unpacked (0: not recorded).
    unpacked_size: int = 0
    #: Taken out of preview ('pps remove', a rejection): sites retire it.
    withdrawn: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    _not_compared = frozenset({"extra"})

    def __post_init__(self) -> None:
        check_identity(self)
        if self.stage not in STAGES:
            raise BadInput(f"stage {self.stage!r} is not one of: {', '.join(STAGES)}")
        _check_relpath(self.tarball, "tarball")
        if self.manifest:
            _check_relpath(self.manifest, "manifest")
        sha = self.sha256
        if not (
            isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
        ):
            raise BadInput(f"sha256 {sha!r} of {self.key} is not 64 lower-case hex digits")
        for name in ("size", "unpacked_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput(f"{name} {value!r} of {self.key} is not a byte count")

    @property
    def in_preview(self) -> bool:
        """Whether sites should carry this release as a preview (its stage is a preview one)."""
        return self.stage in PREVIEW_STAGES and not self.withdrawn

    @property
    def tag_key(self) -> str:
        return release_tag_key(self.component, self.version)

    @property
    def key(self) -> str:
        return f"{self.component} {self.version}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in self._fields:
            if name == "extra":
                continue
            v = getattr(self, name)
            d[name] = v.value if isinstance(v, (UpdateClass, ReleaseType)) else v
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Release:
        if not isinstance(data, dict):
            raise BadInput("an index entry is not a JSON object")
        names = set(cls._fields) - {"extra"}
        try:
            kwargs = {k: data[k] for k in names if k in data}
            return cls(**kwargs, extra={k: v for k, v in data.items() if k not in names})
        except TypeError as e:
            raise BadInput(f"index entry {data.get('component')!r} is incomplete: {e}") from None


#: A path inside the repository: segments of a safe alphabet, none empty or starting with '.'
#: (so no '.', '..' or hidden names), joined by '/'.  Whatever a site joins it to (a directory,
#: an http(s) URL), it names a file below the repository and nothing else: no NUL, no control
#: character, no '?', '#', '%' or '\\'.
_RELPATH = re.compile(r"[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*(?:/[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*)*")
_MAX_RELPATH = 1024


def _check_relpath(path: object, what: str) -> None:
    if not (isinstance(path, str) and len(path) <= _MAX_RELPATH and _RELPATH.fullmatch(path)):
        raise BadInput(
            f"{what} path {path!r} is not a relative path inside the repository (segments of "
            "letters, digits, '.', '_', '+', '-', '~', not starting with '.', joined by '/')"
        )


class Index:
    """All releases of a repository."""

    def __init__(
        self, releases: list[Release] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        self.releases: list[Release] = list(releases or [])
        self.extra: dict[str, Any] = dict(extra or {})

    def find(self, component: str, version: str) -> Release:
        """The release *component* *version*, or NotFound naming what exists instead."""
        check_component(component)
        check_version(version)
        for r in self.releases:
            if r.component == component and r.version == version:
                return r
        known = sorted(r.version for r in self.releases if r.component == component)
        if known:
            raise NotFound(
                f"no release {component} {version} in the repository "
                f"(known versions of {component}: {', '.join(known)})"
            )
        comps = sorted({r.component for r in self.releases})
        hint = f" (known components: {', '.join(comps)})" if comps else " (it has no releases)"
        raise NotFound(f"no component {component!r} in the repository{hint}")

    @property
    def serial(self) -> int:
        """How many times the index was written (0 for one that never carried a serial)."""
        value = self.extra.get("serial", 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def check_new(self, component: str, version: str) -> None:
        """AlreadyExists if *component* *version* is here, or another release would publish the
        same tags (tags compare case-insensitively)."""
        key = release_tag_key(component, version)
        for r in self.releases:
            if r.component == component and r.version == version:
                raise AlreadyExists(
                    f"release {r.key} already exists (stage {r.stage}); "
                    "releases are never overwritten: make a new version"
                )
            if r.tag_key == key:
                raise AlreadyExists(
                    f"release {component} {version} would publish the same tags as {r.key} "
                    "(tags compare case-insensitively): choose another version"
                )

    def add(self, release: Release) -> None:
        """Add a new release; an existing one is never overwritten, and no two releases may
        publish the same tag in any spelling."""
        self.check_new(release.component, release.version)
        self.releases.append(release)

    def replace(self, release: Release) -> None:
        """Swap the record of an existing release (same component and version)."""
        for i, r in enumerate(self.releases):
            if r.component == release.component and r.version == release.version:
                self.releases[i] = release
                return
        raise NotFound(f"no release {release.key} in the repository")

    def to_json(self) -> bytes:
        data = {"format": INDEX_FORMAT, **self.extra}
        data["releases"] = [
            r.to_dict() for r in sorted(self.releases, key=lambda r: (r.component, r.version))
        ]
        return jsonfile.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str, source: str = "index.json") -> Index:
        data = jsonfile.loads_object(raw, source)
        if not isinstance(data.get("releases"), list):
            raise BadInput(f"{source} has no 'releases' list")
        fmt = data.get("format", INDEX_FORMAT)
        if fmt != INDEX_FORMAT:
            raise BadInput(f"{source} format {fmt!r} is not {INDEX_FORMAT!r}")
        extra = {k: v for k, v in data.items() if k not in ("format", "releases")}
        serial = extra.get("serial", 0)
        if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
            raise BadInput(f"{source} serial {serial!r} is not a whole number >= 0")
        releases = [Release.from_dict(r) for r in data["releases"]]
        seen: dict[str, Release] = {}
        for r in releases:
            other = seen.setdefault(r.tag_key, r)
            if other is r:
                continue
            if other.key == r.key:
                raise BadInput(f"{source}: {r.key} is listed twice")
            raise BadInput(
                f"{source}: {other.key} and {r.key} would publish the same tags "
                "(tags compare case-insensitively)"
            )
        return cls(releases, extra)


class Repository:
    """A repository on a local file system (the release manager's side)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def load(self) -> Index:
        """The current index (an empty one for a repository not created yet)."""
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return Index()
        return Index.from_json(raw, str(self.index_path))

    def locked(self) -> Any:
        """Hold the repository's write lock (``with repo.locked(): ...``)."""
        return locked(self.root / LOCK_NAME)

    def save(self, index: Index) -> bytes:
        """Write *index* with its serial one higher than before; the bytes written (what a
        signature must cover).  Call with the lock held."""
        index.extra["serial"] = max(index.serial, self.load().serial) + 1
        data = index.to_json()
        atomic_write(self.index_path, data)
        return data

    def path_of(self, relpath: str) -> Path:
        _check_relpath(relpath, "repository")
        return self.root / relpath


def with_stage(release: Release, stage: str) -> Release:
    """The same release moved to *stage* (paths follow the stage directory)."""
    old = release_dir(release.stage, release.component, release.version)
    new = release_dir(stage, release.component, release.version)
    move = lambda p: p.replace(old, new, 1) if p.startswith(old + "/") else p  # noqa: E731
    return release.replace(
        stage=stage, tarball=move(release.tarball), manifest=move(release.manifest)
    )
