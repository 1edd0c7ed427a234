"""The tarball manifest: what a preview tarball is and how a site tests it.

It travels inside the tarball (``MANIFEST_NAME`` at the root, so the tarball's sha256 covers it)
and beside it in the repository for people to read.  A site reads the copy inside the verified
tarball, never the loose one.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pps import jsonfile
from pps.classes import ReleaseType, UpdateClass
from pps.errors import BadInput
from pps.names import check_component, check_version
from pps.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Name of the manifest inside the tarball (at the root of the tree).
MANIFEST_NAME = ".pps-manifest.json"
FORMAT = "pps-manifest/1"
DEFAULT_TEST_TIMEOUT = 300.0
MAX_TEST_TIMEOUT = 3600.0
_TEST_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


class LocalTest(Record):
    """One local test: a shell command run in the preview environment at the site.

    The command passes when it exits 0 within ``timeout`` seconds.
    """

    name: str
    command: str
    timeout: float = DEFAULT_TEST_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TEST_NAME_RE.match(self.name):
            raise BadInput(
                f"test name {self.name!r} is not valid: use letters, digits, '.', '_' and '-'"
            )
        if not isinstance(self.command, str) or not self.command.strip():
            raise BadInput(f"test {self.name!r} has an empty command")
        if "\0" in self.command:
            raise BadInput(f"test {self.name!r} has a NUL byte in its command")
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= MAX_TEST_TIMEOUT:
            raise BadInput(
                f"test {self.name!r} timeout {t!r} must be a number of seconds in "
                f"(0, {MAX_TEST_TIMEOUT:g}]"
            )

    @classmethod
    def parse_option(cls, text: str) -> LocalTest:
        """Parse the CLI form ``NAME=COMMAND``."""
        name, sep, command = text.partition("=")
        if not sep:
            raise BadInput(f"--test {text!r} must look like NAME=COMMAND")
        return cls(name.strip(), command.strip())


def check_identity(record: Any) -> None:
    """Check a release record's component and version, and make its update class and release
    type the enums (a frozen record: set in place); shared by the manifest and the index."""
    check_component(record.component)
    check_version(record.version)
    object.__setattr__(record, "update_class", UpdateClass.parse(str(record.update_class)))
    object.__setattr__(record, "release_type", ReleaseType.parse(str(record.release_type)))


class Manifest(Record):
    """Describes one preview tarball."""

    component: str
    version: str
    update_class: UpdateClass
    release_type: ReleaseType
    tests: tuple[LocalTest, ...] = ()
    #: Script inside the tree (relative path) sourced after the site's production profile.d.
    setup: str | None = None
    #: Non backward compatible: the site must run its local configuration hook first.
    requires_site_config: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    _not_compared = frozenset({"extra"})

    def __post_init__(self) -> None:
        check_identity(self)
        object.__setattr__(self, "tests", tuple(self.tests))
        names = [t.name for t in self.tests]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BadInput(f"test name {dupes[0]!r} is used twice")
        if self.setup is not None:
            p = PurePosixPath(self.setup)
            if not self.setup or p.is_absolute() or ".." in p.parts:
                raise BadInput(f"setup script {self.setup!r} must be a relative path in the tree")
        if self.update_class.needs_site_config and not self.requires_site_config:
            object.__setattr__(self, "requires_site_config", True)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "format": FORMAT,
            "component": self.component,
            "version": self.version,
            "update_class": self.update_class.value,
            "release_type": self.release_type.value,
            "setup": self.setup,
            "requires_site_config": self.requires_site_config,
            "tests": [t.as_dict() for t in self.tests],
        }
        d.update(self.extra)
        return d

    def to_json(self) -> bytes:
        """Canonical bytes: sorted keys, so the same manifest always packs the same."""
        return jsonfile.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        if not isinstance(data, dict):
            raise BadInput("manifest is not a JSON object")
        if data.get("format") != FORMAT:
            raise BadInput(f"manifest format {data.get('format')!r} is not {FORMAT!r}")
        known = {
            "format",
            "component",
            "version",
            "update_class",
            "release_type",
            "setup",
            "requires_site_config",
            "tests",
        }
        try:
            tests = data.get("tests") or []
            if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
                raise BadInput("manifest 'tests' must be a list of objects")
            return cls(
                component=data["component"],
                version=data["version"],
                update_class=data["update_class"],
                release_type=data["release_type"],
                tests=tuple(
                    LocalTest(t.get("name"), t.get("command"), t.get("timeout", 300.0))
                    for t in tests
                ),
                setup=data.get("setup"),
                requires_site_config=bool(data.get("requires_site_config", False)),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except KeyError as e:
            raise BadInput(f"manifest is missing the field {e.args[0]!r}") from None

    @classmethod
    def from_json(cls, raw: bytes | str) -> Manifest:
        return cls.from_dict(jsonfile.loads_object(raw, "manifest"))
