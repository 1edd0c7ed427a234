"""The job wrapper (jdl_templates/pps-run.sh) on a real site tree, run as an unprivileged user.

The site is installed by the real probe (check_preview_client) from a local repository; the job
runs the shipped wrapper with ``sh`` and ``dash`` as ``nobody`` when the tests run as root (as a
pool account would), else as the test's own user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jdl_templates.jobs import WRAPPER, WRAPPER_PATH, wrapper_text
from tests.probe_helpers import (
    COMPONENT,
    VERSION,
    Site,
    add_release,
    make_manifest,
    make_site,
    run_probe,
)
from tests.realparts import require

SHELLS = ["sh", "dash"]
SPEC = f"{COMPONENT}/{VERSION}"


def as_job_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = require("setpriv", "util-linux")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def installed_site(tmp_path: Path, manifest_tests: list[tuple[str, str]] | None = None) -> Site:
    site = make_site(tmp_path)
    manifest = make_manifest(manifest_tests) if manifest_tests is not None else None
    add_release(tmp_path / "repo", manifest)
    proc = run_probe(site, tmp_path / "repo")
    assert proc.returncode in (0, 2), proc.stdout
    assert (site.install_dir() / "pps-env.sh").is_file()
    return site


def job_dir(tmp_path: Path) -> Path:
    d = tmp_path / "job"
    d.mkdir()
    d.chmod(0o777)
    (d / WRAPPER).write_text(wrapper_text())
    (d / WRAPPER).chmod(0o755)
    return d


def run_job(
    shell: str, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    binary = require(shell, "dash")
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [*as_job_user(), binary, WRAPPER, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return installed_site(tmp_path)


def test_wrapper_is_posix_sh() -> None:
    for shell in SHELLS:
        binary = require(shell, "dash")
        assert subprocess.run([binary, "-n", str(WRAPPER_PATH)], check=False).returncode == 0


@pytest.mark.parametrize("shell", SHELLS)
def test_found_through_the_site_variable_runs_the_program_in_the_preview(
    shell: str, site: Site, tmp_path: Path
) -> None:
    job = job_dir(tmp_path)
    proc = run_job(
        shell, job, SPEC, "--", "fake-client", env={"PPS_PREVIEW_ROOT": str(site.preview_root)}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"fake-client {VERSION}\n"  # the preview's copy, its setup sourced
    assert proc.stderr == (f"pps-run.sh: using {COMPONENT} {VERSION} from {site.install_dir()}\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_arguments_reach_the_program_unchanged_and_its_exit_code_is_the_jobs(
    shell: str, site: Site, tmp_path: Path
) -> None:
    job = job_dir(tmp_path)
    prog = job / "prog.sh"
    prog.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\nexit 3\n')
    prog.chmod(0o644)  # shipped files may lose their x bit: the wrapper restores it
    if os.geteuid() == 0:
        os.chown(prog, 65534, 65534)  # the sandbox belongs to the job's account
    hostile = ["a b", "it's", '"q"', "$(id)", "x;y&z", "#", ")(", ""]
    proc = run_job(shell, job, "-r", str(site.preview_root), SPEC, "--", "./prog.sh", *hostile)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "".join(f"[{a}]\n" for a in hostile)


def test_found_through_the_htcondor_machine_ad(site: Site, tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    ad = job / ".machine.ad"
    ad.write_text(f'Arch = "X86_64"\nPPS_PREVIEW_ROOT = "{site.preview_root}"\nPPS_RTE = "x"\n')
    ad.chmod(0o644)
    proc = run_job("sh", job, SPEC, "--", "fake-client", env={"_CONDOR_MACHINE_AD": str(ad)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"fake-client {VERSION}\n"


def test_self_test_runs_the_manifests_local_tests(site: Site, tmp_path: Path) -> None:
    require("python3", "python3")
    job = job_dir(tmp_path)
    proc = run_job("sh", job, "--self-test", SPEC, env={"PPS_PREVIEW_ROOT": str(site.preview_root)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [x for x in lines if x.startswith(("PASS", "FAIL"))] == ["PASS runs", "PASS on-path"]
    assert lines[-1] == "2 of 2 local tests passed"
    assert f"fake-client {VERSION}" in lines  # the test "runs" ran the preview's copy


@pytest.mark.parametrize("shell", SHELLS)
def test_absent_preview_is_exit_66_in_one_line(shell: str, site: Site, tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    env = {"PPS_PREVIEW_ROOT": str(site.preview_root)}
    proc = run_job(shell, job, f"{COMPONENT}/9.9", "--", "fake-client", env=env)
    assert proc.returncode == 66
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"pps-run.sh: {COMPONENT} 9.9 is not installed at this site "
        f"(no {site.preview_root}/{COMPONENT}/9.9)"
    ]


@pytest.mark.parametrize("shell", SHELLS)
def test_no_preview_root_is_exit_65(shell: str, tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    proc = run_job(shell, job, SPEC, "--", "true")
    assert proc.returncode == 65
    assert "does not publish PPS_PREVIEW_ROOT" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    proc = run_job(shell, job, SPEC, "--", "true", env={"PPS_PREVIEW_ROOT": str(tmp_path / "no")})
    assert proc.returncode == 65
    assert "is not a directory" in proc.stderr


def test_tree_without_env_script_is_broken_exit_67(site: Site, tmp_path: Path) -> None:
    (site.install_dir() / "pps-env.sh").unlink()
    job = job_dir(tmp_path)
    env = {"PPS_PREVIEW_ROOT": str(site.preview_root)}
    proc = run_job("dash", job, SPEC, "--", "fake-client", env=env)
    assert proc.returncode == 67
    assert "has no pps-env.sh or install marker" in proc.stderr
    assert proc.stdout == ""


def test_failing_env_script_is_broken_exit_67(site: Site, tmp_path: Path) -> None:
    env_script = site.install_dir() / "pps-env.sh"
    env_script.write_text(env_script.read_text() + ". /nonexistent/setup.sh\n")
    job = job_dir(tmp_path)
    env = {"PPS_PREVIEW_ROOT": str(site.preview_root)}
    proc = run_job("sh", job, SPEC, "--", "fake-client", env=env)
    assert proc.returncode == 67
    assert proc.stderr.splitlines() == [
        f"pps-run.sh: {COMPONENT} {VERSION} is broken at this site: "
        f"{site.install_dir()}/pps-env.sh fails"
    ]


def test_version_whose_tests_failed_is_broken_exit_67(tmp_path: Path) -> None:
    site = installed_site(tmp_path, [("fails", "false")])
    job = job_dir(tmp_path)
    env = {"PPS_PREVIEW_ROOT": str(site.preview_root)}
    proc = run_job("sh", job, SPEC, "--", "fake-client", env=env)
    assert proc.returncode == 67
    assert "its local tests failed" in proc.stderr


def test_missing_program_is_exit_68(site: Site, tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    env = {"PPS_PREVIEW_ROOT": str(site.preview_root)}
    proc = run_job("sh", job, SPEC, "--", "no-such-program", env=env)
    assert proc.returncode == 68
    assert "program no-such-program is not on PATH" in proc.stderr
    proc = run_job("sh", job, SPEC, "--", "./missing.sh", env=env)
    assert proc.returncode == 68


@pytest.mark.parametrize(
    "args",
    [
        [],
        [SPEC],
        [SPEC, "--"],
        ["../etc/x", "--", "true"],
        ["fake-client/1.0/../..", "--", "true"],
        ["fake-client", "--", "true"],
        ["a/$(id)", "--", "true"],
        ["-r"],
    ],
    ids=repr,
)
def test_bad_usage_is_exit_64(args: list[str], site: Site, tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    proc = run_job("sh", job, *args, env={"PPS_PREVIEW_ROOT": str(site.preview_root)})
    assert proc.returncode == 64, proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_wrapper_ships_as_package_data() -> None:
    assert WRAPPER_PATH.name == WRAPPER
    assert wrapper_text().startswith("#!/bin/sh\n")
    assert shutil.which("sh")
