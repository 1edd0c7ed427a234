"""check_preview_client run as Nagios runs it: install, re-test, withdraw, report."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from pps.fsutil import locked
from tests.probe_helpers import (
    COMPONENT,
    SUBCLUSTER,
    VERSION,
    add_release,
    files_under,
    make_manifest,
    make_site,
    run_module,
    run_probe,
    status_line,
)

PERFDATA_OK = r"\| live=1;;;0 size=\d+B;;;0 tests_failed=0;;;0 tests_passed=2;;;0 time=[\d.]+s;;;0"


def test_fresh_install_is_verified_and_tagged_for_two_vos(tmp_path: Path) -> None:
    release = add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.fullmatch(
        r"PREVIEW_CLIENT OK - fake-client 1\.0\.0 verified at ce01\.example\.org: "
        r"2/2 tests passed, tagged for dteam,ops " + PERFDATA_OK,
        status_line(proc),
    )
    assert proc.stdout.count("\n") == 1
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert site.tags_text("ops") == "VO-ops-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    tree = site.install_dir()
    assert files_under(tree) == [
        ".pps-install.json",
        ".pps-manifest.json",
        "bin",
        "bin/fake-client",
        "etc",
        "etc/setup.sh",
        "pps-env.sh",
    ]
    assert os.access(tree / "bin" / "fake-client", os.X_OK)
    assert oct(tree.stat().st_mode & 0o777) == "0o755"
    state = site.state()
    assert state["status"] == "verified"
    assert state["sha256"] == release.sha256
    assert state["vos"] == ["dteam", "ops"]
    assert [(t["name"], t["ok"], t["exit_code"]) for t in state["tests"]] == [
        ("runs", True, 0),
        ("on-path", True, 0),
    ]
    assert state["tests"][0]["output_tail"] == "fake-client 1.0.0\n"
    assert state["installed_at"] <= state["last_verified"]  # whole seconds: equal or later
    assert files_under(site.preview_root / ".pps" / "cache") == []
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_second_run_only_retests_the_installed_tree(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    tree_inode = site.install_dir().stat().st_ino
    client_inode = (site.install_dir() / "bin" / "fake-client").stat().st_ino
    tags_inode = site.tags_file("dteam").stat().st_ino
    first = site.state()
    # If the probe fetched again it would fail: the tarball is gone from the repository.
    for tarball in (tmp_path / "repo").rglob("*.tar.gz"):
        tarball.unlink()

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith("PREVIEW_CLIENT OK - fake-client 1.0.0 verified at")
    assert site.install_dir().stat().st_ino == tree_inode
    assert (site.install_dir() / "bin" / "fake-client").stat().st_ino == client_inode
    assert site.tags_file("dteam").stat().st_ino == tags_inode
    second = site.state()
    assert second["installed_at"] == first["installed_at"]
    assert second["last_verified"] >= first["last_verified"]


def test_a_vo_dropped_from_the_site_file_loses_the_tag_on_the_next_run(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(vos=["dteam", "ops"])
    assert run_probe(site, tmp_path / "repo", site_flags=False, vos=None).returncode == 0
    assert "VO-ops-PPS-fake-client-1.0.0" in site.tags_text("ops")
    site.write_site_file(vos=["dteam"])

    proc = run_probe(site, tmp_path / "repo", site_flags=False, vos=None)

    assert proc.returncode == 0, proc.stdout
    assert site.tags_text("ops") == "PPS-PREVIEW\n"
    assert "VO-dteam-PPS-fake-client-1.0.0" in site.tags_text("dteam")
    assert site.state()["vos"] == ["dteam"]


def test_a_run_given_fewer_vos_leaves_the_other_vos_tags_alone(tmp_path: Path) -> None:
    """Push and Nagios given different --vo lists must not make a tag flap."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(vos=["dteam", "ops"])
    assert run_probe(site, tmp_path / "repo", site_flags=False, vos=None).returncode == 0
    ops_before = site.tags_file("ops").read_bytes()

    for _ in range(2):
        proc = run_probe(site, tmp_path / "repo", site_flags=False, vos=["dteam"])
        assert proc.returncode == 0, proc.stdout
        assert status_line(proc).startswith(
            "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests "
            "passed, tagged for dteam |"
        )

    assert site.tags_file("ops").read_bytes() == ops_before
    assert sorted(site.state()["vos"]) == ["dteam", "ops"]


def test_without_a_site_file_a_narrower_vo_list_withdraws_nothing(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo", vos=("dteam", "ops")).returncode == 0

    assert run_probe(site, tmp_path / "repo", vos=("dteam",)).returncode == 0

    assert "VO-ops-PPS-fake-client-1.0.0" in site.tags_text("ops")


def test_failing_test_withdraws_the_tag_and_keeps_foreign_tags(tmp_path: Path) -> None:
    manifest = make_manifest([("runs", "fake-client"), ("smoke", "echo broken >&2; exit 3")])
    add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)
    site.tags_file("dteam").parent.mkdir(parents=True)
    site.tags_file("dteam").write_text(
        "# managed by lcg-tags\nVO-dteam-atlas-offline-17.0\n"
        "vo-dteam-pps-FAKE-client-1.0.0 PPS-PREVIEW\nVO-dteam-PPS-fake-client-0.9\n"
    )

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2, proc.stdout
    assert re.fullmatch(
        r"PREVIEW_CLIENT CRITICAL - fake-client 1\.0\.0 broken at ce01\.example\.org: "
        r"test smoke failed \(exit 3\) \(1/2 tests passed\), tag withdrawn for dteam,ops "
        r"\| live=0;;;0 size=\d+B;;;0 tests_failed=1;;;0 tests_passed=1;;;0 time=[\d.]+s;;;0",
        status_line(proc),
    )
    assert site.tags_text("dteam") == (
        "# managed by lcg-tags\nVO-dteam-atlas-offline-17.0\n"
        "PPS-PREVIEW\nVO-dteam-PPS-fake-client-0.9\n"
    )
    assert site.tags_text("ops") is None
    state = site.state()
    assert state["status"] == "broken"
    assert state["tests"][1]["exit_code"] == 3
    assert state["tests"][1]["output_tail"] == "broken\n"
    assert site.install_dir().is_dir()  # kept for the admin to look at


def test_a_version_that_breaks_later_loses_its_tag(tmp_path: Path) -> None:
    manifest = make_manifest([("marker", "test ! -e /nonexistent && test ! -e broken-flag")])
    add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    assert "VO-ops-PPS-fake-client-1.0.0" in site.tags_text("ops")
    (site.install_dir() / "broken-flag").write_text("")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 2
    assert "test marker failed (exit 1)" in status_line(proc)
    assert site.tags_text("ops") == "PPS-PREVIEW\n"
    assert site.tags_text("dteam") == "PPS-PREVIEW\n"
    (site.install_dir() / "broken-flag").unlink()
    assert run_probe(site, tmp_path / "repo").returncode == 0
    assert site.tags_text("ops") == "PPS-PREVIEW\nVO-ops-PPS-fake-client-1.0.0\n"


def test_test_timeout_is_critical_and_kills_the_test(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir(mode=0o777)
    pids.chmod(0o777)  # the test runs as the site's test_user
    manifest = make_manifest(
        [("runs", "fake-client"), ("hangs", f"sleep 60 & echo $! > {pids}/sleeper; wait", 0.5)]
    )
    add_release(tmp_path / "repo", manifest)
    site = make_site(tmp_path)

    started = time.monotonic()
    proc = run_probe(site, tmp_path / "repo")

    assert time.monotonic() - started < 10
    assert proc.returncode == 2, proc.stdout
    assert re.match(
        r"PREVIEW_CLIENT CRITICAL - fake-client 1\.0\.0 at ce01\.example\.org: "
        r"test hangs timed out after 0\.5s \(1/2 tests passed\); not tagged for dteam,ops: "
        r"the tests must complete first \|",
        status_line(proc),
    )
    assert site.tags_text("dteam") is None
    assert site.state()["status"] == "untested"
    state = site.state()["tests"][1]
    assert (state["timed_out"], state["exit_code"], state["ok"]) == (True, None, False)
    sleeper = int((pids / "sleeper").read_text())
    status = Path(f"/proc/{sleeper}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()


def test_unknown_version_is_unknown_and_names_the_known_versions(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo", version="9.9")

    assert proc.returncode == 3
    assert proc.stdout == (
        "PREVIEW_CLIENT UNKNOWN - no release fake-client 9.9 in the repository "
        "(known versions of fake-client: 1.0.0)\n"
    )
    assert not site.info_dir.exists()


def test_unreachable_repository_is_unknown_and_changes_nothing(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    before = {p: p.read_bytes() for p in site.info_dir.rglob("*.list")}

    proc = run_probe(site, tmp_path / "gone")

    assert proc.returncode == 3
    assert re.fullmatch(
        r"PREVIEW_CLIENT UNKNOWN - cannot read .*/gone/index\.json: No such file or directory\n",
        proc.stdout,
    )
    assert {p: p.read_bytes() for p in site.info_dir.rglob("*.list")} == before
    assert site.state()["status"] == "verified"


def test_corrupt_index_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "index.json").write_text("{not json")
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT UNKNOWN - {tmp_path}/repo/index.json is not valid JSON:"
    )


def test_bad_usage_is_unknown_not_critical(tmp_path: Path) -> None:
    site = make_site(tmp_path)

    missing = run_probe(site, tmp_path / "repo", vos=())
    bad_vo = run_probe(site, tmp_path / "repo", vos=("Bad VO",))

    assert missing.returncode == 3
    assert missing.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - --vo is needed (the site file {site.site_file} has no 'vos')\n"
    )
    assert bad_vo.returncode == 3
    assert bad_vo.stdout.startswith("PREVIEW_CLIENT UNKNOWN - --vo: VO name 'Bad VO' is not valid")
    assert not site.preview_root.exists()


def test_help_is_the_module_docstring(tmp_path: Path) -> None:
    proc = run_module("probes.check_preview_client", ["--help"])

    assert proc.returncode == 0
    assert "Install, test and tag a preview version of a grid client" in proc.stdout
    assert "--config-hook PATH" in proc.stdout


def test_verbose_output_lists_each_test(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo", "-v")

    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: "
        "2/2 tests passed, tagged for dteam,ops"
    )
    assert lines[1] == (
        f"fake-client 1.0.0 from {tmp_path}/repo: installed now, status verified, tags changed"
    )
    assert re.fullmatch(r"test runs: passed in [\d.]+s", lines[2])
    assert re.fullmatch(r"test on-path: passed in [\d.]+s", lines[3])
    assert lines[4].startswith("| live=1;;;0 size=")


def test_concurrent_run_waits_for_the_lock_within_the_timeout(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    lock = site.preview_root / ".pps" / "lock"

    with locked(lock):
        proc = run_probe(site, tmp_path / "repo", timeout=1)

    assert proc.returncode == 3
    assert proc.stdout == (
        "PREVIEW_CLIENT UNKNOWN: Timeout: check execution aborted after 1s "
        f"waiting for the lock {lock} (another run holds it)\n"
    )
    assert not site.install_dir().exists()


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    half = site.preview_root / ".pps" / "tmp" / "install-fake-client-x1y2"
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "fake-client").write_text("half written")
    (half / "bin").chmod(0o500)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_install_from_another_tarball_replaces_the_stale_tree(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    (site.install_dir() / "stale-file").write_text("from the old tree")
    manifest = make_manifest()
    files = {
        "bin/fake-client": b"#!/bin/sh\necho fake-client 1.0.0\n",
        "etc/setup.sh": b"",
        "share/new": b"new",
    }
    release = add_release(tmp_path / "repo", manifest, files, replace=True)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert files_under(site.install_dir()) == [
        ".pps-install.json",
        ".pps-manifest.json",
        "bin",
        "bin/fake-client",
        "etc",
        "etc/setup.sh",
        "pps-env.sh",
        "share",
        "share/new",
    ]
    marker = json.loads((site.install_dir() / ".pps-install.json").read_text())
    assert marker["sha256"] == release.sha256
    assert site.state()["sha256"] == release.sha256
    assert files_under(site.preview_root / ".pps" / "tmp") == []


def test_subcluster_and_component_directories_follow_the_flags(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    run_probe(site, tmp_path / "repo", vos=("vo.neugrid.eu",))

    path = site.info_dir / SUBCLUSTER / "vo.neugrid.eu" / "vo.neugrid.eu.list"
    assert path.read_text() == f"VO-vo.neugrid.eu-PPS-{COMPONENT}-{VERSION}\nPPS-PREVIEW\n"
