"""What ``pps bulletin build`` costs, each figure beside its peer in the same run (issue 14).

Two settings, each timed as whole processes (``os.posix_spawn``, wall time from spawn to exit),
alternating with their peer run by run (the order flips every run) so both see the same load:

* **A real slapd** with Debian's BDII configuration (``tests/bdii_helpers.py``), loaded as a top
  BDII holds them with *--sites* sites (500) publishing *--versions* preview versions (50) each,
  GLUE 1.3 and 2.0 (one ApplicationEnvironment per tag, as ``benchmarks/infosys_read.py`` loads
  them; every 7th site has one version broken, every 11th one pending removal), an inventory of
  those sites and a repository index of those versions: ``pps bulletin build --infosys URL``
  (every page: the index, a page per version and per site, map.json, feed.atom) beside its
  peer ``pps infosys map --glue2 --infosys URL --json`` on the same BDII.  Target: under 2 s and
  within 1.5x of the peer; index.html under 5 MB.
* **The embedded default** (no BDII: each site's own GIP provider, run through its local
  transport): *--local-sites* (100) local sites x the same versions, beside the 6-site grid of
  the demo's size built the same way.  Target: under 3 s.

The script prints a markdown table: median, min and max of ``--runs`` runs (default 7), and each
command beside its peer with the ratio of medians, then the size of index.html.

Run: ``.venv/bin/python benchmarks/bulletin_build.py [--runs 7] [--sites 500] [--versions 50]
[--local-sites 100] [--venv DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from infosys_read import RTE, BigSlapd, pps_command, timed  # noqa: E402

from pps.classes import ReleaseType, UpdateClass  # noqa: E402
from pps.repository import Index, Release, Repository, release_dir, tarball_name  # noqa: E402
from tests.bdii_helpers import LdapError  # noqa: E402

VOS = ("dteam", "ops")


def versions(n: int) -> list[tuple[str, str]]:
    return [(f"comp{t % 10}", f"{t // 10}.0-0") for t in range(n)]


def write_repository(path: Path, releases: list[tuple[str, str]]) -> None:
    items = [
        Release(
            component=c, version=v, stage="staged-rollout",
            tarball=f"{release_dir('staged-rollout', c, v)}/{tarball_name(c, v)}",
            sha256="0" * 64, size=1024, update_class=UpdateClass.BC_CLIENT,
            release_type=ReleaseType.MINOR, created="2010-05-20T09:30:00Z",
            notes_url=f"https://pps.example.org/notes/{c}/{v}",
        )
        for c, v in releases
    ]  # fmt: skip
    Repository(path).save(Index(items))


def glue2_state(site: int, t: int) -> str:
    if site % 7 == 0 and t == 0:
        return "installedbroken"
    if site % 11 == 0 and t == 1:
        return "pendingremoval"
    return "installedverified"


def bdii_ldif(sites: int, releases: list[tuple[str, str]]) -> str:
    """Every site publishing every version for dteam, as a top BDII holds them."""
    records = []
    for s in range(sites):
        site = f"SITE-{s:04d}"
        ce = f"ce{s:04d}.example.org"
        g1 = f"Mds-Vo-name={site},Mds-Vo-name=local,o=grid"
        res = f"Mds-Vo-name=resource,{g1}"
        cl = f"GlueClusterUniqueID={ce},{res}"
        g2 = f"GLUE2DomainID={site},GLUE2GroupID=grid,o=glue"
        g2res = f"GLUE2GroupID=resource,{g2}"
        names = [f"VO-dteam-PPS-{c}-{v}" for c, v in releases]
        live = [n for t, n in enumerate(names) if glue2_state(s, t) == "installedverified"]
        records += [
            f"dn: {g1}\nobjectClass: MDS\nMds-Vo-name: {site}\n",
            f"dn: {res}\nobjectClass: MDS\nMds-Vo-name: resource\n",
            f"dn: {cl}\nobjectClass: GlueClusterTop\nobjectClass: GlueCluster\n"
            f"GlueClusterUniqueID: {ce}\n",
            f"dn: GlueSubClusterUniqueID={ce},{cl}\nobjectClass: GlueClusterTop\n"
            "objectClass: GlueSubCluster\nobjectClass: GlueHostApplicationSoftware\n"
            f"objectClass: GlueKey\nGlueSubClusterUniqueID: {ce}\n"
            f"GlueChunkKey: GlueClusterUniqueID={ce}\n{RTE}: PPS-PREVIEW\n"
            + "".join(f"{RTE}: {n}\n" for n in live),
            f"dn: {g2}\nobjectClass: GLUE2Domain\nobjectClass: GLUE2AdminDomain\n"
            f"GLUE2DomainID: {site}\n",
            f"dn: {g2res}\nobjectClass: GLUE2Group\nGLUE2GroupID: resource\n",
        ]
        for t, n in enumerate(names):
            app_id = f"urn:pps:{ce}:{n}"
            records.append(
                f"dn: GLUE2ApplicationEnvironmentID={app_id},{g2res}\n"
                "objectClass: GLUE2Entity\nobjectClass: GLUE2ApplicationEnvironment\n"
                f"GLUE2ApplicationEnvironmentID: {app_id}\n"
                f"GLUE2ApplicationEnvironmentAppName: {n}\n"
                f"GLUE2ApplicationEnvironmentState: {glue2_state(s, t)}\n"
                f"GLUE2ApplicationEnvironmentComputingManagerForeignKey: {ce}_Manager\n"
                f"GLUE2EntityOtherInfo: PPSSite={site}\n"
            )
    return "\n".join(records)


def write_config(root: Path, sites: int, releases: list[tuple[str, str]], local: bool) -> Path:
    """A pps.toml of *sites* silver sites (local site trees with tags files when *local*)."""
    lines = ['[repository]\npath = "repo"\n', '[state]\npath = "state.sqlite"\n']
    for s in range(sites):
        name = f"SITE-{s:04d}"
        sub = f"ce{s:04d}.example.org"
        entry = (f'[[sites]]\nname = "{name}"\npartner = "silver"\nvos = ["dteam", "ops"]\n'
                 f'transport = "local"\nsubcluster = "{sub}"\nroot = "sites/{name}"\n')  # fmt: skip
        if local:
            tree = root / "sites" / name
            (tree / "etc/profile.d").mkdir(parents=True, exist_ok=True)
            (tree / "etc/profile.d/grid.sh").write_text(f'export SITE_NAME="{name}"\n')
            for vo in VOS:
                info = tree / "opt/glite/var/info" / sub / vo
                info.mkdir(parents=True, exist_ok=True)
                tags = ["PPS-PREVIEW"] + [f"VO-{vo}-PPS-{c}-{v}" for c, v in releases]
                (info / f"{vo}.list").write_text("".join(t + "\n" for t in tags))
        lines.append(entry)
    config = root / "pps.toml"
    config.write_text("\n".join(lines))
    write_repository(root / "repo", releases)
    return config


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def race(cases: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, list[float]]:
    """Each case *runs* times, alternating, the order flipping every run (after a warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        for argv in cases.values():
            timed(argv)
        names = list(cases)
        for run in range(runs):
            for name in names if run % 2 == 0 else names[::-1]:
                times[name].append(timed(cases[name]))
    finally:
        os.chdir(here)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--local-sites", type=int, default=100)
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    args = parser.parse_args()
    pps = pps_command(args.venv.absolute())
    releases = versions(args.versions)
    work = Path(tempfile.mkdtemp(prefix="pps-bulletin-bench-"))
    rows: list[tuple[str, list[float], str, list[float], str]] = []
    sizes: dict[str, int] = {}
    server = BigSlapd(work / "slapd")
    try:
        server.start()
        server.seed()
        started = time.perf_counter()
        try:
            server.add(bdii_ldif(args.sites, releases))
        except LdapError as e:
            raise SystemExit(f"loading the BDII failed: {str(e)[:1000]}") from None
        load = time.perf_counter() - started
        bdii = work / "bdii"
        bdii.mkdir()
        config = write_config(bdii, args.sites, releases, local=False)
        url = server.url
        cases = {
            "bulletin": [*pps, "--config", str(config), "bulletin", "build", "--out",
                         str(bdii / "out"), "--infosys", url],
            "map": [*pps, "--config", str(config), "infosys", "map", "--glue2", "--infosys",
                    url, "--json"],
        }  # fmt: skip
        t = race(cases, args.runs, bdii)
        sizes["slapd"] = (bdii / "out" / "index.html").stat().st_size
        rows.append(
            (
                f"pps bulletin build --infosys (slapd, {args.sites} sites x {args.versions} "
                "versions)",
                t["bulletin"],
                "pps infosys map --glue2 --json (same BDII)",
                t["map"],
                "< 2 s, <= 1.5x",
            )  # fmt: skip
        )
    finally:
        server.stop()

    local = work / "local"
    small = work / "small"
    local.mkdir()
    small.mkdir()
    big_config = write_config(local, args.local_sites, releases, local=True)
    small_config = write_config(small, 6, releases, local=True)
    cases = {
        "big": [*pps, "--config", str(big_config), "bulletin", "build", "--out",
                str(local / "out"), "--infosys", ""],
        "small": [*pps, "--config", str(small_config), "bulletin", "build", "--out",
                  str(small / "out"), "--infosys", ""],
    }  # fmt: skip
    t = race(cases, args.runs, local)
    sizes["local"] = (local / "out" / "index.html").stat().st_size
    rows.append(
        (
            f"pps bulletin build, embedded default ({args.local_sites} local sites x "
            f"{args.versions} versions)",
            t["big"],
            "the same, 6 local sites (the demo's size)",
            t["small"],
            "< 3 s",
        )  # fmt: skip
    )
    shutil.rmtree(work, ignore_errors=True)

    print(f"BDII loaded in {load:.1f} s; {args.runs} runs of each case, alternating; "
          f"load average {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| command | median s | min s | max s | peer | peer median s | ratio | target |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mine, peer_name, peer, target in rows:
        m, lo, hi = stats(mine)
        pm = statistics.median(peer)
        print(f"| {name} | {m:.2f} | {lo:.2f} | {hi:.2f} | {peer_name} | {pm:.2f} | "
              f"{m / pm:.2f}x | {target} |")  # fmt: skip
    print()
    print(f"index.html: {sizes['slapd'] / 1e6:.2f} MB from the slapd ({args.sites} sites), "
          f"{sizes['local'] / 1e6:.2f} MB on the embedded default; target < 5 MB")  # fmt: skip


if __name__ == "__main__":
    main()
