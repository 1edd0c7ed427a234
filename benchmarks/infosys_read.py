"""What building the version map from a BDII costs, beside the LDAP floor and minimal ldap3.

Issue 8's speed target: the whole ``pps`` command that builds the tag -> sites map from a BDII
within 1.2x of a minimal ldap3 script doing the same searches in the same run: nothing beyond
the round trips and the start-up.  This script starts its own slapd with Debian's BDII
configuration (``tests/bdii_helpers.py``), loads 500 sites with 40 preview tags each as a top
BDII holds them (GLUE 1.3 under ``Mds-Vo-name=<site>,Mds-Vo-name=local,o=grid``, one GLUE 2.0
ApplicationEnvironment per tag under ``GLUE2DomainID=<site>,GLUE2GroupID=grid,o=glue``: 500
SubCluster entries with 40 RTE values, 20,000 GLUE 2.0 entries), then times, interleaved, each
as a whole process:

* ``python -c pass``                       the interpreter alone
* ``ldapsearch -x -LLL``, GLUE 1.3         the LDAP floor: one search of every preview RTE value
* ``ldapsearch -x -LLL``, both bases       the same, and the GLUE 2.0 entries (two processes)
* ldap3, one search                        the peer of ``pps infosys map``: a minimal script
                                           doing the GLUE 1.3 search, {tag: [sites]}, JSON
* ldap3, both bases                        the peer of ``pps infosys map --glue2``: both
                                           searches, no schema read, {tag: {site: state}}, JSON
* ldap3, both bases, schema read           the same with ldap3's default ``get_info`` (the
                                           schema read at connect that pps does not do)
* ``pps infosys map --infosys URL --json`` the command, through its console script (one search)
* ``pps infosys map --glue2 ...``          the same with the GLUE 2.0 states (two searches)

Every case is one whole process exec'd by this script (``os.posix_spawn``, no wrapper around
either side), its wall time from spawn to exit; each ``pps`` command and its peer alternate run
by run (the order flips every run), so both see the same load, and the children may write
bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped: an installed package has its bytecode; with it
set, every module edited since its last compile is compiled again at every run).  The script
prints a markdown table: median, min and max wall time of ``--runs`` runs (default 15) and the
ratio of medians to the two-search peer, then each pps command beside its own peer.  Before
timing, the maps pps prints are checked against the peers'.

Run: ``.venv/bin/python benchmarks/infosys_read.py [--runs 15] [--sites 500] [--tags 40]
[--venv DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bdii_helpers import LdapError, Slapd  # noqa: E402  (the repository's test bed)

RTE = "GlueHostApplicationSoftwareRunTimeEnvironment"
GLUE13_FILTER = f"({RTE}=VO-*-PPS-*)"
GLUE2_FILTER = (
    "(&(objectClass=GLUE2ApplicationEnvironment)(GLUE2ApplicationEnvironmentAppName=VO-*-PPS-*))"
)

#: The minimal ldap3 script: argv = URL, "1" (GLUE 1.3 only) or "2" (both), get_info.
MINIMAL = r"""
import json, sys
import warnings
warnings.simplefilter("ignore")
import ldap3
url, bases, info = sys.argv[1], sys.argv[2], sys.argv[3]
server = ldap3.Server(url, get_info=ldap3.NONE if info == "none" else ldap3.SCHEMA)
conn = ldap3.Connection(server, auto_bind=True)
rte = "GlueHostApplicationSoftwareRunTimeEnvironment"
conn.search("o=grid", "(%s=VO-*-PPS-*)" % rte, attributes=[rte])
if bases == "1":
    found = {}
    for e in conn.response:
        site = e["dn"].split(",")[-3].split("=", 1)[1]
        for tag in e["attributes"][rte]:
            found.setdefault(tag, []).append(site)
    print(json.dumps(found))
    sys.exit(0)
found = {}
for e in conn.response:
    site = e["dn"].split(",")[-3].split("=", 1)[1]
    for tag in e["attributes"][rte]:
        found.setdefault(tag, {})[site] = {"glue1": True, "glue2": None}
name, state = "GLUE2ApplicationEnvironmentAppName", "GLUE2ApplicationEnvironmentState"
conn.search("o=glue", sys.argv[4], attributes=[name, state])
for e in conn.response:
    site = e["dn"].split(",")[-3].split("=", 1)[1]
    a = e["attributes"]
    tag = a[name][0] if isinstance(a[name], list) else a[name]
    st = a[state][0] if isinstance(a[state], list) else a[state]
    found.setdefault(tag, {}).setdefault(site, {"glue1": False, "glue2": None})["glue2"] = st
print(json.dumps({"tags": found}))
"""


class BigSlapd(Slapd):
    """The test bed's slapd with room for the load: Debian's configuration leaves mdb at its
    default 10 MB map, which 20,000 GLUE 2.0 entries with their indexes overflow."""

    def write_conf(self) -> None:
        super().write_conf()
        text = re.sub(
            r"(?m)^(directory\s+\S+)\s*$", r"\1\nmaxsize         1073741824", self.conf.read_text()
        )
        self.conf.write_text(text)


def grid_ldif(sites: int, tags: int) -> str:
    """*sites* sites with *tags* tags each, parents included, as a top BDII holds them."""
    records = []
    for s in range(sites):
        site = f"SITE-{s:04d}"
        ce = f"ce{s:04d}.example.org"
        g1 = f"Mds-Vo-name={site},Mds-Vo-name=local,o=grid"
        res = f"Mds-Vo-name=resource,{g1}"
        cl = f"GlueClusterUniqueID={ce},{res}"
        g2 = f"GLUE2DomainID={site},GLUE2GroupID=grid,o=glue"
        g2res = f"GLUE2GroupID=resource,{g2}"
        names = [f"VO-dteam-PPS-comp{t % 8}-{t // 8}.{s % 3}-0" for t in range(tags)]
        records += [
            f"dn: {g1}\nobjectClass: MDS\nMds-Vo-name: {site}\n",
            f"dn: {res}\nobjectClass: MDS\nMds-Vo-name: resource\n",
            f"dn: {cl}\nobjectClass: GlueClusterTop\nobjectClass: GlueCluster\n"
            f"GlueClusterUniqueID: {ce}\n",
            f"dn: GlueSubClusterUniqueID={ce},{cl}\nobjectClass: GlueClusterTop\n"
            "objectClass: GlueSubCluster\nobjectClass: GlueHostApplicationSoftware\n"
            f"objectClass: GlueKey\nGlueSubClusterUniqueID: {ce}\n"
            f"GlueChunkKey: GlueClusterUniqueID={ce}\n" + "".join(f"{RTE}: {n}\n" for n in names),
            f"dn: {g2}\nobjectClass: GLUE2Domain\nobjectClass: GLUE2AdminDomain\n"
            f"GLUE2DomainID: {site}\n",
            f"dn: {g2res}\nobjectClass: GLUE2Group\nGLUE2GroupID: resource\n",
        ]
        for n in names:
            app_id = f"urn:pps:{ce}:{n}"
            records.append(
                f"dn: GLUE2ApplicationEnvironmentID={app_id},{g2res}\n"
                "objectClass: GLUE2Entity\nobjectClass: GLUE2ApplicationEnvironment\n"
                f"GLUE2ApplicationEnvironmentID: {app_id}\n"
                f"GLUE2ApplicationEnvironmentAppName: {n}\n"
                "GLUE2ApplicationEnvironmentState: installedverified\n"
                f"GLUE2ApplicationEnvironmentComputingManagerForeignKey: {ce}_Manager\n"
                f"GLUE2EntityOtherInfo: PPSSite={site}\n"
            )
    return "\n".join(records)


def pps_command(venv: Path) -> list[str]:
    """The ``pps`` console script of *venv* (``python -m distributor.cli`` without one)."""
    script = venv / "bin" / "pps"
    return [str(script)] if script.exists() else [str(venv / "bin" / "python"), "-m",
                                                  "distributor.cli"]  # fmt: skip


#: The children's environment: this script's without any PYTHON* variable, as an operator's
#: shell has it (no PYTHONUNBUFFERED, no PYTHONPATH; and no PYTHONDONTWRITEBYTECODE: they may
#: write bytecode, as an installed package has it).
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
#: Each pps command and the minimal ldap3 script doing what it does.
PAIRS = {
    "pps infosys map --json": "ldap3, one search (GLUE 1.3)",
    "pps infosys map --glue2 --json": "ldap3, both bases (peer)",
}


def timed(argv: list[str]) -> float:
    """Wall seconds of one process running *argv*, exec'd directly (``os.posix_spawn``) in the
    current directory; exits the benchmark if it fails."""
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0]) or argv[0]
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_DUP2, null.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(path, argv, ENV, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(f"{argv[0]} failed ({code}): {err.read().decode()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each case")
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--tags", type=int, default=40, help="preview tags per site")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix),
                        help="the environment whose pps and python are timed (default: this "
                        "script's; a wheel install: python3 -m venv DIR && DIR/bin/pip install "
                        "CHECKOUT)")  # fmt: skip
    args = parser.parse_args()
    venv = args.venv.absolute()
    for tool in ("ldapsearch", "ldapadd"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install ldap-utils")

    work = Path(tempfile.mkdtemp(prefix="pps-infosys-bench-"))
    server = BigSlapd(work / "slapd")
    try:
        server.start()
        server.seed()
        text = grid_ldif(args.sites, args.tags)
        started = time.perf_counter()
        try:
            server.add(text)
        except LdapError as e:
            raise SystemExit(f"loading the BDII failed: {str(e)[:1000]}") from None
        load = time.perf_counter() - started
        url = server.url
        py = str(venv / "bin" / "python")  # the peers run on the interpreter pps runs on
        pps = pps_command(venv)
        search = ["ldapsearch", "-x", "-LLL", "-H", url]
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "ldapsearch -x -LLL, GLUE 1.3": [*search, "-b", "o=grid", GLUE13_FILTER, RTE],
            "ldapsearch -x -LLL, both bases": [
                "sh", "-c",
                f'{" ".join(search)} -b o=grid "{GLUE13_FILTER}" {RTE} && '
                f'{" ".join(search)} -b o=glue "{GLUE2_FILTER}" '
                "GLUE2ApplicationEnvironmentAppName GLUE2ApplicationEnvironmentState",
            ],
            "ldap3, one search (GLUE 1.3)": [py, "-c", MINIMAL, url, "1", "none"],
            "ldap3, both bases (peer)": [py, "-c", MINIMAL, url, "2", "none", GLUE2_FILTER],
            "ldap3, both bases, schema read": [py, "-c", MINIMAL, url, "2", "schema", GLUE2_FILTER],
            "pps infosys map --json": [*pps, "infosys", "map", "--infosys", url, "--json"],
            "pps infosys map --glue2 --json": [*pps, "infosys", "map", "--glue2", "--infosys",
                                               url, "--json"],
        }  # fmt: skip
        env_cwd = work  # no pps.toml there: the command reads the BDII without an inventory

        # The maps agree before anything is timed.
        peer = json.loads(subprocess.run(cases["ldap3, both bases (peer)"], capture_output=True,
                                         check=True, env=ENV).stdout)["tags"]  # fmt: skip
        ours = json.loads(subprocess.run(cases["pps infosys map --glue2 --json"],
                                         capture_output=True, check=True, env=ENV,
                                         cwd=env_cwd).stdout)["tags"]  # fmt: skip
        if ours != peer:
            raise SystemExit("pps infosys map --glue2 and the minimal ldap3 script disagree")
        one = json.loads(subprocess.run(cases["ldap3, one search (GLUE 1.3)"],
                                        capture_output=True, check=True,
                                        env=ENV).stdout)  # fmt: skip
        ours1 = json.loads(subprocess.run(cases["pps infosys map --json"], capture_output=True,
                                          check=True, env=ENV,
                                          cwd=env_cwd).stdout)["tags"]  # fmt: skip
        pairs = {(t, site) for t, sites in one.items() for site in sites}
        if pairs != {(t, site) for t, sites in ours1.items() for site in sites}:
            raise SystemExit("pps infosys map and the one-search ldap3 script disagree")
        values = sum(len(sites) for sites in ours.values())

        times: dict[str, list[float]] = {name: [] for name in cases}
        os.chdir(env_cwd)
        for argv in cases.values():  # warm-up: caches, bytecode, slapd's pages
            timed(argv)
        loads = []
        for run in range(args.runs):
            loads.append(os.getloadavg()[0])
            for name, argv in cases.items():  # the references, once a run
                if name not in PAIRS and name not in PAIRS.values():
                    times[name].append(timed(argv))
            for ours_name, peer_name in PAIRS.items():  # each beside its peer, alternating
                for name in (ours_name, peer_name) if run % 2 == 0 else (peer_name, ours_name):
                    times[name].append(timed(cases[name]))
    finally:
        os.chdir("/")
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    peer_median = statistics.median(times["ldap3, both bases (peer)"])
    print(
        f"{args.sites} sites x {args.tags} tags ({values} tag-site pairs, {args.sites} GLUE 1.3 "
        f"entries, {args.sites * args.tags} GLUE 2.0 entries); loaded in {load:.1f} s; "
        f"{args.runs} runs each, each pps command alternated with its peer; Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {min(loads):.2f} to "
        f"{max(loads):.2f} over the runs"
    )
    print()
    print("| case | median ms | min ms | max ms | x peer |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"| {name} | {med * 1000:.0f} | {min(ts) * 1000:.0f} | {max(ts) * 1000:.0f} "
            f"| {med / peer_median:.2f} |"
        )
    print()
    print("| command | median ms | peer | peer median ms | x peer |")
    print("|---|---:|---|---:|---:|")
    for ours_name, peer_name in PAIRS.items():
        ours_median = statistics.median(times[ours_name])
        peer_median_ = statistics.median(times[peer_name])
        print(f"| {ours_name} | {ours_median * 1000:.0f} | {peer_name} | "
              f"{peer_median_ * 1000:.0f} | {ours_median / peer_median_:.2f} |")  # fmt: skip
    print()
    for ours_name, peer_name in PAIRS.items():
        ratio = statistics.median(times[ours_name]) / statistics.median(times[peer_name])
        verdict = "within" if ratio <= 1.2 else "NOT within"
        print(f"{ours_name}: {ratio:.2f}x '{peer_name}' ({verdict} the 1.2x target)")
    if max(loads) > (os.cpu_count() or 1) * 0.75:
        print(f"note: a load average of {max(loads):.2f} on {os.cpu_count()} CPUs: other processes "
              "competed for them, so the figures vary from run to run; rerun on a quiet "
              "machine")  # fmt: skip


if __name__ == "__main__":
    main()
