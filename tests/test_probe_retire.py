"""Retire: a version the index no longer lists as a preview loses its tags at once and its tree
after a grace period, never while a job uses it; ``--cleanup`` does it for every version."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pps.repository import Repository
from tests.probe_helpers import (
    add_release,
    make_manifest,
    make_site,
    run_module,
    run_probe,
    status_line,
)

TAG = "VO-dteam-PPS-fake-client-1.0.0"


def _set_stage(repo: Path, version: str, stage: str | None) -> None:
    """Move a release to *stage* in the index (None: remove it from the index)."""
    r = Repository(repo)
    index = r.load()
    for rel in list(index.releases):
        if rel.version == version:
            index.releases.remove(rel)
            if stage:
                from pps.repository import with_stage

                index.releases.append(with_stage(rel, stage))
    r.save(index)


def test_a_release_moved_to_production_loses_its_tags_at_once_and_its_tree_later(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    _set_stage(tmp_path / "repo", "1.0.0", "production")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 is not a preview any more (its stage is now "
        "production): tags withdrawn; the tree goes in 24h (grace period) |"
    )
    assert site.tags_text("dteam") == "PPS-PREVIEW\n"
    assert site.tags_text("ops") == "PPS-PREVIEW\n"
    assert site.install_dir().is_dir()
    assert site.state()["status"] == "retired"


def test_after_the_grace_period_the_tree_and_its_record_go(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(retire_grace=0)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    _set_stage(tmp_path / "repo", "1.0.0", None)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 is not a preview any more (it is no longer in "
        "the repository): tags withdrawn, tree removed |"
    )
    assert not site.install_dir().exists()
    assert not (site.preview_root / ".pps" / "state" / "fake-client" / "1.0.0.json").exists()
    assert (site.preview_root / "fake-client").is_dir()  # other versions may live there


def test_a_tree_in_use_by_a_running_job_stays(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(retire_grace=0)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    _set_stage(tmp_path / "repo", "1.0.0", "production")
    job = subprocess.Popen(["sleep", "60"], cwd=site.install_dir() / "bin")
    try:
        proc = run_probe(site, tmp_path / "repo")
    finally:
        job.kill()
        job.wait()

    assert proc.returncode == 0, proc.stdout
    assert f"the tree stays while in use by pid {job.pid} (sleep)" in status_line(proc)
    assert site.install_dir().is_dir()

    again = run_probe(site, tmp_path / "repo")

    assert "tree removed" in status_line(again)
    assert not site.install_dir().exists()


def test_the_gip_provider_publishes_a_retired_version_as_pending_removal(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    _set_stage(tmp_path / "repo", "1.0.0", "production")
    assert run_probe(site, tmp_path / "repo").returncode == 0

    gip = run_module(
        "probes.gip_provider",
        ["--site", "SITE", "--subcluster", "ce01.example.org", "--info-dir", str(site.info_dir),
         "--preview-root", str(site.preview_root)],
    )  # fmt: skip

    assert gip.returncode == 0, gip.stderr
    assert f"GlueHostApplicationSoftwareRunTimeEnvironment: {TAG}" not in gip.stdout
    assert f"GLUE2ApplicationEnvironmentAppName: {TAG}" in gip.stdout
    assert "GLUE2ApplicationEnvironmentState: pendingremoval" in gip.stdout


def test_cleanup_retires_every_version_no_longer_in_preview_and_keeps_the_others(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo")
    add_release(tmp_path / "repo", make_manifest(version="2.0"))
    site = make_site(tmp_path)
    site.write_site_file(retire_grace=0, repository=str(tmp_path / "repo"))
    for version in ("1.0.0", "2.0"):
        assert run_probe(site, tmp_path / "repo", version=version).returncode == 0
    _set_stage(tmp_path / "repo", "1.0.0", "production")

    proc = run_module("probes.check_preview_client", ["--site-config", str(site.site_file),
                                                      "--cleanup"])  # fmt: skip

    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith(
        "PREVIEW_CLIENT OK - cleanup: 1 retired (fake-client 1.0.0 is not a preview any more "
        "(its stage is now production): tags withdrawn, tree removed), 1 preview version(s) "
        "kept |"
    )
    assert not site.install_dir().exists()
    assert site.install_dir(version="2.0").is_dir()
    assert "VO-dteam-PPS-fake-client-2.0" in site.tags_text("dteam")
    assert TAG not in site.tags_text("dteam")


def test_cleanup_refuses_a_push_s_partial_index(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    index = json.loads((tmp_path / "repo" / "index.json").read_text())
    index["subset"] = True
    (tmp_path / "repo" / "index.json").write_text(json.dumps(index))

    proc = run_module("probes.check_preview_client", ["--site-config", str(site.site_file),
                      "--cleanup", "--repository", str(tmp_path / "repo"), "--preview-root",
                      str(site.preview_root), "--info-dir", str(site.info_dir), "--subcluster",
                      "ce01.example.org", "--vo", "dteam"])  # fmt: skip

    assert proc.returncode == 3
    assert proc.stdout == (
        f"PREVIEW_CLIENT UNKNOWN - {tmp_path / 'repo' / 'index.json'} lists only some releases "
        "(a push's index): cleanup needs the repository's whole index\n"
    )
    assert site.install_dir().is_dir()


def test_a_push_index_never_retires_the_versions_it_does_not_list(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    add_release(tmp_path / "repo2", make_manifest(version="2.0"))
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0
    index = json.loads((tmp_path / "repo2" / "index.json").read_text())
    index["subset"] = True
    (tmp_path / "repo2" / "index.json").write_text(json.dumps(index))

    proc = run_probe(site, tmp_path / "repo2")  # asks for 1.0.0, which it does not list

    assert proc.returncode == 3
    assert "no release fake-client 1.0.0 in the repository" in proc.stdout
    assert TAG in site.tags_text("dteam")
    assert site.state()["status"] == "verified"
