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
    # glite-UI was live at every site but FJORD-T3 once pushed ...
    assert ("  glite-UI 3.2.8-0: AURORA-LCG2, BOREAL-T2, CORAL-GRID, DELTA-HEP, EMBER-CLOUD, "
            "HALO-ARC, IRIS-CONDOR (as expected)\n") in run.stdout  # fmt: skip
    # ... then moved through its staged rollout to production, and every site retired it
    assert "    close success                    -> closed-success\n" in run.stdout
    assert "    told 8/8 site(s) to retire it\n" in run.stdout
    assert (out / "repository/production/glite-UI/3.2.8-0/glite-UI-3.2.8-0.tar.gz").is_file()
    data = json.loads((out / "bulletin/map.json").read_text())  # written last: the truth now
    ui = data["components"]["glite-UI"]["3.2.8-0"]
    wn = data["components"]["glite-WN"]["3.3.0-1"]
    assert (ui["stage"], ui["sites"]) == ("production", [])
    assert wn["sites"] == ["AURORA-LCG2"]
    tags = [t for f in sorted((out / "sites").glob("*/opt/glite/var/info/*/*/*.list"))
            for t in f.read_text().split()]  # fmt: skip
    assert not [t for t in tags if "glite-UI" in t], tags
    assert sorted(t for t in tags if "glite-WN" in t) == [
        "VO-dteam-PPS-glite-WN-3.3.0-1", "VO-vo.neugrid.eu-PPS-glite-WN-3.3.0-1",
    ]  # fmt: skip
    assert (out / "bulletin/index.html").stat().st_size > 0
    assert "demo-output/bulletin/index.html" in run.stdout
    assert "EXPECTED" not in run.stdout and "NOT as expected" not in run.stdout


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
