"""How the probe starts a local test: spawned, not forked, and with exactly the rights it had.

A fork of the probe copies the page tables of the whole interpreter and write-protects every page
it then touches: 2 to 3 ms of a steady-state run.  The probe spawns the test (``posix_spawn``, a
vfork) and, running as root, gives it the test account by lending it its real ids around the
spawn (``POSIX_SPAWN_RESETIDS``), or else with ``setpriv`` (an exec more); these tests hold that
the test still sees what it did when the probe forked, whichever way: its account (real,
effective, saved and file-system ids, no supplementary groups, no ambient capabilities), its
directory, stdin from /dev/null, SIGPIPE and SIGXFSZ back to their defaults, its own session;
and that the probe has its own ids back.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

import pytest

from probes import _process
from tests.probe_helpers import (
    add_release,
    installed_probe,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
)
from tests.realparts import require

#: What the test writes about itself: ids, groups, ignored signals, directory, stdin, session.
REPORT = (
    'grep -E "^(Uid|Gid|Groups|SigIgn):" /proc/self/status > OUT; pwd >> OUT; '
    "readlink /proc/self/fd/0 >> OUT; ps -o sid= -p $$ >> OUT; echo $$ >> OUT"
)
SIGPIPE, SIGXFSZ = 13, 25


def report_of(lines: list[str]) -> dict[str, str]:
    fields = dict(line.split(":", 1) for line in lines[:4])
    return {k: " ".join(v.split()) for k, v in fields.items()} | {
        "cwd": lines[4], "stdin": lines[5], "sid": lines[6].strip(), "pid": lines[7].strip()
    }  # fmt: skip


def ignored(sigign_hex: str) -> set[int]:
    mask = int(sigign_hex, 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def writable_report(tmp_path: Path) -> tuple[Path, str]:
    """A file any account can write, and the test command that writes the report to it."""
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    return out / "report", REPORT.replace("OUT", str(out / "report"))


def test_a_local_test_runs_with_the_test_accounts_ids_only_in_its_own_session(
    tmp_path: Path,
) -> None:
    report, command = writable_report(tmp_path)
    add_release(tmp_path / "repo", make_manifest([("report", command)]))
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = report_of(report.read_text().splitlines())
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.geteuid(), os.getegid()
    assert got["Uid"] == f"{uid} {uid} {uid} {uid}"  # real, effective, saved, file system
    assert got["Gid"] == f"{gid} {gid} {gid} {gid}"
    if os.geteuid() == 0:
        assert got["Groups"] == ""
    assert ignored(got["SigIgn"]) & {SIGPIPE, SIGXFSZ} == set()
    assert got["cwd"] == str(site.install_dir())
    assert got["stdin"] == "/dev/null"
    assert got["sid"] != str(os.getsid(0))


def test_a_local_test_is_spawned_not_forked(tmp_path: Path) -> None:
    strace = require("strace", "strace")
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0  # installs; the next run re-tests
    trace = tmp_path / "trace"

    proc = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o", str(trace),
         *installed_probe(), *probe_args(site, tmp_path / "repo")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe_pid = trace.read_text().split()[0]
    made = [
        ln
        for ln in trace.read_text().splitlines()
        if ln.startswith(probe_pid + " ") and re.search(r"\b(clone3?|v?fork)\(", ln)
    ]
    assert len(made) == 2  # the release's two local tests, nothing else
    assert [ln for ln in made if "CLONE_VM" not in ln or "CLONE_VFORK" not in ln] == []


def test_a_local_test_run_as_the_test_account_costs_one_exec_no_helper(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches accounts only when it runs as root")
    strace = require("strace", "strace")
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0  # installs; the next run re-tests
    trace = tmp_path / "trace"

    proc = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", str(trace),
         *installed_probe(), *probe_args(site, tmp_path / "repo")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout + proc.stderr
    execs = [
        re.search(r'execve\("([^"]+)"', ln).group(1)  # type: ignore[union-attr]
        for ln in trace.read_text().splitlines()
        if re.search(r'execve\("[^"]+", .*\) = 0', ln)
    ]
    # the probe itself, then each of the release's two tests: bash, and what the test runs
    tests_execs = [os.path.basename(e) for e in execs[1:] if not e.startswith(str(site.root))]
    assert tests_execs == ["bash", "bash"]


def spawn_report(tmp_path: Path, user: tuple[int, int] | None) -> dict[str, str]:
    report, command = writable_report(tmp_path)
    done = _process.run_bounded(
        ["bash", "-c", command], cwd=tmp_path, env=dict(os.environ), timeout=30, user=user
    )
    assert done.exit_code == 0, done.output_tail
    return report_of(report.read_text().splitlines())


@pytest.mark.parametrize("way", ["lent ids", "setpriv", "fork"])
def test_every_way_of_starting_a_command_gives_it_the_same_rights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches accounts only when it runs as root")
    if way != "lent ids":
        monkeypatch.setattr(_process, "_may_lend_ids", lambda: False)
    if way == "fork":
        monkeypatch.setattr(_process, "_SETPRIV", ())
    nobody = pwd.getpwnam("nobody")
    tmp_path.chmod(0o777)
    here = os.getcwd()
    ids = (os.getresuid(), os.getresgid(), os.getgroups())

    got = spawn_report(tmp_path, (nobody.pw_uid, nobody.pw_gid))

    uid, gid = nobody.pw_uid, nobody.pw_gid
    assert (got["Uid"], got["Gid"], got["Groups"]) == (f"{uid} {uid} {uid} {uid}",
                                                       f"{gid} {gid} {gid} {gid}", "")  # fmt: skip
    assert ignored(got["SigIgn"]) & {SIGPIPE, SIGXFSZ} == set()
    assert (got["cwd"], got["stdin"]) == (str(tmp_path), "/dev/null")
    assert got["sid"] == got["pid"]  # the leader of a session of its own
    assert os.getcwd() == here  # the probe is back where it was
    assert (os.getresuid(), os.getresgid(), os.getgroups()) == ids  # and has its own ids


def test_the_probe_has_its_own_ids_back_when_a_command_cannot_start(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches accounts only when it runs as root")
    nobody = pwd.getpwnam("nobody")
    not_executable = tmp_path / "hook"
    not_executable.write_text("#!/bin/sh\n")
    ids = (os.getresuid(), os.getresgid(), os.getgroups())

    with pytest.raises(OSError, match=r"cannot run .*hook: .*Permission denied"):
        _process.run_bounded([str(not_executable)], cwd=tmp_path, env={}, timeout=5,
                             user=(nobody.pw_uid, nobody.pw_gid))  # fmt: skip

    assert (os.getresuid(), os.getresgid(), os.getgroups()) == ids


def test_a_probe_holding_ambient_capabilities_starts_commands_without_them(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the probe switches accounts only when it runs as root")
    setpriv = require("/usr/bin/setpriv", "util-linux")
    nobody = pwd.getpwnam("nobody")
    tmp_path.chmod(0o777)
    report = tmp_path / "report"
    code = (
        "import os, sys; from pathlib import Path; from probes import _process\n"
        "print(_process._may_lend_ids())\n"
        "done = _process.run_bounded(['sh', '-c', 'grep CapAmb /proc/self/status > ' + "
        "sys.argv[1]], cwd=Path(sys.argv[1]).parent, env=dict(os.environ), timeout=30, "
        f"user=({nobody.pw_uid}, {nobody.pw_gid}))\n"
        "print(done.exit_code)\n"
    )

    proc = subprocess.run(
        [setpriv, "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
         sys.executable, "-c", code, str(report)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "False\n0\n", "")
    assert report.read_text().split() == ["CapAmb:", "0000000000000000"]


def test_a_command_that_cannot_start_is_one_oserror_naming_it(tmp_path: Path) -> None:
    not_executable = tmp_path / "hook"
    not_executable.write_text("#!/bin/sh\n")
    here = os.getcwd()

    with pytest.raises(OSError, match=r"cannot run .*hook: .*Permission denied"):
        _process.run_bounded([str(not_executable)], cwd=tmp_path, env={}, timeout=5)
    with pytest.raises(OSError, match=r"cannot run true: .*No such file or directory"):
        _process.run_bounded(["true"], cwd=tmp_path / "missing", env=dict(os.environ), timeout=5)
    assert os.getcwd() == here


def test_the_probe_comes_back_to_a_directory_it_cannot_read(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o111)  # searchable, not readable
    here = os.getcwd()
    try:
        os.chdir(locked)
        done = _process.run_bounded(["pwd"], cwd=tmp_path, env=dict(os.environ), timeout=5)
        back = os.getcwd()
    finally:
        os.chdir(here)

    assert (done.exit_code, done.output_tail) == (0, f"{tmp_path}\n")
    assert back == str(locked)


def test_the_state_record_keeps_the_tests_output_as_before(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest([("says", "echo out; echo err >&2; exit 3")]))
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    (test,) = site.state()["tests"]
    assert (test["exit_code"], test["output_tail"]) == (3, "out\nerr\n")
