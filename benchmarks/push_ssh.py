"""What ``pps push`` over SSH costs at N sites, beside an OpenSSH pipeline and Ansible.

The requirement: pushing a ~40 MB / ~3000-file release to N = 24 sshd sites (``pps push``, the
probe's install, its tests and the tag included) takes at most 1.2x a parallel OpenSSH baseline
and at most half of Ansible's time, measured in the same run.  This script builds, in a temp
dir, the deterministic grid-client-like source tree of ``benchmarks/probe_first_install.py``
(its ``build_tree``, imported, not copied), makes one release of it with ``pps release create``
(one trivial local test: ``glite-version | grep -q VERSION``), starts one real OpenSSH server per
site on 127.0.0.1 (``tests/sshd_helpers.py``: own host key and root dir per site, one client
identity and ``known_hosts``), and times, for each N (``--sites``, default 1,8,24) and each round
(``--runs``, default 3; rounds interleaved, the order of the cases rotating), every case into
fresh destinations at the first N sites:

* ``openssh``    the baseline: N concurrent ``ssh site "mkdir -p D && tee >(sha256sum >
                 D.sha256) | tar xzf - -C D" < tarball`` (under bash), from the launch of the
                 first until all exited
* ``pps``        ``.venv/bin/pps --config X push glite-UI 3.2.8-0 --parallel N`` as a process
                 (its start-up counted), with a fresh ``pps.toml``, state and site dirs: a
                 first install at every site (the probe is uploaded, then fetches, verifies,
                 installs, tests and tags); it must exit 0 and every site's tags file must hold
                 the tag, else the row says FAILED and the push's output is printed
* ``ansible``    ``ansible-playbook`` with one ``ansible.builtin.unarchive`` task (the tarball on
                 the controller, a destination made beforehand), ``forks = N``, no facts;
                 ansible-core is pip-installed once into ``--ansible-venv`` (left out, with a
                 line saying why, when it cannot be installed; ``--no-ansible`` skips it)
* ``paramiko``   (``--paramiko``) a plain paramiko pool: one process, N threads, each streaming
                 the tarball into the baseline's remote pipeline over an exec channel
* ``local``      N concurrent local ``tar xzf TARBALL -C D``: the CPU floor, since every "site"
                 shares this machine
* ``base``       (``--baseline DIR``) the same push by the pps of another checkout DIR (e.g. a
                 ``git worktree`` of an older commit): ``python -c "from distributor.cli import
                 main; main()"`` with ``PYTHONPATH=DIR``, this venv's python and packages; its
                 probe bundle is built from DIR too.  An A/B check of a change, alternated with
                 the other cases in the same rounds

Every case is run once at the smallest N before the rounds (not counted: page cache, .pyc
files, the probe's caches at the first site).  The sites' probe caches (``PPS_CACHE_DIR``,
``PPS_BUNDLE_CACHE``, which the testbed puts in each site's server dir) are kept between rounds,
as at a site where the probe has run before; ``--cold-caches`` empties them before every push
(a site's very first push).  Creating destinations, grids and inventories is not timed; dirty
pages are flushed (``sync``) before each timed command, and nothing is removed before the end
(see ``probe_first_install.py`` on ext4 and recently deleted inodes), so the temp dir grows by
about ``(runs x sum(N) + 1) x (cases x unpacked + tarball)``: some 31 GB with the defaults,
37 GB with ``--paramiko`` (checked against the free space first; ``--keep`` also keeps every
command's output in ``logs/``).  The tree builder makes a fixed ~40 MB / 3000-file tree, so
there is no ``--size-mb``/``--files``; ``--scale F`` keeps a deterministic share F of its files.

It prints a markdown table of medians per N with each case's ratio to ``openssh``, the median,
min and max of every case, and whether the targets hold at the largest N.

Run: ``.venv/bin/python benchmarks/push_ssh.py [--sites 1,8,24] [--runs 3] [--paramiko]
[--no-ansible] [--ansible-venv DIR] [--baseline DIR] [--cold-caches] [--scale F] [--dir DIR]
[--keep] [--quick]``
(``--quick``: N = 1,2, a 5% tree, 1 run: a smoke test).  Run it as root (the testbed's sshd).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from tests.sshd_helpers import SshSite, SshTestbed, start_testbed  # noqa: E402


def _first_install_module() -> ModuleType:
    """``benchmarks/probe_first_install.py`` by path (``benchmarks/`` is no package)."""
    path = PROJECT / "benchmarks" / "probe_first_install.py"
    spec = importlib.util.spec_from_file_location("probe_first_install", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIRST_INSTALL = _first_install_module()
COMPONENT: str = FIRST_INSTALL.COMPONENT
VERSION: str = FIRST_INSTALL.VERSION
TAG = f"VO-dteam-PPS-{COMPONENT}-{VERSION}"
PPS = Path(sys.executable).parent / "pps"
SITE_PYTHON = "/usr/bin/python3"
CASES = ("openssh", "pps", "base", "ansible", "paramiko", "local")
LABELS = {
    "openssh": "openssh s",
    "pps": "pps s",
    "base": "baseline pps s",
    "ansible": "ansible s",
    "paramiko": "paramiko s",
    "local": "local extract s",
}

#: The plain paramiko pool, run as its own process: ``python -c POOL SPEC`` where SPEC is JSON
#: ``{"tarball", "identity", "known_hosts", "sites": [[port, remote command], ...]}``.  One
#: thread per site; exits 1 with every site's error when one failed.
PARAMIKO_POOL = """\
import json, sys, threading
import paramiko
spec = json.loads(sys.argv[1])
errors = []
def push(port, command):
    try:
        client = paramiko.SSHClient()
        client.load_host_keys(spec["known_hosts"])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", port=port, username="root", key_filename=spec["identity"],
                       look_for_keys=False, allow_agent=False, timeout=30)
        channel = client.get_transport().open_session()
        channel.exec_command(command)
        with open(spec["tarball"], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                channel.sendall(chunk)
        channel.shutdown_write()
        err = channel.makefile_stderr("rb").read()
        code = channel.recv_exit_status()
        client.close()
        if code != 0:
            errors.append(f"port {port}: exit {code}: {err.decode(errors='replace')}")
    except Exception as e:
        errors.append(f"port {port}: {type(e).__name__}: {e}")
threads = [threading.Thread(target=push, args=tuple(s)) for s in spec["sites"]]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit("\\n".join(errors))
"""


class CaseFailed(Exception):
    """A timed command failed: the message says how (the row shows FAILED)."""


@dataclass
class Bench:
    """What every case needs."""

    tmp: Path
    bed: SshTestbed
    repo: Path
    tarball: Path
    sha256: str
    ansible_playbook: Path | None
    cold_caches: bool
    control_dirs: list[Path] = field(default_factory=list)
    #: ``--baseline``: the checkout whose pps the ``base`` case runs.
    baseline: Path | None = None

    def sites(self, n: int) -> list[SshSite]:
        return self.bed.sites[:n]


# The source tree and the release


def scale_tree(root: Path, share: float, seed: int) -> None:
    """Keep a deterministic *share* of the regular files below *root* (``bin/glite-version``,
    which the release's test runs, always); drop the symlinks left dangling and the directories
    left empty."""
    if share >= 1.0:
        return
    rng = random.Random(seed)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if rng.random() >= share and path.relative_to(root).as_posix() != "bin/glite-version":
            path.unlink()
    for path in sorted(root.rglob("*")):
        if path.is_symlink() and not path.exists():
            path.unlink()
    for path in sorted(root.rglob("*"), reverse=True):  # the deepest first
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def make_release(tmp: Path, share: float) -> tuple[Path, Path]:
    """Build the tree and release it into a repository of its own; (repository, tarball)."""
    src = tmp / "src"
    FIRST_INSTALL.build_tree(src)
    scale_tree(src, share, FIRST_INSTALL.SEED)
    master = tmp / "master"
    master.mkdir()
    config = master / "pps.toml"
    config.write_text('[repository]\npath = "repo"\n')
    test = f"version=glite-version | grep -q {VERSION}"
    for argv in (
        ["repo", "init"],
        ["release", "create", COMPONENT, VERSION, "--from", str(src), "--class", "bc-client",
         "--type", "revision", "--test", test],
    ):  # fmt: skip
        done = subprocess.run([str(PPS), "--config", str(config), *argv],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"pps {' '.join(argv[:2])} exited {done.returncode}:\n"
                     f"{done.stdout}{done.stderr}")  # fmt: skip
    repo = master / "repo"
    tarballs = sorted(repo.rglob("*.tar.gz"))
    if len(tarballs) != 1:
        sys.exit(f"expected one tarball in {repo}, found {tarballs}")
    return repo, tarballs[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Timing helpers


def remote_pipeline(dest: Path) -> str:
    """The baseline's command at a site: bash, hash what arrives, unpack it."""
    d = shlex.quote(str(dest))
    script = f"set -o pipefail; mkdir -p {d} && tee >(sha256sum > {d}.sha256) | tar xzf - -C {d}"
    return f"bash -c {shlex.quote(script)}"


def run_all(commands: Sequence[tuple[list[str], Path | None]], logs: Path) -> float:
    """Start every ``(argv, stdin file)`` at once, wait for all; seconds.  Raises CaseFailed
    with the stderr of those that exited non-zero."""
    logs.mkdir(parents=True, exist_ok=True)
    os.sync()  # write back the previous case's files now, not during this one
    procs = []
    files: list[IO[bytes]] = []
    start = time.perf_counter()
    try:
        for i, (argv, stdin) in enumerate(commands):
            err = open(logs / f"{i:02d}.err", "wb")
            files.append(err)
            src: IO[bytes] | int = subprocess.DEVNULL
            if stdin is not None:
                src = open(stdin, "rb")
                files.append(src)
            procs.append(subprocess.Popen(argv, stdin=src, stdout=err, stderr=err))
        codes = [p.wait() for p in procs]
        seconds = time.perf_counter() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in files:
            f.close()
    bad = [i for i, code in enumerate(codes) if code != 0]
    if bad:
        said = "\n".join(
            f"  [{i}] exit {codes[i]}: {(logs / f'{i:02d}.err').read_text(errors='replace')}"
            for i in bad
        )
        raise CaseFailed(f"{len(bad)} of {len(codes)} commands failed:\n{said}")
    return seconds


def check_unpacked(dests: Sequence[Path], sha256: str | None) -> None:
    """Every destination holds the tree (and, for the pipelines, the right hash)."""
    for dest in dests:
        if not (dest / "bin/glite-version").is_file():
            raise CaseFailed(f"{dest}: nothing unpacked (no bin/glite-version)")
        if sha256 is None:
            continue
        hashed = Path(f"{dest}.sha256")
        text = ""
        for _ in range(500):  # the process substitution may finish just after bash
            text = hashed.read_text() if hashed.exists() else ""
            if text.endswith("\n"):
                break
            time.sleep(0.01)
        if text.split()[:1] != [sha256]:
            raise CaseFailed(f"{hashed}: hashed {text!r}, the tarball is {sha256}")


# The cases


def keep_output(bench: Bench, name: str, done: subprocess.CompletedProcess[str]) -> None:
    """A timed command's output, into ``logs/`` (kept with ``--keep``)."""
    logs = bench.tmp / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{name}.out").write_text(f"exit {done.returncode}\n{done.stdout}{done.stderr}")


def case_openssh(bench: Bench, n: int, label: str) -> float:
    dests = [site.root / f"openssh-{label}" for site in bench.sites(n)]
    commands = [
        (["ssh", *bench.bed.ssh_options(), "-p", str(site.port), f"{bench.bed.user}@127.0.0.1",
          remote_pipeline(dest)], bench.tarball)
        for site, dest in zip(bench.sites(n), dests)
    ]  # fmt: skip
    seconds = run_all(commands, bench.tmp / "logs" / f"openssh-{label}")
    check_unpacked(dests, bench.sha256)
    return seconds


def case_local(bench: Bench, n: int, label: str) -> float:
    dests = [site.root / f"local-{label}" for site in bench.sites(n)]
    for dest in dests:
        dest.mkdir()
    commands = [(["tar", "xzf", str(bench.tarball), "-C", str(dest)], None) for dest in dests]
    seconds = run_all(commands, bench.tmp / "logs" / f"local-{label}")
    check_unpacked(dests, None)
    return seconds


def case_paramiko(bench: Bench, n: int, label: str) -> float:
    dests = [site.root / f"paramiko-{label}" for site in bench.sites(n)]
    spec = {
        "tarball": str(bench.tarball),
        "identity": str(bench.bed.identity),
        "known_hosts": str(bench.bed.known_hosts),
        "sites": [[site.port, remote_pipeline(dest)] for site, dest in zip(bench.sites(n), dests)],
    }
    argv = [sys.executable, "-c", PARAMIKO_POOL, json.dumps(spec)]
    seconds = run_all([(argv, None)], bench.tmp / "logs" / f"paramiko-{label}")
    check_unpacked(dests, bench.sha256)
    return seconds


def _site_toml(site: SshSite, root: Path, bed: SshTestbed) -> str:
    q = json.dumps  # a TOML basic string, for these plain paths
    return textwrap.dedent(f"""\
        [[sites]]
        name = {q(site.name)}
        partner = "none"
        vos = ["dteam"]
        transport = "ssh"
        host = "127.0.0.1"
        port = {site.port}
        user = {q(bed.user)}
        identity = {q(str(bed.identity))}
        known_hosts = {q(str(bed.known_hosts))}
        python = {q(SITE_PYTHON)}
        subcluster = {q(f"ce.{site.name.lower()}.bench")}
        preview_root = {q(f"{root}/opt/pps/preview")}
        info_dir = {q(f"{root}/opt/glite/var/info")}
        profile_d = {q(f"{root}/etc/profile.d")}
        site_config = {q(f"{root}/etc/pps/site.toml")}
        """)


def case_pps(bench: Bench, n: int, label: str) -> float:
    return _push(bench, n, label, [str(PPS)], None)


def case_base(bench: Bench, n: int, label: str) -> float:
    assert bench.baseline is not None
    launch = [sys.executable, "-c", "from distributor.cli import main; main()"]
    return _push(bench, n, f"base-{label}", launch, {**os.environ,
                 "PYTHONPATH": str(bench.baseline)})  # fmt: skip


def _push(bench: Bench, n: int, label: str, launch: list[str],
          env: dict[str, str] | None) -> float:  # fmt: skip
    """``pps push`` (started as *launch*) to the first *n* sites, into fresh dirs; seconds."""
    grid = bench.tmp / "grids" / label
    grid.mkdir(parents=True)
    lines = [f"[repository]\npath = {json.dumps(str(bench.repo))}\n"]
    roots = []
    for site in bench.sites(n):
        root = site.root / f"pps-{label}"
        (root / "etc/profile.d").mkdir(parents=True)
        (root / "etc/profile.d/grid.sh").write_text(f'export SITE_NAME="{site.name}"\n')
        (root / "opt/glite/var/info").mkdir(parents=True)
        lines.append(_site_toml(site, root, bench.bed))
        roots.append((site, root))
        if bench.cold_caches:
            for cache in ("pps-cache", "pps-bundle-cache"):
                shutil.rmtree(site.dir / cache, ignore_errors=True)
    config = grid / "pps.toml"
    config.write_text("\n".join(lines))
    argv = [*launch, "--config", str(config), "push", COMPONENT, VERSION, "--parallel", str(n)]
    os.sync()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=grid, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    keep_output(bench, f"pps-{label}", done)
    missing = []
    for site, root in roots:
        tags = root / f"opt/glite/var/info/ce.{site.name.lower()}.bench/dteam/dteam.list"
        if not tags.exists() or TAG not in tags.read_text().split():
            missing.append(site.name)
    if done.returncode != 0 or missing:
        raise CaseFailed(
            f"pps push exited {done.returncode}; sites without {TAG}: {missing or 'none'}\n"
            f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}"
        )
    return seconds


def ensure_ansible(venv: Path) -> Path | None:
    """``ansible-playbook`` of ansible-core in *venv* (pip-installed there when missing)."""
    playbook = venv / "bin/ansible-playbook"
    if playbook.exists():
        return playbook
    print(f"installing ansible-core into {venv} ...", file=sys.stderr)
    for argv in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "ansible-core"],
    ):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            print(f"ansible: {shlex.join(argv)} timed out; the ansible column is left out")
            return None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(nothing)"]
            print(f"ansible: cannot install ansible-core into {venv} ({argv[2]} exited "
                  f"{done.returncode}: {said[0]}); the ansible column is left out")  # fmt: skip
            return None
    return playbook if playbook.exists() else None


def case_ansible(bench: Bench, n: int, label: str) -> float:
    assert bench.ansible_playbook is not None
    work = bench.tmp / "ansible" / label
    work.mkdir(parents=True)
    control = bench.tmp / "cp" / label  # short: a Unix socket path has 108 bytes
    control.mkdir(parents=True)
    bench.control_dirs.append(control)
    bed = bench.bed
    ssh_args = (f"-o UserKnownHostsFile={bed.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes")  # fmt: skip
    hosts = []
    dests = []
    for site in bench.sites(n):
        dest = site.root / f"ansible-{label}"
        dest.mkdir()
        dests.append(dest)
        hosts.append(
            f"{site.name} ansible_host=127.0.0.1 ansible_port={site.port} "
            f"ansible_user={bed.user} ansible_ssh_private_key_file={bed.identity} "
            f"ansible_python_interpreter={SITE_PYTHON} "
            f"ansible_remote_tmp={site.root}/ansible-tmp-{label} bench_dest={dest}"
        )
    inventory = work / "hosts.ini"
    inventory.write_text("[sites]\n" + "\n".join(hosts) + "\n\n[sites:vars]\n"
                         f"ansible_ssh_common_args='{ssh_args}'\n")  # fmt: skip
    config = work / "ansible.cfg"
    config.write_text(textwrap.dedent(f"""\
        [defaults]
        forks = {n}
        host_key_checking = True
        local_tmp = {work}/local-tmp
        retry_files_enabled = False
        nocolor = True

        [ssh_connection]
        control_path_dir = {control}
        """))  # fmt: skip
    play = [{
        "name": "unpack the release",
        "hosts": "sites",
        "gather_facts": False,
        "tasks": [{
            "name": "unarchive",
            "ansible.builtin.unarchive": {"src": str(bench.tarball), "dest": "{{ bench_dest }}"},
        }],
    }]  # fmt: skip
    playbook = work / "play.yml"
    playbook.write_text(json.dumps(play, indent=1))  # JSON is YAML
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_HOME": str(bench.tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "local-tmp"),
    }
    argv = [str(bench.ansible_playbook), "-i", str(inventory), str(playbook)]
    os.sync()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    keep_output(bench, f"ansible-{label}", done)
    close_masters(control)
    if done.returncode != 0:
        raise CaseFailed(f"ansible-playbook exited {done.returncode}:\n{done.stdout}{done.stderr}")
    check_unpacked(dests, None)
    return seconds


def close_masters(control: Path) -> None:
    """Ask the ControlPersist masters Ansible left (one per site) to exit now."""
    if not control.is_dir():
        return
    for sock in control.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "127.0.0.1"],
                       capture_output=True, timeout=10)  # fmt: skip


# The report


def cell(times: list[float] | None, base: float | None, failed: bool) -> str:
    if failed:
        return "FAILED"
    if not times:
        return "-"
    med = statistics.median(times)
    return f"{med:.2f} ({med / base:.2f}x)" if base else f"{med:.2f}"


def report(
    results: dict[tuple[str, int], list[float]],
    failed: set[tuple[str, int]],
    cases: Sequence[str],
    sites: Sequence[int],
) -> None:
    columns = [c for c in CASES if c in cases]
    print("| N | " + " | ".join(LABELS[c] for c in columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for n in sites:
        base_times = results.get(("openssh", n))
        base = None
        if base_times and ("openssh", n) not in failed:
            base = statistics.median(base_times)
        row = [
            cell(results.get((c, n)), None if c == "openssh" else base, (c, n) in failed)
            for c in columns
        ]
        print(f"| {n} | " + " | ".join(row) + " |")

    print("\nseconds (median, min, max):")
    for n in sites:
        for c in columns:
            times = results.get((c, n), [])
            state = " FAILED" if (c, n) in failed else ""
            if times:
                print(f"  N={n:<3} {c:<9} {statistics.median(times):8.2f} {min(times):8.2f} "
                      f"{max(times):8.2f}  ({len(times)} runs){state}")  # fmt: skip
            else:
                print(f"  N={n:<3} {c:<9} no run{state}")

    n = max(sites)

    def median(case: str) -> float | None:
        times = results.get((case, n))
        return statistics.median(times) if times and (case, n) not in failed else None

    pps, openssh, ansible = median("pps"), median("openssh"), median("ansible")
    if "base" in cases:
        print()
        for m in sites:
            new, old = results.get(("pps", m)), results.get(("base", m))
            if new and old and not {("pps", m), ("base", m)} & failed:
                ratio = statistics.median(new) / statistics.median(old)
                print(f"pps / baseline pps at N = {m}: {ratio:.2f}x")
    if pps is None or openssh is None:
        print(f"\ntargets at N = {n}: cannot tell (pps or openssh failed or did not run)")
        return
    ratio = pps / openssh
    first = f"pps <= 1.20x openssh: {ratio:.2f}x ({'met' if ratio <= 1.2 else 'NOT met'})"
    if ansible is None:
        second = "pps <= 0.50x ansible: not measured"
    else:
        share = pps / ansible
        second = f"pps <= 0.50x ansible: {share:.2f}x ({'met' if share <= 0.5 else 'NOT met'})"
    print(f"\ntargets at N = {n}: {first}; {second}")


# Main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", default="1,8,24", help="Site counts N (default 1,8,24).")
    parser.add_argument("--runs", type=int, default=3, help="Rounds (default 3).")
    parser.add_argument("--paramiko", action="store_true", help="Also time a paramiko pool.")
    parser.add_argument("--no-ansible", action="store_true", help="Leave Ansible out.")
    parser.add_argument(
        "--ansible-venv",
        default="/tmp/pps-bench-ansible-venv",
        help="Where ansible-core is (made if missing; default /tmp/pps-bench-ansible-venv).",
    )
    parser.add_argument(
        "--baseline",
        help="Also time the pps of the checkout DIR (an older commit's worktree): A/B.",
    )
    parser.add_argument(
        "--cold-caches", action="store_true", help="Empty the sites' probe caches before a push."
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="Keep this share of the tree's files (0-1]."
    )
    parser.add_argument(
        "--dir", help="Make the temp dir (everything is written there) in DIR (default: TMPDIR)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir; say where.")
    parser.add_argument(
        "--quick", action="store_true", help="Smoke test: N = 1,2, a 5%% tree, one run."
    )
    args = parser.parse_args()
    if args.quick:
        args.sites, args.runs, args.scale = "1,2", 1, min(args.scale, 0.05)
    try:
        sites = sorted({int(s) for s in args.sites.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sites: comma-separated counts, got {args.sites!r}")
    if not sites or sites[0] < 1 or args.runs < 1 or not 0 < args.scale <= 1:
        parser.error("--sites needs counts >= 1, --runs >= 1, --scale in (0, 1]")
    if os.geteuid() != 0:
        sys.exit("run this as root: the testbed's sshd needs it")
    if not PPS.exists():
        sys.exit(f"no {PPS}: run this with the project's venv python")

    cases = ["openssh", "pps", "local"]
    baseline = None
    if args.baseline:
        baseline = Path(args.baseline).resolve()
        if not (baseline / "distributor" / "cli").is_dir():
            parser.error(f"--baseline {args.baseline}: not a pps checkout")
        cases.insert(2, "base")
    if args.paramiko:
        cases.append("paramiko")
    ansible_playbook = None
    if not args.no_ansible:
        ansible_playbook = ensure_ansible(Path(args.ansible_venv))
        if ansible_playbook is not None:
            cases.append("ansible")
    funcs: dict[str, Callable[[Bench, int, str], float]] = {
        "openssh": case_openssh,
        "pps": case_pps,
        "ansible": case_ansible,
        "paramiko": case_paramiko,
        "local": case_local,
        "base": case_base,
    }

    tmp = Path(tempfile.mkdtemp(prefix="pps-push-ssh-", dir=args.dir))
    tmp.chmod(0o755)  # the probe runs the tests as an unprivileged account
    bed = None
    bench = None
    failed: set[tuple[str, int]] = set()
    try:
        print("building the source tree and the release ...", file=sys.stderr)
        repo, tarball = make_release(tmp, args.scale)
        src = tmp / "src"
        files = sum(len(f) for _, _, f in os.walk(src))
        unpacked = sum(
            p.stat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink()
        )
        with tarfile.open(tarball) as tf:
            members = sum(1 for _ in tf)
        size = tarball.stat().st_size
        site_rounds = args.runs * sum(sites) + min(sites)
        need = site_rounds * (len(cases) * unpacked + 2 * size)
        free = shutil.disk_usage(tmp).free
        print(f"this run writes about {need / 1e9:.1f} GB in {tmp} ({free / 1e9:.1f} GB free)",
              file=sys.stderr)  # fmt: skip
        if need > 0.9 * free:
            sys.exit(
                f"this run writes about {need / 1e9:.1f} GB in {tmp}, which has "
                f"{free / 1e9:.1f} GB free: use fewer --sites/--runs or another --dir"
            )

        names = [f"SITE{i:02d}" for i in range(1, max(sites) + 1)]
        print(f"starting {len(names)} sshd ...", file=sys.stderr)
        bed = start_testbed(tmp / "sshd", names)
        bench = Bench(tmp, bed, repo, tarball, sha256_of(tarball), ansible_playbook,
                      args.cold_caches, baseline=baseline)  # fmt: skip
        results: dict[tuple[str, int], list[float]] = {}

        def run(case: str, n: int, label: str) -> float | None:
            try:
                return funcs[case](bench, n, label)
            except CaseFailed as e:
                print(f"\n{case} FAILED at N = {n} ({label}):\n{e}\n", flush=True)
                return None
            except Exception:  # a bug here: say it, keep the other cases' results
                print(f"\n{case} FAILED at N = {n} ({label}) in the benchmark itself:\n"
                      f"{traceback.format_exc()}", flush=True)  # fmt: skip
                return None

        for case in cases:  # warm-up: page cache, .pyc files, the probe's caches; not counted
            print(f"warm-up: {case} at N = {sites[0]}", file=sys.stderr)
            if run(case, sites[0], "warm") is None:
                failed.add((case, sites[0]))
        for r in range(args.runs):
            for i, n in enumerate(sites):
                shift = (r + i) % len(cases)
                for case in cases[shift:] + cases[:shift]:  # interleaved, the order rotating
                    seconds = run(case, n, f"n{n}-r{r}")
                    if seconds is None:
                        failed.add((case, n))
                        continue
                    results.setdefault((case, n), []).append(seconds)
                    print(f"run {r + 1}/{args.runs} N = {n:<3} {case:<9} {seconds:8.2f} s",
                          file=sys.stderr)  # fmt: skip

        fs = subprocess.run(["stat", "-f", "-c", "%T", str(tmp)], capture_output=True, text=True)
        ansible_version = ""
        if ansible_playbook is not None:
            said = subprocess.run([str(ansible_playbook), "--version"], capture_output=True,
                                  text=True)  # fmt: skip
            ansible_version = ", " + (said.stdout.splitlines() or ["ansible ?"])[0]
        ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr
        print(f"\n{args.runs} runs, medians; Python {sys.version.split()[0]}, {os.cpu_count()} "
              f"CPUs, {ssh_version.strip().split(',')[0]}{ansible_version}, "
              f"{fs.stdout.strip()} in {tmp}"
              f"{', cold probe caches' if args.cold_caches else ''}")  # fmt: skip
        print(f"tarball {size / 1e6:.1f} MB ({unpacked / 1e6:.1f} MB unpacked), "
              f"{members} members ({files} files); ratios are to openssh\n")  # fmt: skip
        report(results, failed, cases, sites)
    finally:
        if bench is not None:
            for control in bench.control_dirs:
                close_masters(control)
        if bed is not None:
            bed.stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
