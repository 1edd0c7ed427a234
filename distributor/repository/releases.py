"""Creating releases in the repository's ``unverified/`` stage.

``create_release`` is the whole of ``pps release create``: check every input first, build the
tarball in memory, then under the repository lock write tarball, checksum and manifest (each
atomically) and record the release in ``index.json`` last.  A crash before the index write leaves
only orphan files that the next attempt overwrites; an existing release is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from pathlib import Path

from distributor.repository.signing import load_key, sign_index
from distributor.repository.tarball import build_tarball, write_checksum
from pps import tomlfile
from pps.classes import ReleaseType, UpdateClass
from pps.errors import BadInput
from pps.fsutil import atomic_write
from pps.manifest import LocalTest, Manifest
from pps.names import check_component, check_version
from pps.repository import Release, Repository, manifest_name, release_dir, tarball_name
from pps.text import is_link_url

#: The file in a source tree that may list the local tests (and the setup script).
TESTS_FILE = "pps-tests.toml"


def load_tests_file(path: Path) -> tuple[list[LocalTest], str | None]:
    """Read ``pps-tests.toml``: ``setup = "..."`` and ``[[tests]] name/command/timeout``."""
    try:
        data = tomlfile.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read {path}: {e}") from None
    except tomlfile.TomlError as e:
        raise BadInput(f"{path}: {e}") from None
    unknown = set(data) - {"setup", "tests"}
    if unknown:
        raise BadInput(f"{path}: unknown key {sorted(unknown)[0]!r} (known: setup, tests)")
    tests = []
    raw_tests = data.get("tests", [])
    if not isinstance(raw_tests, list):
        raise BadInput(f"{path}: 'tests' must be an array of tables ([[tests]])")
    for i, t in enumerate(raw_tests):
        if not isinstance(t, dict):
            raise BadInput(f"{path}: tests[{i}] must be a table")
        extra = set(t) - {"name", "command", "timeout"}
        if extra:
            raise BadInput(f"{path}: tests[{i}]: unknown key {sorted(extra)[0]!r}")
        if "name" not in t or "command" not in t:
            raise BadInput(f"{path}: tests[{i}] needs 'name' and 'command'")
        tests.append(LocalTest(t["name"], t["command"], t.get("timeout", 300.0)))
    setup = data.get("setup")
    if setup is not None and not isinstance(setup, str):
        raise BadInput(f"{path}: 'setup' must be a path string")
    return tests, setup


def create_release(
    repo: Repository,
    component: str,
    version: str,
    *,
    source: Path,
    update_class: UpdateClass | str,
    release_type: ReleaseType | str,
    tests: Iterable[LocalTest] = (),
    setup: str | None = None,
    notes_url: str = "",
    feedback_url: str = "",
    embargo: bool = False,
    now: _dt.datetime | None = None,
    signing_key: Path | None = None,
) -> Release:
    """Build *source* into a new release of *component* *version* in ``unverified/``.

    With *signing_key* the new index is signed (``index.json.sig``)."""
    # One piece: the release is checked, built, recorded in the index and signed, in that
    # order: each step needs what the one before made, and the order is read whole.
    check_component(component)
    check_version(version)
    uclass = UpdateClass.parse(str(update_class))
    rtype = ReleaseType.parse(str(release_type))
    source = Path(source)
    if not source.is_dir():
        raise BadInput(f"--from {str(source)!r} does not exist or is not a directory")
    for what, url in (("notes URL", notes_url), ("feedback URL", feedback_url)):
        if url and not is_link_url(url):  # what the bulletin links, and nothing else
            raise BadInput(f"{what} {url!r} must be an http(s) URL with a host or "
                           "mailto:local@domain")  # fmt: skip
    all_tests = list(tests)
    tests_file = source / TESTS_FILE
    if tests_file.is_file():
        file_tests, file_setup = load_tests_file(tests_file)
        all_tests = file_tests + all_tests
        setup = setup or file_setup
    if setup is not None and not (source / setup).is_file():
        raise BadInput(f"setup script {setup!r} is not a file in {source}")
    manifest = Manifest(
        component=component,
        version=version,
        update_class=uclass,
        release_type=rtype,
        tests=tuple(all_tests),
        setup=setup,
    )
    if not repo.index_path.is_file():
        raise BadInput(
            f"{repo.root} is not a pps repository (no {repo.index_path.name}): create it with "
            "'pps repo init'"
        )
    key = None
    if signing_key is not None:
        key = load_key(signing_key)  # a bad key is refused before anything is written
    with repo.locked():
        index = repo.load()
        index.check_new(component, version)
        built = build_tarball(source, manifest)
        rel_dir = release_dir("unverified", component, version)
        tar_rel = f"{rel_dir}/{tarball_name(component, version)}"
        man_rel = f"{rel_dir}/{manifest_name(component, version)}"
        atomic_write(repo.path_of(tar_rel), built.data)
        write_checksum(
            repo.path_of(tar_rel + ".sha256"), built.sha256, tarball_name(component, version)
        )
        atomic_write(repo.path_of(man_rel), manifest.to_json())
        stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        release = Release(
            component=component,
            version=version,
            stage="unverified",
            tarball=tar_rel,
            sha256=built.sha256,
            size=built.size,
            update_class=uclass,
            release_type=rtype,
            created=stamp,
            manifest=man_rel,
            notes_url=notes_url,
            feedback_url=feedback_url,
            embargo=embargo,
            unpacked_size=built.unpacked_size,
        )
        index.add(release)
        data = repo.save(index)
        if key is not None:
            sign_index(repo, key, data)
    return release
