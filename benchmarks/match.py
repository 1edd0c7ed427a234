"""What ``pps match`` costs beside ``pps infosys map --glue2`` on the same BDII, same run.

Issue 15's speed target: ``pps match JOB`` over a 500-site BDII within 1.5x of
``pps infosys map --glue2`` on the same BDII.  This script starts its own slapd with Debian's BDII
configuration and loads the top BDII of ``benchmarks/infosys_read.py`` (500 sites, 40 preview
tags each: 500 GLUE 1.3 SubClusters, 20,000 GLUE 2.0 ApplicationEnvironments), writes a JDL, an
HTCondor submit file and an xRSL from the templates, then times, as whole processes exec'd
directly and alternated run by run (the order flips every run):

* ``pps infosys map --glue2 --infosys URL --json``   the peer
* ``pps match job.jdl --infosys URL --json``         ClassAds (classad2)
* ``pps match job.sub --infosys URL --json``         HTCondor (htcondor2 + classad2)
* ``pps match job.xrsl --infosys URL --json``        ARC's parser (one Debian python3 child)

It prints a markdown table (median, min, max of ``--runs`` runs, ratio to the peer's median).
Before timing, each match's sites are checked against the map's sites for the job's tag.

Run: ``.venv/bin/python benchmarks/match.py [--runs 11] [--sites 500] [--tags 40]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from infosys_read import ENV, BigSlapd, grid_ldif, timed  # noqa: E402

from jdl_templates.jobs import render_job  # noqa: E402
from tests.bdii_helpers import LdapError  # noqa: E402

#: The tag every job asks for: in grid_ldif, site s publishes comp<t%8>-<t//8>.<s%3>-0.
COMPONENT, VERSION = "comp1", "0.1-0"
TARGET = 1.5


def pps_argv(venv: Path, module: str) -> list[str]:
    """``pps`` through its console script when the command is registered there, else through
    the same entry with the command's module imported first (both cases pay the same)."""
    from distributor.cli import COMMAND_MODULES

    if "match" in COMMAND_MODULES and (venv / "bin" / "pps").exists():
        return [str(venv / "bin" / "pps")]
    code = f"import distributor.cli.{module}; from distributor.cli import main; main()"
    return [str(venv / "bin" / "python"), "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs of each case")
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--tags", type=int, default=40, help="preview tags per site")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    args = parser.parse_args()
    venv = args.venv.absolute()
    if not shutil.which("ldapadd"):
        raise SystemExit("ldapadd is missing: apt-get install ldap-utils")

    work = Path(tempfile.mkdtemp(prefix="pps-match-bench-"))
    server = BigSlapd(work / "slapd")
    try:
        server.start()
        server.seed()
        started = time.perf_counter()
        try:
            server.add(grid_ldif(args.sites, args.tags))
        except LdapError as e:
            raise SystemExit(f"loading the BDII failed: {str(e)[:1000]}") from None
        load = time.perf_counter() - started
        url = server.url
        pv = [(COMPONENT, VERSION)]
        for lang, name in (("jdl", "job.jdl"), ("condor", "job.sub"), ("xrsl", "job.xrsl")):
            (work / name).write_text(render_job(lang, vo="dteam", previews=pv))
        peer = "pps infosys map --glue2 --json"
        cases = {
            peer: [*pps_argv(venv, "infosys"), "infosys", "map", "--glue2", "--infosys", url,
                   "--json"],
            "pps match job.jdl --json": [*pps_argv(venv, "match"), "match", "job.jdl",
                                         "--infosys", url, "--json"],
            "pps match job.sub --json": [*pps_argv(venv, "match"), "match", "job.sub",
                                         "--infosys", url, "--json"],
            "pps match job.xrsl --json": [*pps_argv(venv, "match"), "match", "job.xrsl",
                                          "--infosys", url, "--json"],
        }  # fmt: skip
        os.chdir(work)  # no pps.toml there

        # The sites agree before anything is timed.
        tag = f"VO-dteam-PPS-{COMPONENT}-{VERSION}"
        vmap = json.loads(subprocess.run(cases[peer], capture_output=True, check=True,
                                         env=ENV).stdout)["tags"]  # fmt: skip
        want = sorted(vmap.get(tag, {}))
        if not want:
            raise SystemExit(f"the BDII publishes no {tag}: the benchmark's load is wrong")
        for name, argv in cases.items():
            if name == peer:
                continue
            got = json.loads(subprocess.run(argv, capture_output=True, check=True,
                                            env=ENV).stdout)["sites"]  # fmt: skip
            if got != want:
                raise SystemExit(f"{name} gives {len(got)} sites, the map {len(want)}")

        times: dict[str, list[float]] = {name: [] for name in cases}
        for argv in cases.values():  # warm-up: caches, bytecode, slapd's pages
            timed(argv)
        loads = []
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            for name in cases:
                if name == peer:
                    continue
                for one in (peer, name) if run % 2 == 0 else (name, peer):
                    times[one].append(timed(cases[one]))
    finally:
        os.chdir("/")
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    peer_median = statistics.median(times[peer])
    print(
        f"{args.sites} sites x {args.tags} tags; the job's tag at {len(want)} sites; BDII loaded "
        f"in {load:.1f} s; {args.runs} runs, each match alternated with the map; Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {min(loads):.2f} to "
        f"{max(loads):.2f}"
    )
    print()
    print("| case | median ms | min ms | max ms | x map --glue2 |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1000:.0f} | {min(ts) * 1000:.0f} | {max(ts) * 1000:.0f} "
              f"| {med / peer_median:.2f} |")  # fmt: skip
    print()
    for name, ts in times.items():
        if name != peer:
            ratio = statistics.median(ts) / peer_median
            verdict = "within" if ratio <= TARGET else "NOT within"
            print(f"{name}: {ratio:.2f}x '{peer}' ({verdict} the {TARGET}x target)")


if __name__ == "__main__":
    main()
