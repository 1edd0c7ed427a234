"""pps never removes or rewrites what it did not make, and runs a release's tests with no rights.

The ledger is the state record: a tree at ``<preview_root>/<component>/<version>`` is pps's only
if it carries pps's install marker *and* the state record names it (device and inode); a
component directory only if pps marked it when it made it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.probe_helpers import (
    Site,
    add_release,
    file_member,
    files_under,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
    special_member,
    status_line,
)

NOT_OURS = "exists and was not installed by pps: not removing or replacing it; nothing installed"


def _site_with_foreign(tmp_path: Path, kind: str):
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    comp = site.preview_root / "fake-client"
    comp.mkdir(parents=True)
    (comp / ".pps-component").write_text("made by pps\n")  # the component dir is pps's
    target = comp / "1.0.0"
    if kind == "directory":
        target.mkdir()
        (target / "site-data").write_text("the site's own\n")
    elif kind == "file":
        target.write_text("the site's own\n")
    elif kind == "symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "precious").write_text("keep me\n")
        target.symlink_to(elsewhere)
    return site, target


@pytest.mark.parametrize("kind", ["directory", "file", "symlink"])
def test_a_path_pps_did_not_make_is_never_replaced(tmp_path: Path, kind: str) -> None:
    site, target = _site_with_foreign(tmp_path, kind)
    before = files_under(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(f"PREVIEW_CLIENT CRITICAL - {target} {NOT_OURS} |")
    assert os.path.lexists(target)
    if kind == "symlink":
        assert target.is_symlink()
        assert (tmp_path / "elsewhere" / "precious").read_text() == "keep me\n"
    new = [p for p in files_under(tmp_path) if p not in before]
    assert [p for p in new if "/.pps/" not in p and not p.endswith("/.pps")] == []
    assert site.tags_text("dteam") is None


def test_a_forged_install_marker_does_not_make_a_tree_pps_s(tmp_path: Path) -> None:
    """A marker copied into a directory is not enough: the state record must name the tree."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    marker = (site.install_dir() / ".pps-install.json").read_bytes()
    other = site.preview_root / "fake-client" / "impostor"
    other.mkdir()
    (other / ".pps-install.json").write_bytes(marker)
    # the site swaps its own directory in, marker and all
    shutil.rmtree(site.install_dir())
    other.rename(site.install_dir())

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert NOT_OURS in status_line(proc)
    assert files_under(site.install_dir()) == [".pps-install.json"]


def test_a_component_directory_pps_did_not_make_is_not_installed_into(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    comp = site.preview_root / "fake-client"
    comp.mkdir(parents=True)
    (comp / "README").write_text("the site's own directory\n")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - {comp} exists and was not made by pps: not installing into "
        "it; nothing installed |"
    )
    assert files_under(comp) == ["README"]


def test_the_component_name_hooks_is_reserved_for_the_site(tmp_path: Path) -> None:
    from pps.errors import BadInput
    from pps.names import check_component

    with pytest.raises(BadInput, match=r"component 'Hooks' is reserved"):
        check_component("Hooks")


def test_a_stale_tree_of_pps_s_own_is_replaced_and_the_tag_withdrawn_first(tmp_path: Path) -> None:
    """A new tarball for an installed version: the tag goes before anything is fetched; a
    download that fails its checksum leaves the old tree, untagged, and the state untested."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    old_tree = site.install_dir().stat().st_ino
    files = {"bin/fake-client": b"#!/bin/sh\necho fake-client 1.0.0 rebuilt\n", "etc/setup.sh": b""}
    release = add_release(tmp_path / "repo", make_manifest(), files, replace=True)
    good = (tmp_path / "repo" / release.tarball).read_bytes()
    (tmp_path / "repo" / release.tarball).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))

    broken = run_probe(site, tmp_path / "repo")

    assert broken.returncode == 2
    assert "checksum mismatch for fake-client 1.0.0" in status_line(broken)
    assert site.tags_text("dteam") == "PPS-PREVIEW\n"
    assert site.tags_text("ops") == "PPS-PREVIEW\n"
    assert site.install_dir().stat().st_ino == old_tree
    assert site.state()["status"] == "untested"
    assert site.state()["sha256"] == release.sha256

    (tmp_path / "repo" / release.tarball).write_bytes(good)
    fixed = run_probe(site, tmp_path / "repo")

    assert fixed.returncode == 0, fixed.stdout
    assert site.install_dir().stat().st_ino != old_tree
    assert "rebuilt" in (site.install_dir() / "bin" / "fake-client").read_text()
    assert "VO-dteam-PPS-fake-client-1.0.0" in site.tags_text("dteam")
    assert files_under(site.preview_root / ".pps" / "tmp") == []


# -- the tests run as the site's test_user, the hook as root


def test_local_tests_run_as_nobody_with_a_scratch_home(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches to test_user only when it runs as root")
    manifest = make_manifest(
        [
            ("as-nobody", 'test "$(id -un)" = nobody && test "$USER" = nobody'),
            ("no-groups", 'test "$(id -G)" = "$(id -g)"'),
            ("scratch-home", 'test "$HOME" != /root && test -w "$HOME" && touch "$HOME/x"'),
        ]
    )
    add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout + json.dumps(site.state()["tests"])
    assert files_under(site.preview_root / ".pps" / "tmp") == []  # the scratch home is gone


@pytest.mark.parametrize(
    "attack",
    [
        'echo evil > "$PPS_PREVIEW_HOME/bin/fake-client"',
        'echo evil > "$PREVIEW/fake-client/1.0.0/bin/fake-client"',
        'echo EVIL-TAG >> "$INFO/ce01.example.org/dteam/dteam.list"',
        'mkdir "$PREVIEW/fake-client/3.0"',
        'echo x > "$PREVIEW/.pps/state/fake-client/1.0.0.json"',
    ],
    ids=["own-tree", "another-version", "tags-file", "new-version", "state-record"],
)
def test_a_test_cannot_write_the_trees_the_tags_or_the_state(tmp_path: Path, attack: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches to test_user only when it runs as root")
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0  # 1.0.0: tagged, recorded
    command = f"INFO={site.info_dir}; PREVIEW={site.preview_root}; {attack}"
    add_release(tmp_path / "repo", make_manifest([("attack", command)], version="2.0"))
    watched = [p for p in tmp_path.rglob("*") if p.is_file() and "2.0" not in p.parts]
    snapshot = {p: p.read_bytes() for p in watched if ".pps/state/fake-client/2.0" not in str(p)}

    proc = run_probe(site, tmp_path / "repo", version="2.0")

    assert proc.returncode == 2, proc.stdout
    assert "test attack failed" in status_line(proc)
    assert [str(p) for p in snapshot if p.read_bytes() != snapshot[p]] == []
    assert not (site.preview_root / "fake-client" / "3.0").exists()


def test_the_configuration_hook_runs_as_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    add_release(tmp_path / "repo", make_manifest(update_class="nbc-client"))
    site = make_site(tmp_path)
    site.hook.parent.mkdir(parents=True, exist_ok=True)
    site.hook.write_text('#!/bin/sh\nid -u > "$1/hook-uid"\n')
    site.hook.chmod(0o755)

    assert run_probe(site, tmp_path / "repo").returncode == 0

    assert (site.install_dir() / "hook-uid").read_text() == "0\n"


# -- sane modes


def test_installed_trees_have_sane_modes_whatever_the_tarball_or_umask_says(tmp_path: Path) -> None:
    extra = [
        special_member("share", tarfile.DIRTYPE, mode=0o777),
        file_member("share/data", b"data", 0o666),
        file_member("share/tool", b"#!/bin/sh\n", 0o777),
        file_member("deep/implicit/dirs/file", b"x", 0o600),
    ]
    add_release(tmp_path / "repo", make_manifest(), extra=extra)
    site = make_site(tmp_path)
    proc = subprocess.run(
        ["sh", "-c", 'umask 077; exec "$@"', "sh", *run_probe_argv(site, tmp_path / "repo")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout
    tree = site.install_dir()
    for path in [tree, *tree.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if path.is_dir():
            assert mode == 0o755, path
        else:
            assert mode in (0o644, 0o755), (path, oct(mode))
    assert stat.S_IMODE((tree / "share" / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((tree / "deep" / "implicit" / "dirs" / "file").stat().st_mode) == 0o644
    for d in (site.preview_root, site.preview_root / "fake-client", site.preview_root / ".pps"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d


def run_probe_argv(site: Site, repository: Path) -> list[str]:
    return [sys.executable, "-m", "probes.check_preview_client", *probe_args(site, repository)]


def test_a_pool_account_can_source_the_preview_environment(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another account")
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    (site.profile_d / "grid.sh").write_text("export GRID_SITE=yes\n")
    subprocess.run(
        ["sh", "-c", 'umask 077; exec "$@"', "sh", *run_probe_argv(site, tmp_path / "repo")],
        check=True, capture_output=True,
    )  # fmt: skip
    env_script = site.install_dir() / "pps-env.sh"

    as_nobody = subprocess.run(
        ["bash", "-c", f'. {env_script} && echo "$GRID_SITE $(fake-client)"'],
        user="nobody", group="nogroup", extra_groups=[], capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin"}, cwd="/",
    )  # fmt: skip

    assert as_nobody.returncode == 0, as_nobody.stderr
    assert as_nobody.stdout == "yes fake-client 1.0.0\n"


def test_a_tree_the_test_user_cannot_reach_is_refused_with_the_reason(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches to test_user only when it runs as root")
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    (site.root / "opt").mkdir(mode=0o700)
    (site.root / "opt").chmod(0o700)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - the tests run as nobody, who cannot reach {site.root / 'opt'}"
        " (mode 0700); grid jobs could not either: make the preview root and its parents "
        "searchable by all (chmod o+x); tag withdrawn |"
    )
    assert site.tags_text("dteam") is None
