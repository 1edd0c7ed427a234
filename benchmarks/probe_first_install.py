"""What a first install over the network costs the probe, beside the shell pipeline it must match.

The requirement: a first install of a ~40 MB / 3000-file release over http costs at most 1.3x
``curl URL | tee >(sha256sum) | tar xz`` in the same run.  This script builds, in a temp dir, a
deterministic grid-client-like source tree (bin/, lib/ with .so files and symlinks,
lib/python3/site-packages/..., include/, share/doc/, share/man/, etc/; part incompressible, part
text-like) whose release tarball is about 40 MB compressed, creates the release with
``distributor.repository.releases.create_release`` (one trivial local test), serves the
repository from a
separate process (a ThreadingHTTPServer, wrapped in TLS for https with a self-signed certificate
for 127.0.0.1 made by the ``openssl`` CLI), then times, interleaved (the order rotates every round)
and each into a fresh empty destination:

* ``curl | tee >(sha256sum) | tar xz``   the baseline: fetch, hash and unpack, in four processes
* the probe, first install               ``check_preview_client`` in a fresh site: index, fetch,
                                          verify, unpack, env script, local test, tags
* ``curl -o FILE``                        the network + TLS floor
* ``tar xzf FILE``                        the unpack floor (the repository's own copy)

and prints wall time (median, min, max) and the ratio of medians against the baseline.  Creating
the destinations is not timed, and none is removed before the end: on ext4 without a journal,
creating files within a minute or so of thousands being deleted is several times slower (the
inode allocator skips recently deleted inodes, ``recently_deleted()`` in the kernel), which would
charge one case for the last one's clean-up; other processes deleting files on the same file
system add the same noise, and ``--dir /dev/shm`` (a tmpfs) takes the file system out.  Dirty
pages are flushed (``sync``) before each timed command, so that one case's write-back does not
land on the next.  With ``--profile`` the probe also runs once under ``python -X importtime`` and
once under cProfile.  Plain ``--scheme http`` needs a signed index and a site file pinning its
key (the probe refuses plain http otherwise); ``--sign`` does the same over https.

Run: ``.venv/bin/python benchmarks/probe_first_install.py [--runs 5] [--scheme https|http]
[--sign] [--dir DIR] [--profile] [--keep]``
"""

from __future__ import annotations

import argparse
import os
import pstats
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from distributor.repository.releases import create_release
from pps.manifest import LocalTest
from pps.repository import Release, Repository

PROJECT = Path(__file__).resolve().parent.parent
COMPONENT = "glite-UI"
VERSION = "3.2.8-0"
SEED = 20100603
BASELINE = "curl | tee >(sha256sum) | tar xz"

#: The file server, run as its own process (no GIL shared with anything timed).  It prints the
#: port it got, then serves *directory* until it is terminated.
SERVER = """\
import functools, http.server, ssl, sys
directory, scheme, cert, key = sys.argv[1:5]
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
if scheme == "https":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# The source tree


def _vocabulary(rng: random.Random) -> list[str]:
    common = """def class return import from self None True False if elif else for in while try
        except finally with as yield lambda not and or is pass raise assert global print len
        str int dict list set tuple open path name value args kwargs config logger error job
        glite wms lcg voms proxy cream sandbox delegation endpoint jdl requirements rank vo
        dteam ops grid site ce se srm lfc bdii ldap glue subcluster queue status submit cancel
        output input timeout retry certificate credential lifetime server client host port
        url file directory size checksum version release""".split()
    letters = "abcdefghijklmnopqrstuvwxyz_"
    made = {"".join(rng.choices(letters, k=rng.randint(3, 12))) for _ in range(4000)}
    return common + sorted(made)  # sorted: set order depends on the hash seed


class _Text:
    """Text-like bytes (Zipf-distributed words in indented lines) from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = _vocabulary(rng)
        total = 0.0
        self.cum: list[float] = []
        for i in range(len(self.words)):
            total += 1.0 / (i + 1)
            self.cum.append(total)

    def __call__(self, size: int) -> bytes:
        rng = self.rng
        words = rng.choices(self.words, cum_weights=self.cum, k=size // 6 + 8)
        lines = []
        i = 0
        while i < len(words):
            n = rng.randint(3, 11)
            lines.append("    " * rng.randint(0, 3) + " ".join(words[i : i + n]))
            i += n
        return "\n".join(lines).encode()[:size] + b"\n"


def build_tree(root: Path, seed: int = SEED) -> None:
    """A deterministic grid client tree: ~3000 regular files, ~35 MB of them incompressible."""
    rng = random.Random(seed)
    text = _Text(rng)

    def put(rel: str, data: bytes, executable: bool = False) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if executable else 0o644)

    for i in range(40):  # compiled commands
        put(f"bin/glite-wms-tool{i:02d}", rng.randbytes(rng.randint(60, 400) << 10), True)
    for i in range(60):  # shell and python wrappers
        put(f"bin/glite-script{i:02d}", b"#!/bin/sh\n" + text(rng.randint(1, 6) << 10), True)
    put("bin/glite-version", b"#!/bin/sh\necho " + VERSION.encode() + b"\n", True)
    for i in range(100):  # shared libraries, with the usual symlinks
        name = f"libglite_mod{i:03d}.so"
        put(f"lib/{name}.1.{i % 7}.0", rng.randbytes(rng.randint(40, 360) << 10), True)
        os.symlink(f"{name}.1.{i % 7}.0", root / f"lib/{name}.1")
        os.symlink(f"{name}.1", root / f"lib/{name}")
    site = "lib/python3/site-packages/glite"
    for i in range(1500):
        pkg = f"{site}/pkg{i % 40:02d}/sub{i % 7}"
        put(f"{pkg}/module{i:04d}.py", text(rng.randint(1, 24) << 10))
    for i in range(40):
        for j in range(7):
            put(f"{site}/pkg{i:02d}/sub{j}/__init__.py", b"")
    for i in range(300):
        put(f"include/glite/wms/header{i:03d}.h", text(rng.randint(1, 12) << 10))
    for i in range(400):
        put(f"share/doc/glite-doc{i % 30:02d}/page{i:03d}.html", text(rng.randint(2, 24) << 10))
    for i in range(150):
        put(f"share/man/man1/glite-cmd{i:03d}.1", text(rng.randint(1, 8) << 10))
    for i in range(40):
        put(f"etc/glite/conf{i:02d}.conf", text(rng.randint(1, 4) << 10))
    for i in range(70):  # message catalogues: binary, small
        put(f"share/locale/l{i:02d}/LC_MESSAGES/glite.mo", rng.randbytes(rng.randint(4, 24) << 10))


# Serving


def make_cert(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) and its key."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return cert, key


def start_server(
    directory: Path, scheme: str, cert: Path, key: Path, log: Path
) -> tuple[subprocess.Popen[str], int]:
    """The server process and its port."""
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(directory), scheme, str(cert), str(key)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        sys.exit(f"the server did not start: {log.read_text()}")
    return proc, int(line)


# The probe


def probe_argv(base_url: str, site: Path, site_file: Path | None) -> list[str]:
    """The probe's command line after the interpreter (``-m`` and the module first)."""
    config = ["--site-config", str(site_file)] if site_file else ["--no-site-config"]
    return [
        "-m", "probes.check_preview_client", *config,
        "--component", COMPONENT, "--version", VERSION, "--repository", base_url,
        "--preview-root", str(site / "preview"), "--info-dir", str(site / "info"),
        "--subcluster", "ce.bench.example.org", "--vo", "dteam",
        "--profile-d", str(site / "profile.d"), "--timeout", "600",
    ]  # fmt: skip


def new_site(site: Path, public_key: str) -> Path | None:
    """A fresh, empty site at *site*; its site file (only when a key is to be pinned)."""
    (site / "profile.d").mkdir(parents=True)
    (site / "profile.d/grid.sh").write_text("export SITE_NAME=BENCH\n")
    if not public_key:
        return None
    site_file = site / "site.toml"
    site_file.write_text(f'public_key = "{public_key}"\n')
    return site_file


# Timing


def timed(argv: list[str], env: dict[str, str], what: str) -> float:
    """Seconds *argv* took; exits with its output if it failed."""
    os.sync()  # write back the previous case's files now, not during this one
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=PROJECT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{what} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return seconds


def wait_for_hash(path: Path, release: Release) -> None:
    """The baseline's ``sha256sum`` runs in a process substitution bash does not wait for: give
    it a moment, then check that it saw the right bytes."""
    for _ in range(500):
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            break
        time.sleep(0.01)
    if text.split()[:1] != [release.sha256]:
        sys.exit(f"the baseline hashed {text!r}, the index says {release.sha256}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Rounds (default 5).")
    parser.add_argument("--scheme", choices=("https", "http"), default="https")
    parser.add_argument(
        "--sign", action="store_true", help="Sign the index and pin the key (implied by http)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir; say where.")
    parser.add_argument(
        "--dir", help="Make the temp dir (everything is written there) in DIR (default: TMPDIR)."
    )
    parser.add_argument(
        "--profile", action="store_true", help="Also profile one probe run (importtime, cProfile)."
    )
    args = parser.parse_args()
    sign = args.sign or args.scheme == "http"

    tmp = Path(tempfile.mkdtemp(prefix="pps-first-install-", dir=args.dir))
    tmp.chmod(0o755)  # run as root, the probe runs the tests as 'nobody'
    server = None
    try:
        print("building the source tree and the release ...", file=sys.stderr)
        build_tree(tmp / "src")
        repo = Repository(tmp / "repo")
        public_key, signing_key = "", None
        if sign:
            from distributor.repository.signing import generate_key

            signing_key = tmp / "keys/repository.pem"
            public_key = generate_key(signing_key)
        from distributor.repository.signing import init_repository

        init_repository(repo, signing_key)
        release = create_release(repo, COMPONENT, VERSION, source=tmp / "src",
                                 update_class="bc-client", release_type="revision",
                                 tests=(LocalTest("runs", "true"),),
                                 signing_key=signing_key)  # fmt: skip
        tarball = repo.path_of(release.tarball)
        with tarfile.open(tarball) as tf:
            members = sum(1 for _ in tf)

        cert, key = make_cert(tmp)
        server, port = start_server(repo.root, args.scheme, cert, key, tmp / "server.log")
        base_url = f"{args.scheme}://127.0.0.1:{port}"
        url = f"{base_url}/{release.tarball}"
        cacert = ["--cacert", str(cert)] if args.scheme == "https" else []
        env = {**os.environ, "SSL_CERT_FILE": str(cert), "REQUESTS_CA_BUNDLE": str(cert)}
        work = tmp / "work"
        work.mkdir()
        work.chmod(0o755)

        def baseline(r: int) -> float:
            dest = work / f"baseline-{r}"
            dest.mkdir()
            pipeline = (
                f"set -o pipefail; curl -sS --fail {shlex.join(cacert)} {shlex.quote(url)}"
                f" | tee >(sha256sum > {shlex.quote(str(dest))}.sha256)"
                f" | tar xzf - -C {shlex.quote(str(dest))}"
            )
            seconds = timed(["bash", "-c", pipeline], env, BASELINE)
            wait_for_hash(Path(f"{dest}.sha256"), release)
            return seconds

        def probe(r: int) -> float:
            site = work / f"site-{r}"
            site_file = new_site(site, public_key)
            seconds = timed([sys.executable, *probe_argv(base_url, site, site_file)], env, "probe")
            if not (site / "preview" / COMPONENT / VERSION / "bin/glite-version").is_file():
                sys.exit("the probe exited 0 but installed nothing")
            return seconds

        def curl_only(r: int) -> float:
            out = work / f"curl-{r}.tar.gz"
            return timed(["curl", "-sS", "--fail", *cacert, url, "-o", str(out)], env, "curl")

        def tar_only(r: int) -> float:
            dest = work / f"tar-{r}"
            dest.mkdir()
            return timed(["tar", "xzf", str(tarball), "-C", str(dest)], env, "tar")

        cases: dict[str, Callable[[int], float]] = {
            BASELINE: baseline,
            "probe, first install": probe,
            "curl -o FILE (network floor)": curl_only,
            "tar xzf FILE (unpack floor)": tar_only,
        }
        names = list(cases)
        for r in range(2):  # warm-up: page cache, TLS code, .pyc files; not counted
            cases[names[r]](-1 - r)
        results: dict[str, list[float]] = {name: [] for name in cases}
        for r in range(args.runs):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:  # interleaved, the order rotating
                results[name].append(cases[name](r))

        files = sum(len(f) for _, _, f in os.walk(tmp / "src"))
        fs = subprocess.run(["stat", "-f", "-c", "%T", str(tmp)], capture_output=True, text=True)
        print(
            f"{args.runs} runs each, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
            f"{args.scheme}{' (signed index)' if sign else ''}, {fs.stdout.strip()} in {tmp}"
        )
        print(f"tarball "
              f"{release.size / 1e6:.1f} MB ({release.unpacked_size / 1e6:.1f} MB unpacked), "
              f"{members} members ({files} files)")  # fmt: skip
        base = statistics.median(results[BASELINE])
        print(f"{'case':<34} {'median s':>9} {'min s':>8} {'max s':>8} {'ratio':>7}")
        for name, times in results.items():
            med = statistics.median(times)
            print(f"{name:<34} {med:>9.3f} {min(times):>8.3f} {max(times):>8.3f} "
                  f"{med / base:>7.2f}")  # fmt: skip
        ratio = statistics.median(results["probe, first install"]) / base
        print(f"requirement: probe <= 1.30 x baseline: {ratio:.2f} x "
              f"({'met' if ratio <= 1.3 else 'NOT met'})")  # fmt: skip

        if args.profile:
            profile(base_url, work, public_key, env)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# Profiling

#: cProfile entries (by their function text) whose own time is one kind of work.
BUCKETS = (
    ("download (TLS read, socket)", ("'read' of '_ssl._SSLSocket'", "recv_into", "'recv'")),
    ("hashing (sha256)", ("'update' of '_hashlib.HASH'",)),
    ("gzip (zlib inflate)", ("'decompress' of 'zlib.Decompress'",)),
    ("file writes, mkdir, chmod, utime", ("posix.write", "posix.open", "posix.close",
        "posix.fchmod", "posix.chmod", "posix.utime", "posix.mkdir", "posix.lstat",
        "posix.rename", "posix.fsync", "posix.stat")),
    ("waiting for children (the test)", ("posix.waitpid", "'poll' of 'select.poll'",
        "posix.read", "_posixsubprocess.fork_exec", "'select' of 'select", "posix.wait4")),
)  # fmt: skip


def profile(base_url: str, work: Path, public_key: str, env: dict[str, str]) -> None:
    """Run the probe once under ``-X importtime`` and once under cProfile; print where its time
    goes."""
    site = work / "site-importtime"
    argv = probe_argv(base_url, site, new_site(site, public_key))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, cwd=PROJECT,
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"probe (importtime) exited {done.returncode}:\n{done.stdout}")
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        head, cumulative, name = line.split("|", 2)
        rows.append((int(head.split(":")[1]), int(cumulative), name[1:]))
    total = sum(r[0] for r in rows) / 1e6
    print(f"\n-X importtime: {total:.3f} s of imports in a {wall:.3f} s first install; "
          "top-level imports by cumulative time:")  # fmt: skip
    top = [r for r in rows if not r[2].startswith(" ")]  # nested imports are indented
    for _own, cumulative, name in sorted(top, key=lambda r: -r[1])[:12]:
        print(f"  {cumulative / 1e6:8.3f} s  {name}")

    site = work / "site-cprofile"
    out = work / "probe.prof"
    argv = probe_argv(base_url, site, new_site(site, public_key))
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *argv], env=env,
                          cwd=PROJECT, capture_output=True, text=True)  # fmt: skip
    if not (site / "preview" / COMPONENT / VERSION).is_dir():
        sys.exit(f"probe (cProfile) installed nothing:\n{done.stdout}{done.stderr}")
    print(f"\ncProfile (one first install; the probe said: {done.stdout.strip()[:90]})")
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    own: dict[str, float] = {}
    imports = 0.0
    for (filename, _line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        if func == "_find_and_load" and "importlib._bootstrap" in filename:
            imports = max(imports, ct)
        for bucket, needles in BUCKETS:
            if any(n in func for n in needles):
                own[bucket] = own.get(bucket, 0.0) + tt
                break
        else:
            if filename.endswith("_extract.py"):
                key = "tar parsing (probes/_extract.py)"
                own[key] = own.get(key, 0.0) + tt
    print(f"where the time goes ({total:.3f} s under the profiler, which slows Python code):")
    print(f"  {imports:8.3f} s  imports (cumulative)")
    for bucket, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:8.3f} s  {bucket} (own time)")
    rest = total - imports - sum(own.values())
    print(f"  {rest:8.3f} s  everything else")
    print("\ntop 25 by cumulative time:")
    stats.strip_dirs().sort_stats("cumulative").print_stats(25)
    print("top 15 by own time:")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
