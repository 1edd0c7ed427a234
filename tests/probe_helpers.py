"""Builders shared by the probe tests: repositories, tarballs, sites, probe runs, a web server.

Tarballs are made here with tarfile (members sorted, fixed times) so that the tests do not depend
on the distributor's builder; the index and manifest come from the core APIs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pps.manifest import MANIFEST_NAME, LocalTest, Manifest
from pps.repository import Release, Repository, release_dir, tarball_name

COMPONENT = "fake-client"
VERSION = "1.0.0"
SUBCLUSTER = "ce01.example.org"
VOS = ("dteam", "ops")
#: The script the fake client's tree holds; tests check which copy of it wins on PATH.
FAKE_CLIENT = b'#!/bin/sh\necho "fake-client $FAKE_CLIENT_VERSION"\n'
MTIME = 1_300_000_000


def make_manifest(
    tests: Iterable[tuple[str, str] | tuple[str, str, float]] = (
        ("runs", "fake-client"),
        ("on-path", 'test "$(command -v fake-client)" = "$PPS_PREVIEW_HOME/bin/fake-client"'),
    ),
    *,
    component: str = COMPONENT,
    version: str = VERSION,
    update_class: str = "bc-client",
    setup: str | None = "etc/setup.sh",
    requires_site_config: bool = False,
) -> Manifest:
    return Manifest(
        component=component,
        version=version,
        update_class=update_class,
        release_type="minor",
        tests=tuple(LocalTest(*t) for t in tests),
        setup=setup,
        requires_site_config=requires_site_config,
    )


def default_files(manifest: Manifest) -> dict[str, bytes]:
    files = {"bin/fake-client": FAKE_CLIENT}
    if manifest.setup:
        files[manifest.setup] = (
            f"FAKE_CLIENT_VERSION={manifest.version}\nexport FAKE_CLIENT_VERSION\n".encode()
        )
    return files


def file_member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, MTIME
    return info, data


def special_member(
    name: str, kind: bytes, linkname: str = "", mode: int = 0o644
) -> tuple[tarfile.TarInfo, None]:
    """A non-regular member of type *kind* (``tarfile.SYMTYPE``, ``LNKTYPE``, ``CHRTYPE``...)."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, linkname, mode, MTIME
    return info, None


def write_tarball(
    path: Path,
    manifest: Manifest | None,
    files: dict[str, bytes] | None = None,
    *,
    extra: Sequence[tuple[tarfile.TarInfo, bytes | None]] = (),
) -> None:
    """A gzip tarball holding the manifest, *files* (sorted; ``bin/*`` executable) and *extra*
    members as given (for hostile archives, in their order, after the others)."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    if manifest is not None:
        files = dict(default_files(manifest) if files is None else files)
        files[MANIFEST_NAME] = manifest.to_json()
    for name in sorted(files or {}):
        mode = 0o755 if name.startswith("bin/") else 0o644
        members.append(file_member(name, files[name], mode))  # type: ignore[index]
    members += list(extra)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())


def add_release(
    repo_root: Path,
    manifest: Manifest | None = None,
    files: dict[str, bytes] | None = None,
    *,
    extra: Sequence[tuple[tarfile.TarInfo, bytes | None]] = (),
    component: str = COMPONENT,
    version: str = VERSION,
    update_class: str = "bc-client",
    sha256: str | None = None,
    replace: bool = False,
) -> Release:
    """Put a release in the repository at *repo_root* (``unverified`` stage) and index it.

    *sha256* overrides the checksum the index records (to fake a corrupted download).
    """
    if manifest is None and not extra and files is None:
        manifest = make_manifest(component=component, version=version, update_class=update_class)
    if manifest is not None:
        component, version = manifest.component, manifest.version
        update_class = manifest.update_class.value
    rel = f"{release_dir('unverified', component, version)}/{tarball_name(component, version)}"
    path = repo_root / rel
    write_tarball(path, manifest, files, extra=extra)
    data = path.read_bytes()
    release = Release(
        component=component,
        version=version,
        stage="unverified",
        tarball=rel,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data),
        update_class=update_class,
        release_type="minor",
        created="2024-05-01T12:00:00Z",
    )
    repo = Repository(repo_root)
    index = repo.load()
    if replace:
        index.releases = [
            r for r in index.releases if (r.component, r.version) != (component, version)
        ]
    index.add(release)
    repo.save(index)
    return release


@dataclass(frozen=True)
class Site:
    """A site's directories inside a test's tmp_path."""

    root: Path

    @property
    def preview_root(self) -> Path:
        return self.root / "opt" / "pps" / "preview"

    @property
    def info_dir(self) -> Path:
        return self.root / "var" / "info"

    @property
    def profile_d(self) -> Path:
        return self.root / "etc" / "profile.d"

    @property
    def hook(self) -> Path:
        return self.preview_root / "hooks" / "configure"

    def install_dir(self, component: str = COMPONENT, version: str = VERSION) -> Path:
        return self.preview_root / component / version

    def state(self, component: str = COMPONENT, version: str = VERSION) -> dict:
        path = self.preview_root / ".pps" / "state" / component / f"{version}.json"
        return json.loads(path.read_text())

    def tags_file(self, vo: str, subcluster: str = SUBCLUSTER) -> Path:
        return self.info_dir / subcluster / vo / f"{vo}.list"

    def tags_text(self, vo: str) -> str | None:
        path = self.tags_file(vo)
        return path.read_text() if path.exists() else None

    @property
    def site_file(self) -> Path:
        """The site's site.toml (empty unless a test writes one: then every value comes from
        the flags, and no developer's /etc/pps/site.toml leaks into a test)."""
        return self.root / "etc" / "pps" / "site.toml"

    def write_site_file(self, **values: object) -> Path:
        """A site file for this site: the flags' values, updated with *values* (None drops a
        key)."""
        base: dict[str, object] = {
            "vos": list(VOS),
            "subcluster": SUBCLUSTER,
            "preview_root": str(self.preview_root),
            "info_dir": str(self.info_dir),
            "profile_d": str(self.profile_d),
        }
        base.update(values)
        lines = [f"{k} = {json.dumps(v)}" for k, v in base.items() if v is not None]
        self.site_file.write_text("\n".join(lines) + "\n")
        return self.site_file


def make_site(tmp_path: Path) -> Site:
    site = Site(tmp_path / "site")
    site.profile_d.mkdir(parents=True)
    site.site_file.parent.mkdir(parents=True)
    site.site_file.write_text("")
    return site


def probe_args(
    site: Site,
    repository: str | Path,
    *,
    component: str = COMPONENT,
    version: str = VERSION,
    vos: Sequence[str] | None = VOS,
    timeout: float = 60,
    site_flags: bool = True,
) -> list[str]:
    """The probe's command line for *site*; with ``site_flags=False`` only what a push gives
    when the site has a site file (``vos=None`` drops ``--vo`` too)."""
    args = [
        "--site-config", str(site.site_file),
        "--component", component,
        "--version", version,
        "--repository", str(repository),
        "--timeout", f"{timeout:g}",
    ]  # fmt: skip
    if site_flags:
        args += [
            "--preview-root", str(site.preview_root),
            "--info-dir", str(site.info_dir),
            "--subcluster", SUBCLUSTER,
            "--profile-d", str(site.profile_d),
        ]  # fmt: skip
    for vo in vos or ():
        args += ["--vo", vo]
    return args


def run_module(
    module: str, args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def installed_probe() -> list[str]:
    """The installed ``check_preview_client`` command (beside this Python), as a site runs it;
    ``python -m`` where pps is not installed."""
    script = Path(sys.executable).with_name("check_preview_client")
    return (
        [str(script)] if script.exists() else [sys.executable, "-m", "probes.check_preview_client"]
    )


def run_probe(
    site: Site,
    repository: str | Path,
    *extra: str,
    env: dict[str, str] | None = None,
    **kwargs: object,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``check_preview_client`` for *site* as Nagios would."""
    args = probe_args(site, repository, **kwargs) + list(extra)  # type: ignore[arg-type]
    return subprocess.run(
        [*installed_probe(), *args], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip


def status_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[0] if proc.stdout else ""


def files_under(root: Path) -> list[str]:
    """Every path under *root*, relative and sorted (links not followed)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def environ_without(*names: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(overrides)
    return env
