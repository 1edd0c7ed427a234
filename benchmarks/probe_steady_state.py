"""How much one steady-state probe run costs a site, beside what it is measured against.

Nagios runs ``check_preview_client`` every few minutes at every site; once a version is installed
a run only reads the index, checks the install marker, re-runs the local tests and rewrites the
state record.  The roadmap's target is a steady state that costs about as much as importing
nagiosplugin.  This script builds a throw-away repository and site in a temp dir, installs one
release, then times, in the same run and interleaved:

* ``python -c pass``                       the interpreter alone
* ``python -c "import nagiosplugin"``      the peer: the plugin library every probe imports
* the probe, steady state, no local test   (what pps itself adds; every probe case reads a
                                           site file, as a site's runs do)
* the probe, steady state, one test        (plus one ``bash`` for the test, run as ``nobody``
                                           when the benchmark runs as root)
* the same with a signed index and the key pinned in a site file (the signature of an index
  seen before is not checked again: the ``cryptography`` import stays out of the steady state)
* the one-file probe (``pps probe-bundle``), one test (from its bytecode cache)

and prints wall time (median, min, max), the ratio of medians to the peer, and the peak RSS of
each child.  The children may write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped), as an
installed package has it; the warm-up run of each case compiles it.

Run: ``.venv/bin/python benchmarks/probe_steady_state.py [--runs 20]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributor.bundle import build_probe_bundle
from distributor.releases import create_release
from distributor.signing import generate_key, init_repository
from pps.manifest import LocalTest
from pps.repository import Repository

#: Every case runs under this wrapper, which writes the child's own peak RSS (VmHWM, KiB) to a
#: pipe at exit.  (rusage's maxrss would also count the parent's pages from before the exec.)
WRAPPER = (
    "import atexit, os, runpy, sys\n"
    "fd = int(os.environ.pop('BENCH_RSS_FD'))\n"
    "def hwm():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kib = next(ln.split()[1] for ln in f if ln.startswith('VmHWM:'))\n"
    "    os.write(fd, kib.encode())\n"
    "atexit.register(hwm)\n"
    "mod = sys.argv[1]; sys.argv = sys.argv[1:]\n"
    "if mod == '-c': exec(sys.argv[1])\n"
    "elif mod.endswith('.pyz'): sys.path.insert(0, mod); runpy.run_path(mod, run_name='__main__')\n"
    "else: runpy.run_module(mod, run_name='__main__', alter_sys=True)\n"
)


def run_once(case: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit code) of one child running *case* (module + args, or
    ``-c CODE``)."""
    r, w = os.pipe()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *case],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,),
        env=ENV | {"BENCH_RSS_FD": str(w)},
    )  # fmt: skip
    os.close(w)
    code = proc.wait()
    seconds = time.perf_counter() - start
    with os.fdopen(r) as f:
        rss = int(f.read() or 0)
    return seconds, rss, code


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def probe_argv(repo: Path, site: Path, component: str, program: str = "") -> list[str]:
    config = ["--site-config", str(site / "site.toml")] if (site / "site.toml").exists() else []
    return [
        program or "probes.check_preview_client", *(config or ["--no-site-config"]),
        "--component", component, "--version", "1.0", "--repository", str(repo),
        "--preview-root", str(site / "preview"), "--info-dir", str(site / "info"),
        "--subcluster", "ce.bench.example.org", "--vo", "dteam",
        "--profile-d", str(site / "profile.d"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="Runs of each case (default 20).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        tmp_path.chmod(0o755)  # run as root, the probe runs the tests as 'nobody'
        src = tmp_path / "src"
        (src / "bin").mkdir(parents=True)
        (src / "bin/tool").write_text("#!/bin/sh\necho tool 1.0\n")
        (src / "bin/tool").chmod(0o755)
        repo = Repository(tmp_path / "repo")
        init_repository(repo, None)
        site = tmp_path / "site"
        (site / "profile.d").mkdir(parents=True)
        (site / "profile.d/grid.sh").write_text("export SITE_NAME=BENCH\n")
        (site / "site.toml").write_text('test_user = "nobody"\n')  # a site file, as a site has
        for component, tests in (("notest", ()), ("onetest", (LocalTest("runs", "tool"),))):
            create_release(repo, component, "1.0", source=src, update_class="bc-client",
                           release_type="revision", tests=tests)  # fmt: skip
        signed_repo = Repository(tmp_path / "signed-repo")
        key = tmp_path / "repo.pem"
        public_key = generate_key(key)
        init_repository(signed_repo, key)
        create_release(signed_repo, "onetest", "1.0", source=src, update_class="bc-client",
                       release_type="revision", tests=(LocalTest("runs", "tool"),),
                       signing_key=key)  # fmt: skip
        signed_site = tmp_path / "signed-site"
        (signed_site / "profile.d").mkdir(parents=True)
        (signed_site / "site.toml").write_text(f'public_key = "{public_key}"\n')
        pyz = tmp_path / "check_preview_client.pyz"
        build_probe_bundle(pyz)
        ENV["PPS_BUNDLE_CACHE"] = str(tmp_path / "bundle-cache")
        ENV["PPS_CACHE_DIR"] = str(tmp_path / "cache")
        pyz_site = tmp_path / "pyz-site"
        (pyz_site / "profile.d").mkdir(parents=True)
        cases = {
            "python -c pass": ["-c", "pass"],
            "import nagiosplugin (peer)": ["-c", "import nagiosplugin"],
            "probe steady state, 0 tests": probe_argv(repo.root, site, "notest"),
            "probe steady state, 1 test": probe_argv(repo.root, site, "onetest"),
            "same, signed index": probe_argv(signed_repo.root, signed_site, "onetest"),
            "same, one-file probe (.pyz)": probe_argv(repo.root, pyz_site, "onetest", str(pyz)),
        }
        for name, argv in cases.items():
            _, _, code = run_once(argv)  # the first run installs, and compiles
            if code != 0:
                sys.exit(f"{name}: the first run exited {code}")
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():  # interleaved: drift hits every case alike
                seconds, rss, code = run_once(argv)
                if code != 0:
                    sys.exit(f"{name} exited {code}")
                results[name].append((seconds, rss))

    print(f"{args.runs} runs each, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{'root (tests as nobody)' if os.geteuid() == 0 else 'not root'}")  # fmt: skip
    peer = statistics.median(s for s, _ in results["import nagiosplugin (peer)"])
    print(f"{'case':<30} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'x peer':>7} "
          f"{'peak RSS MiB':>13}")  # fmt: skip
    for name, rows in results.items():
        times = [s * 1000 for s, _ in rows]
        rss = max(r for _, r in rows) / 1024
        ratio = statistics.median(s for s, _ in rows) / peer
        print(f"{name:<30} {statistics.median(times):>10.1f} {min(times):>8.1f} "
              f"{max(times):>8.1f} {ratio:>7.2f} {rss:>13.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
