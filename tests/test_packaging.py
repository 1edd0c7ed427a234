"""The built wheel carries everything: an install, not the source tree, runs the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_runs_the_demo_away_from_the_source_tree(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("pps-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bulletin/templates/index.html.j2", "jdl_templates/job.jdl.j2", "pps/py.typed"} <= names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", "import distributor.cli as c, sys; sys.argv[0] = 'pps'; c.main()",
         "demo", "--out", "out"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    where = "import bulletin, probes; print(bulletin.__file__, probes.__file__)"
    loaded_from = subprocess.run(
        [sys.executable, "-c", where],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(p.startswith(str(target)) for p in loaded_from)
    data = json.loads((work / "out/bulletin/map.json").read_text())
    assert data["components"]["glite-WN"]["3.3.0-1"]["sites"] == ["AURORA-LCG2"]
