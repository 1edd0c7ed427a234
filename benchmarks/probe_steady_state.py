"""What one steady-state probe run costs a site, timed as Nagios starts it, beside its peer.

Nagios runs ``check_preview_client`` every few minutes at every site; once a version is installed
a run only reads the site file and the index, checks the install marker, re-runs the local tests
and rewrites the state record.  The target: a run within 1.5x of ``python3 -c "import
nagiosplugin"`` with the same interpreter and environment (the plugin library every probe
imports), for what a site admin runs: the console script of a normal (wheel) install, and the
one-file probe (``pps probe-bundle``) run as ``python3 check_preview_client.pyz ...``.

Every case is one whole process exec'd by this script (``os.posix_spawn``, no wrapper around
either side: a wrapper running both would add the same cost to each and hide the ratio), its wall
time from spawn to exit; the probe and its peer alternate run by run (the order flips every run),
so both see the same load.  The script builds a throw-away repository and site in a temp dir
(one release without tests, one with a test, a site file as a site has), installs the release
with a first run of each case (which also compiles the bytecode an installed package has, and
unpacks the ``.pyz`` into its cache), then times, per installation (``--venv``, repeatable;
default: the environment running this script):

* the peer: ``<venv>/bin/python -c "import nagiosplugin"``
* ``<venv>/bin/check_preview_client ...``, no local test, then one test (a ``bash``, run as
  ``nobody`` when the benchmark runs as root)
* ``<venv>/bin/python check_preview_client.pyz ...``, the same two (the peer's interpreter)

and prints a table: each case's median, min and max wall time beside its peer's median and the
ratio of the medians (the target's measure), then the same for CPU time (user and system, the
local test included: a figure other load on a shared machine moves less).  The ``.pyz`` is
built from this checkout (``distributor.transport.bundle``) by this script's Python, so it
carries its
``__main__`` compiled for that Python's byte code format; each installation's label says whether
its Python loads that or compiles ``__main__.py`` at every run (a Python of another version, as
at a site whose ``python3`` is not the operator's).  Each installation is labelled editable
(``pip install -e``: its ``.pth`` finder runs at every start, the peer's included) or wheel
(a normal ``pip install``); ``--make-venv DIR`` first makes DIR a normal install of this
checkout (``python3 -m venv DIR`` and ``DIR/bin/pip install CHECKOUT``; needs the index for
the dependencies), or installs this checkout in it again if it is one already.  The children
get this script's environment without its ``PYTHON*`` variables, as Nagios starts a check.  A
load average above three quarters of the CPUs is noted under the tables: the figures then vary
from run to run.

Run: ``.venv/bin/python benchmarks/probe_steady_state.py [--runs 21] [--venv DIR ...]
[--make-venv DIR]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distributor.repository.releases import create_release  # noqa: E402
from distributor.repository.signing import init_repository  # noqa: E402
from distributor.transport.bundle import build_probe_bundle  # noqa: E402
from pps.manifest import LocalTest  # noqa: E402
from pps.repository import Repository  # noqa: E402

#: The children's environment: this script's without any PYTHON* variable, as Nagios starts a
#: check (no PYTHONUNBUFFERED, no PYTHONPATH; and no PYTHONDONTWRITEBYTECODE: the children may
#: write bytecode, as an installed package has it).
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
TARGET = 1.5


def run_once(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one process running *argv*, exec'd directly;
    its CPU time (user and system) includes the local test it waited for."""
    with open(os.devnull, "wb") as null:
        actions = [(os.POSIX_SPAWN_DUP2, null.fileno(), 1), (os.POSIX_SPAWN_DUP2, null.fileno(), 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, ENV, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - start
    return seconds, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def install_kind(python: Path) -> str:
    """``editable``, ``wheel`` or ``source tree``: how *python*'s environment has pps."""
    code = (
        "import importlib.metadata as m, json\n"
        "try: d = m.distribution('pps')\n"
        "except m.PackageNotFoundError: print('none')\n"
        "else:\n"
        "    u = d.read_text('direct_url.json')\n"
        "    e = u and json.loads(u).get('dir_info', {}).get('editable')\n"
        "    print('editable' if e else 'wheel')\n"
    )
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=ENV, cwd="/"
    )
    return out.stdout.strip() or "unknown"


def main_from_bytecode(python: Path) -> bool:
    """Whether *python* loads the ``.pyz``'s ``__main__`` from the byte code it carries (built by
    this script's Python: the same byte code format), or compiles ``__main__.py`` at every run."""
    code = "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=ENV, cwd="/"
    )
    return out.stdout.strip() == importlib.util.MAGIC_NUMBER.hex()


def make_venv(target: Path) -> None:
    """A normal, non-editable install of this checkout in a virtual environment: made if it is
    not there, and this checkout installed again (without its dependencies) if it is."""
    pip = str(target / "bin" / "pip")
    if (target / "bin" / "check_preview_client").exists():
        subprocess.run([pip, "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                       check=True)  # fmt: skip
        return
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(target)], check=True)
    subprocess.run([pip, "install", "-q", str(ROOT)], check=True)


def probe_args(repo: Path, site: Path, component: str) -> list[str]:
    return [
        "--site-config", str(site / "site.toml"), "--component", component,
        "--version", "1.0", "--repository", str(repo), "--preview-root", str(site / "preview"),
        "--info-dir", str(site / "info"), "--subcluster", "ce.bench.example.org",
        "--vo", "dteam", "--profile-d", str(site / "profile.d"),
    ]  # fmt: skip


def make_site(path: Path) -> Path:
    (path / "profile.d").mkdir(parents=True)
    (path / "profile.d/grid.sh").write_text("export SITE_NAME=BENCH\n")
    (path / "site.toml").write_text('test_user = "nobody"\n')  # a site file, as a site has
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="Runs of each case (default 21).")
    parser.add_argument("--venv", action="append", type=Path, default=[],
                        help="An environment with pps installed (repeatable; default: this "
                        "script's).")  # fmt: skip
    parser.add_argument("--make-venv", type=Path, action="append", default=[],
                        help="First make DIR a wheel install of this checkout (python3 -m venv "
                        "DIR, DIR/bin/pip install CHECKOUT; needs the index for the "
                        "dependencies; an existing one gets this checkout again), then time "
                        "it.")  # fmt: skip
    args = parser.parse_args()
    for target in args.make_venv:
        make_venv(target)
    venvs = [*args.venv, *args.make_venv] or [Path(sys.prefix)]

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        tmp_path.chmod(0o755)  # run as root, the probe runs the tests as 'nobody'
        src = tmp_path / "src"
        (src / "bin").mkdir(parents=True)
        (src / "bin/tool").write_text("#!/bin/sh\necho tool 1.0\n")
        (src / "bin/tool").chmod(0o755)
        repo = Repository(tmp_path / "repo")
        init_repository(repo, None)
        for component, tests in (("notest", ()), ("onetest", (LocalTest("runs", "tool"),))):
            create_release(repo, component, "1.0", source=src, update_class="bc-client",
                           release_type="revision", tests=tests)  # fmt: skip
        pyz = tmp_path / "check_preview_client.pyz"
        build_probe_bundle(pyz)
        ENV["PPS_BUNDLE_CACHE"] = str(tmp_path / "bundle-cache")
        ENV["PPS_CACHE_DIR"] = str(tmp_path / "cache")

        groups: list[tuple[str, str, dict[str, list[str]]]] = []  # label, peer name, cases
        for n, venv in enumerate(venvs):
            venv = venv.absolute()  # a venv's python is a symlink: keep its path, not its target
            python, script = venv / "bin" / "python", venv / "bin" / "check_preview_client"
            if not script.exists():
                sys.exit(f"{script} does not exist: is pps installed in {venv}?")
            label = (
                f"{install_kind(python)} install {venv} (the .pyz's __main__ "
                f"{'from its byte code' if main_from_bytecode(python) else 'compiled at each run'})"
            )
            peer = f"{n}: peer"
            cases = {peer: [str(python), "-c", "import nagiosplugin"]}
            for component in ("notest", "onetest"):
                what = "no test" if component == "notest" else "1 test"
                site = make_site(tmp_path / f"site-{n}-{component}")
                argv = probe_args(repo.root, site, component)
                cases[f"{n}: check_preview_client, {what}"] = [str(script), *argv]
                pyz_site = make_site(tmp_path / f"pyz-site-{n}-{component}")
                argv = probe_args(repo.root, pyz_site, component)
                cases[f"{n}: python .pyz, {what}"] = [str(python), str(pyz), *argv]
            groups.append((label, peer, cases))

        os.chdir(tmp_path)  # every child runs there, away from this checkout
        for _, _, cases in groups:
            for name, argv in cases.items():
                _, _, code = run_once(argv)  # the first run installs, compiles, unpacks
                if code != 0:
                    out = subprocess.run(argv, capture_output=True, text=True, env=ENV)
                    sys.exit(f"{name}: the first run exited {code}: {out.stdout}{out.stderr}")
        results: dict[str, list[tuple[float, float]]] = {
            n: [] for _, _, cases in groups for n in cases
        }
        loads, flip = [], 0
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            for _, peer, cases in groups:
                for name in cases if run % 2 == 0 else reversed(cases):
                    if name == peer:
                        continue
                    # the peer just before or after each case, alternating
                    flip ^= 1
                    pair = (peer, name) if flip else (name, peer)
                    for which in pair:
                        seconds, cpu, code = run_once(cases[which])
                        if code != 0:
                            sys.exit(f"{which} exited {code}")
                        results[which].append((seconds, cpu))
        os.chdir("/")

    print(f"{args.runs} runs of each case, alternated with its peer; Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{'root (tests as nobody)' if os.geteuid() == 0 else 'not root'}, load average "
          f"{min(loads):.2f} to {max(loads):.2f} over the runs")  # fmt: skip
    verdicts = []
    for label, peer, cases in groups:
        peer_wall = statistics.median(w for w, _ in results[peer]) * 1000
        peer_cpu = statistics.median(c for _, c in results[peer]) * 1000
        print()
        print(f"{label}; peer: {cases[peer][0]} -c 'import nagiosplugin', {len(results[peer])} "
              "runs")  # fmt: skip
        print()
        print("| case | median ms | min ms | max ms | peer median ms | x peer "
              "| CPU ms | peer CPU ms | x peer CPU |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in cases:
            if name == peer:
                continue
            wall = [w * 1000 for w, _ in results[name]]
            cpu = statistics.median(c for _, c in results[name]) * 1000
            ratio = statistics.median(wall) / peer_wall
            print(f"| {name.split(': ', 1)[1]} | {statistics.median(wall):.1f} | {min(wall):.1f} "
                  f"| {max(wall):.1f} | {peer_wall:.1f} | {ratio:.2f} | {cpu:.1f} "
                  f"| {peer_cpu:.1f} | {cpu / peer_cpu:.2f} |")  # fmt: skip
            verdicts.append(ratio <= TARGET)
    print()
    print(f"{sum(verdicts)} of {len(verdicts)} cases within {TARGET}x their peer (wall, medians)")
    if max(loads) > (os.cpu_count() or 1) * 0.75:
        print(f"note: a load average of {max(loads):.2f} on {os.cpu_count()} CPUs: other processes "
              "competed for them, so the figures vary from run to run; rerun on a quiet "
              "machine")  # fmt: skip


if __name__ == "__main__":
    main()
