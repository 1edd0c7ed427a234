"""The embedded demo (README command 1) runs the whole pipeline and checks itself."""

from __future__ import annotations

import json
import subprocess
import sys


def _demo(out):
    return subprocess.run(
        [sys.executable, "-m", "distributor.cli", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_demo_builds_the_grid_and_the_bulletin_as_the_rules_say(tmp_path):
    out = tmp_path / "demo-output"
    run = _demo(out)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads((out / "bulletin/map.json").read_text())
    ui = data["components"]["glite-UI"]["3.2.8-0"]
    wn = data["components"]["glite-WN"]["3.3.0-1"]
    assert ui["sites"] == ["AURORA-LCG2", "BOREAL-T2", "CORAL-GRID", "DELTA-HEP", "EMBER-CLOUD"]
    assert wn["sites"] == ["AURORA-LCG2"]
    assert (out / "bulletin/index.html").stat().st_size > 0
    assert "demo-output/bulletin/index.html" in run.stdout
    assert "as expected" in run.stdout
    # and a release moved through its staged rollout, to production
    assert "    close success                    -> closed-success\n" in run.stdout
    assert (out / "repository/production/glite-UI/3.2.8-0/glite-UI-3.2.8-0.tar.gz").is_file()


def test_demo_runs_again_from_a_clean_start(tmp_path):
    out = tmp_path / "demo-output"
    assert _demo(out).returncode == 0
    (out / "sites/DELTA-HEP/leftover").write_text("x")
    again = _demo(out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (out / "sites/DELTA-HEP/leftover").exists()


def test_demo_refuses_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "precious").write_text("keep me")
    run = _demo(tmp_path)
    assert run.returncode == 2
    assert "not made by pps demo" in run.stderr
    assert (tmp_path / "precious").read_text() == "keep me"
