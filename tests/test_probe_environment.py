"""The preview environment (production profile.d first) and the site's configuration hook."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from tests.probe_helpers import (
    add_release,
    environ_without,
    files_under,
    make_manifest,
    make_site,
    run_probe,
    status_line,
)


def write_script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_profile_d_is_sourced_in_order_before_the_preview_environment(tmp_path: Path) -> None:
    production_bin = tmp_path / "site" / "usr" / "bin"
    write_script(production_bin / "fake-client", "#!/bin/sh\necho production fake-client\n")
    site = make_site(tmp_path)
    write_script(
        site.profile_d / "10-grid.sh",
        f'export GRID_ENV=production\nPATH="{production_bin}:$PATH"\nORDER="$ORDER 10"\n',
        0o644,
    )
    write_script(site.profile_d / "05-first.sh", 'ORDER="05"\n', 0o644)
    write_script(site.profile_d / "README", "echo not a profile script; exit 1\n", 0o644)
    manifest = make_manifest(
        [
            ("production-env", 'test "$GRID_ENV" = production'),
            ("sorted-order", 'test "$ORDER" = "05 10"'),
            ("preview-wins", 'test "$(fake-client)" = "fake-client 1.0.0"'),
            ("ld-path", 'test "$LD_LIBRARY_PATH" = "$PPS_PREVIEW_HOME/lib"'),
            ("python-path", 'test "$PYTHONPATH" = "$PPS_PREVIEW_HOME/lib/python"'),
            ("home", 'test "$PPS_PREVIEW_HOME" = "$(pwd)"'),
        ]
    )
    add_release(tmp_path / "repo", manifest)

    proc = run_probe(site, tmp_path / "repo", env=environ_without("LD_LIBRARY_PATH", "PYTHONPATH"))

    assert proc.returncode == 0, proc.stdout
    assert "6/6 tests passed" in status_line(proc)


def test_preview_goes_in_front_of_existing_search_paths(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    manifest = make_manifest(
        [
            ("ld-path", 'test "$LD_LIBRARY_PATH" = "$PPS_PREVIEW_HOME/lib:/opt/prod/lib"'),
            ("path-first", 'test "${PATH%%:*}" = "$PPS_PREVIEW_HOME/bin"'),
        ]
    )
    add_release(tmp_path / "repo", manifest)

    proc = run_probe(site, tmp_path / "repo", env=environ_without(LD_LIBRARY_PATH="/opt/prod/lib"))

    assert proc.returncode == 0, proc.stdout


def test_missing_profile_d_is_tolerated(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    site.profile_d.rmdir()
    add_release(tmp_path / "repo")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout


def test_env_script_follows_a_changed_profile_d(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    add_release(tmp_path / "repo")
    assert run_probe(site, tmp_path / "repo").returncode == 0
    other = tmp_path / "site" / "etc" / "profile.other"
    other.mkdir()

    proc = run_probe(site, tmp_path / "repo", "--profile-d", str(other))

    assert proc.returncode == 0
    assert f"if [ -d {other} ]; then" in (site.install_dir() / "pps-env.sh").read_text()


HOOK = """#!/bin/sh
set -e
mkdir -p "$1/etc"
cwd_is_arg1=no
[ "$(pwd)" = "$1" ] && cwd_is_arg1=yes
echo "$2 $3 $PPS_COMPONENT $PPS_VERSION $PPS_INSTALL_DIR cwd=$cwd_is_arg1" > "$1/etc/site.conf"
"""


def test_nbc_client_without_hook_awaits_configuration_and_is_not_tagged(tmp_path: Path) -> None:
    manifest = make_manifest(update_class="nbc-client")
    release = add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 1, proc.stdout
    assert re.fullmatch(
        rf"PREVIEW_CLIENT WARNING - awaiting local configuration: create executable "
        rf"{re.escape(str(site.hook))} \| live=0;;;0 size={release.size}B;;;0 time=[\d.]+s;;;0",
        status_line(proc),
    )
    assert not site.install_dir().exists()
    assert site.tags_text("dteam") is None
    assert site.state()["status"] == "awaiting-configuration"
    assert files_under(site.preview_root / ".pps" / "cache") == ["fake-client-1.0.0.tar.gz"]
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_nbc_client_installs_once_the_hook_exists_from_the_cached_tarball(tmp_path: Path) -> None:
    manifest = make_manifest(update_class="nbc-client")
    release = add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 1
    write_script(site.hook, HOOK, 0o644)  # not executable yet
    assert run_probe(site, tmp_path / "repo").returncode == 1
    site.hook.chmod(0o755)
    (tmp_path / "repo" / release.tarball).unlink()  # only the cached copy is left

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed"
    )
    conf = (site.install_dir() / "etc" / "site.conf").read_text()
    assert conf == f"fake-client 1.0.0 fake-client 1.0.0 {site.install_dir()} cwd=yes\n"
    assert site.tags_text("ops") == "VO-ops-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert files_under(site.preview_root / ".pps" / "cache") == []


def test_manifest_asking_for_site_configuration_awaits_the_hook_too(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest(requires_site_config=True))
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 1
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT WARNING - awaiting local configuration: create executable {site.hook} |"
    )
    assert not site.install_dir().exists()
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_failing_hook_is_critical_and_installs_nothing(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest(update_class="nbc-client"))
    site = make_site(tmp_path)
    write_script(site.hook, "#!/bin/sh\necho 'cannot find the site BDII' >&2\nexit 4\n")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - configuration hook {site.hook} exited with 4 "
        "(it said: cannot find the site BDII); nothing installed |"
    )
    assert not site.install_dir().exists()
    assert site.tags_text("dteam") is None
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_hook_given_on_the_command_line_is_used(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest(update_class="nbc-client"))
    site = make_site(tmp_path)
    hook = write_script(tmp_path / "site" / "etc" / "pps" / "configure", HOOK)

    proc = run_probe(site, tmp_path / "repo", "--config-hook", str(hook))

    assert proc.returncode == 0, proc.stdout
    assert (site.install_dir() / "etc" / "site.conf").is_file()


def test_bc_client_never_runs_the_hook(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    write_script(site.hook, '#!/bin/sh\ntouch "$1/hook-ran"\n')

    assert run_probe(site, tmp_path / "repo").returncode == 0

    assert not (site.install_dir() / "hook-ran").exists()
    assert stat.S_IMODE(os.stat(site.hook).st_mode) == 0o755


def test_a_multi_line_test_command_runs_whole_in_the_preview_environment(tmp_path) -> None:
    from probes._localtests import local_test_argv

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "pps-env.sh").write_text("export FROM_ENV=yes\n")
    command = 'echo "first $FROM_ENV"\necho "second $FROM_ENV"  # a comment\n'
    out = subprocess.run(local_test_argv(tree, command), capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "first yes\nsecond yes\n")


def test_no_line_of_a_test_runs_when_the_environment_cannot_be_sourced(tmp_path) -> None:
    from probes._localtests import ENV_FAILED, local_test_argv

    tree = tmp_path / "tree"
    tree.mkdir()  # no pps-env.sh
    out = subprocess.run(
        local_test_argv(tree, "echo first\necho second"), capture_output=True, text=True
    )
    assert (out.returncode, out.stdout) == (ENV_FAILED, "")
    assert "pps: cannot source pps-env.sh" in out.stderr
