"""The built wheel carries everything: an install, not the source tree, runs the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.probe_helpers import add_release, installed_probe, make_site, probe_args, status_line

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


def test_the_wheel_starts_the_probe_and_pps_through_their_light_entry_points(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("pps-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(name).decode()

    lines = entry_points.splitlines()
    assert "check_preview_client = probes._entry:check_preview_client" in lines
    assert "pps = distributor._entry:pps" in lines


#: Put on PYTHONPATH, as a site's sitecustomize would be: it notes whether the exit handlers
#: ran (and the collector's state then), and whether the interpreter's teardown ran.
SITECUSTOMIZE = """
import atexit, gc, os

class _Teardown:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.write = os.write
    def __del__(self):
        self.write(self.fd, b"teardown\\n")

_marker = _Teardown(os.environ["EXIT_LOG"])  # freed by the interpreter's teardown only
atexit.register(lambda: _marker.write(_marker.fd, (
    f"exit handlers: gc enabled {gc.isenabled()}, frozen {gc.get_freeze_count() > 0}\\n"
).encode()))
"""


def test_the_installed_probe_runs_its_exit_handlers_and_skips_the_teardown(tmp_path):
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "exit.log"
    env = {**os.environ, "PYTHONPATH": str(custom), "EXIT_LOG": str(log)}

    ok = subprocess.run([*installed_probe(), *probe_args(site, tmp_path / "repo")],
                        env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    ran = log.read_text()
    log.unlink()
    bad = subprocess.run([*installed_probe(), "--bogus"], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip

    assert (ok.returncode, status_line(ok).split(" - ")[0]) == (0, "PREVIEW_CLIENT OK")
    assert ok.stdout.endswith("\n") and ok.stderr == ""  # all of it, flushed
    assert ran == "exit handlers: gc enabled True, frozen True\n"  # and no teardown
    assert (bad.returncode, bad.stdout) == (
        3,
        "PREVIEW_CLIENT UNKNOWN - usage: option --bogus not recognized (see --help)\n",
    )
    assert log.read_text() == "exit handlers: gc enabled True, frozen True\n"


def test_the_installed_pps_freezes_what_its_start_up_loaded(tmp_path):
    pps = Path(sys.executable).with_name("pps")
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "exit.log"
    env = {**os.environ, "PYTHONPATH": str(custom), "EXIT_LOG": str(log)}

    proc = subprocess.run([str(pps), "--help"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: pps ")
    assert log.read_text().splitlines()[0] == "exit handlers: gc enabled True, frozen True"
