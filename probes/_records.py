"""State records: what the probe last concluded about one installed version.

One JSON file per version, ``<preview_root>/.pps/state/<component>/<version>.json``, written
atomically at the end of every run that got as far as an install decision.  The GIP provider
reads them to publish broken versions in GLUE 2.0; people read them to see why a tag went away
(each test keeps the tail of its output, and so does the site's configuration hook, in ``hook``,
when it ran for the version).  Times are UTC, ISO 8601 with a ``Z``.
"""

from __future__ import annotations

import time
from pathlib import Path

from pps import jsonfile
from pps.errors import BadInput
from pps.fsutil import atomic_write
from pps.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

FORMAT = "pps-site-state/1"
#: Installed, and its tests passed on the last run that completed them.
VERIFIED = "verified"
#: Installed, and a test failed.
BROKEN = "broken"
#: Needs the site's configuration hook first (non backward compatible clients): not installed.
AWAITING_CONFIGURATION = "awaiting-configuration"
#: Installed (or being put in place) but never tested to the end.
UNTESTED = "untested"
#: No longer a preview: tags withdrawn; the tree goes after the grace period.
RETIRED = "retired"
STATUSES = (VERIFIED, BROKEN, AWAITING_CONFIGURATION, UNTESTED, RETIRED)


def utc_now() -> str:
    """The current time as the records write it (``2024-05-01T12:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class LocalTestResult(Record):
    """How one manifest test (or the site's configuration hook) went at the site."""

    name: str
    ok: bool
    #: The command's exit status; ``None`` when it was killed for running out of time.
    exit_code: int | None
    seconds: float
    output_tail: str = ""
    timed_out: bool = False
    #: The test's own time limit, kept to say "timed out after N s".
    timeout: float = 0.0
    #: Why the probe stopped while the test ran (its --timeout, a signal): the test could not
    #: complete, and its output so far is in *output_tail*.
    stopped: str = ""

    @property
    def verdict(self) -> str:
        """``passed``, ``failed (exit N)`` or ``timed out after N s``."""
        if self.ok:
            return "passed"
        if self.stopped:
            return f"stopped after {self.seconds:g}s ({self.stopped})"
        if self.timed_out:
            return f"timed out after {self.timeout:g}s"
        return f"failed (exit {self.exit_code})"


class VersionRecord(Record):
    """The probe's last word on one version at this site."""

    component: str
    version: str
    sha256: str
    status: str
    installed_at: str | None = None
    last_verified: str | None = None
    vos: tuple[str, ...] = ()
    tests: tuple[LocalTestResult, ...] = ()
    install_dir: str = ""
    #: ``"<st_dev>:<st_ino>"`` of the tree pps put at *install_dir*: pps removes or replaces only
    #: a tree it recorded creating.
    tree: str = ""
    #: Runs in a row whose tests could not complete (a test's timeout, or the run was killed).
    incomplete_runs: int = 0
    retired_at: str | None = None
    #: The configuration hook's last run for this version (non backward compatible clients).
    hook: LocalTestResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _not_compared = frozenset({"extra"})

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise BadInput(f"state {self.status!r} is not one of: {', '.join(STATUSES)}")

    def to_json(self) -> bytes:
        data: dict[str, Any] = {"format": FORMAT, **self.extra}
        data.update(
            component=self.component,
            version=self.version,
            sha256=self.sha256,
            status=self.status,
            installed_at=self.installed_at,
            last_verified=self.last_verified,
            vos=list(self.vos),
            tests=[t.as_dict() for t in self.tests],
            install_dir=self.install_dir,
            tree=self.tree,
            incomplete_runs=self.incomplete_runs,
            retired_at=self.retired_at,
        )
        if self.hook is not None:
            data["hook"] = self.hook.as_dict()
        return jsonfile.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str, source: str = "state record") -> VersionRecord:
        data = jsonfile.loads_object(raw, source)
        if data.get("format") != FORMAT:
            raise BadInput(f"{source} is not a {FORMAT} record")
        known = {"format", "component", "version", "sha256", "status", "installed_at"}
        known |= {"last_verified", "vos", "tests", "install_dir", "tree", "incomplete_runs"}
        known |= {"retired_at", "hook"}
        try:
            tests = tuple(_result(t) for t in data.get("tests") or [])
            hook = data.get("hook")
            return cls(
                component=str(data["component"]),
                version=str(data["version"]),
                sha256=str(data["sha256"]),
                status=data["status"],
                installed_at=data.get("installed_at"),
                last_verified=data.get("last_verified"),
                vos=tuple(str(v) for v in data.get("vos") or ()),
                tests=tests,
                install_dir=str(data.get("install_dir", "")),
                tree=str(data.get("tree") or ""),
                incomplete_runs=int(data.get("incomplete_runs") or 0),
                retired_at=data.get("retired_at"),
                hook=_result(hook) if hook is not None else None,
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"{source} is incomplete or malformed: {e}") from None


def _result(t: dict[str, Any]) -> LocalTestResult:
    return LocalTestResult(
        name=t["name"],
        ok=bool(t["ok"]),
        exit_code=t.get("exit_code"),
        seconds=float(t.get("seconds", 0.0)),
        output_tail=str(t.get("output_tail", "")),
        timed_out=bool(t.get("timed_out", False)),
        timeout=float(t.get("timeout", 0.0)),
        stopped=str(t.get("stopped", "")),
    )


def read_record(path: Path) -> VersionRecord | None:
    """The record at *path*, ``None`` if there is none (BadInput if it is unreadable)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return VersionRecord.from_json(raw, str(path))


def write_record(path: Path, record: VersionRecord) -> None:
    atomic_write(path, record.to_json())


def iter_record_files(state_dir: Path) -> Iterator[Path]:
    """Every record file under *state_dir* (``<component>/<version>.json``), sorted."""
    if not state_dir.is_dir():
        return
    for comp_dir in sorted(state_dir.iterdir()):
        if comp_dir.is_dir() and not comp_dir.name.startswith("."):
            for path in sorted(comp_dir.glob("*.json")):
                if not path.name.startswith("."):
                    yield path
