"""Real OpenSSH servers on 127.0.0.1 for the SSH transport tests: one ``sshd`` per site.

Nothing is mocked: every site is Debian's ``/usr/sbin/sshd`` (run as root, the tests' user,
who is also the user the clients log in as), on a free port of 127.0.0.1, with its own ed25519
host key.  The clients share one identity key and one ``known_hosts`` file.

API
---
``ssh_testbed_factory`` (fixture)
    ``factory(names) -> SshTestbed``: start one server per name under the test's ``tmp_path``.
    Every testbed it made is stopped at teardown (listeners and the sessions they served),
    whatever the test did.  Skips when ``/usr/sbin/sshd`` is missing (fails under ``CI=true``,
    see :mod:`tests.realparts`) or when the tests do not run as root.  A test module takes it
    with ``ssh_testbed_factory = sshd_helpers.ssh_testbed_factory`` (an assignment: importing
    the name and taking it as an argument is ruff's F811).

:func:`start_testbed` ``(base, names) -> SshTestbed``
    The same without pytest: the caller must call :meth:`SshTestbed.stop_all`.  All servers
    start together (ten in well under a second); a port taken between the pick and ``sshd``'s
    bind is retried on a new port, up to :data:`START_ATTEMPTS` times.

:class:`SshTestbed`
    ``identity`` (client private key, 0600; ``identity.pub`` beside it), ``known_hosts`` (a
    ``[127.0.0.1]:PORT ssh-ed25519 AAAA...`` line per site), ``sites``, ``user`` (``root``),
    ``site(name)``, ``new_host_key(name)`` (a "changed host key": new key, server restarted on
    the same port, ``known_hosts`` untouched), ``forget(name)`` (an "unknown host key": the
    site's line leaves ``known_hosts``), ``remember(name)`` (the site's current key goes back
    in), ``stop_all(kill=False)`` (every listener and every session), ``ssh_options()``
    (``-o`` options for the OpenSSH client that pin this testbed's files and nothing else).

:class:`SshSite`
    ``name``, ``port``, ``dir`` (host key, ``sshd_config``, ``sshd.pid``, ``sshd.log``,
    ``authorized_keys``), ``root`` (an empty 0755 directory standing for the site's ``/``),
    ``host_key_pub`` (``ssh-ed25519 AAAA...``), ``known_hosts_line()``, ``stop(kill=False)``
    (SIGTERM, or SIGKILL, to the listener and wait for it: **open sessions live on**, as with
    a real server), ``start()`` (again, same port and host key; it rewrites ``sshd_config``
    from ``port``, and raises :class:`PortClash` when someone took the port meanwhile),
    ``running``, ``pid``, ``env`` (more ``SetEnv`` variables for its sessions, e.g. a
    ``BASH_ENV`` script that the remote shell reads before every command: a "compromised"
    shell), ``force_command`` (a ``ForceCommand`` script that every session runs instead of
    the client's command, given as ``SSH_ORIGINAL_COMMAND``: a compromised shell),
    ``sftp_server`` (the ``Subsystem sftp`` command, ``internal-sftp``; e.g.
    ``/bin/sleep 100000`` for an SFTP server that never answers), both applied by the next
    ``start()``, ``end_sessions()`` (kill every process the server spawned: the
    connections it was serving drop, a "network cut" mid-transfer), ``session_commands()``
    (the command lines of the processes it spawned, e.g. to wait for a session's command to
    start), ``log()`` (the server's
    stderr, kept across restarts; ``LogLevel ERROR``, so it is empty while all goes well);
    paths: ``host_key``, ``config``, ``log_file``, ``authorized_keys`` (the client identity's
    public key; empty it for an "authentication refused").

Faults without a server: :func:`silent_port` (a context manager: a port that accepts TCP
connections and never says a word, closed at exit) and :func:`refused_port` (a port where
nobody listens and nobody can start to, for the rest of the test session).

Readiness is read from ``/proc/net/tcp`` (a listening socket on the port that belongs to the
``sshd`` process) rather than by connecting: a probe connection would put a
``kex_exchange_identification`` error in the site's log and cost a forked ``sshd``.  The
per-connection processes of ``sshd`` leave the listener's session (``setsid``), so they are
found by walking the process tree (``/proc``), before the listener goes.  ``sshd_config``
paths must hold no whitespace, quotes or ``#`` (refused with :class:`ValueError`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.realparts import require

SSHD = "/usr/sbin/sshd"
#: Seconds a server gets to listen (or to exit after a signal).
START_TIMEOUT = 5.0
#: A port clash at start-up (the tiny race of picking a free port) is retried this many times.
START_ATTEMPTS = 3
HOST = "127.0.0.1"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_UNSAFE_PATH = re.compile(r'[\s"#]')


class PortClash(RuntimeError):
    """sshd could not bind its port: someone took it between the pick and the bind."""


# --- keys ---------------------------------------------------------------------------------


def _ed25519_key(private_file: Path, comment: str) -> str:
    """Write a new ed25519 private key (OpenSSH format, 0600) and its ``.pub``; return the
    public line without comment (``ssh-ed25519 AAAA...``).  Same files as ``ssh-keygen -t
    ed25519 -N ''``, without a process per key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    with contextlib.suppress(FileNotFoundError):
        private_file.unlink()
    fd = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    line = public.decode("ascii").strip()
    Path(f"{private_file}.pub").write_text(f"{line} {comment}\n")
    return line


# --- ports --------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """*count* distinct ports of 127.0.0.1 that were free a moment ago (all bound at once)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


_RESERVED: list[socket.socket] = []


def refused_port() -> int:
    """A port of 127.0.0.1 where a connection is refused at once.

    The port stays bound (without listening, without ``SO_REUSEADDR``) until the test session
    ends, so no server started meanwhile can take it: a connect gets a RST, every time."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    _RESERVED.append(sock)
    return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts TCP connections and never speaks.

    A listening socket nobody accepts from: the kernel completes the handshakes (up to the
    backlog, beyond it a connect hangs in SYN retries, as silent), takes what the client sends
    and never answers.  An SSH client waits for the server's banner until its own timeout.
    Closed at exit (the pending connections get a RST)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        sock.listen(socket.SOMAXCONN)
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


# --- processes ----------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of *pid*, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def _process_tree() -> dict[int, list[tuple[int, int]]]:
    """Parent pid -> its children as (pid, start time), from ``/proc``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append((int(entry), info[1]))
    return children


def _descendants(
    pid: int, tree: dict[int, list[tuple[int, int]]] | None = None
) -> set[tuple[int, int]]:
    """Every process below *pid* as (pid, start time): the start time tells a reused pid."""
    children = _process_tree() if tree is None else tree
    found: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def _kill_processes(processes: set[tuple[int, int]]) -> None:
    """SIGKILL those of *processes* that are still the same processes."""
    for pid, started in processes:
        info = _stat(pid)
        if info is not None and info[1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _listening_inodes() -> dict[int, set[str]] | None:
    """Port -> socket inodes listening on it (IPv4), or None without ``/proc/net/tcp``."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    found: dict[int, set[str]] = {}
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A":  # TCP_LISTEN
            port = int(fields[1].rpartition(":")[2], 16)
            found.setdefault(port, set()).add(fields[9])
    return found


def _owns_socket(pid: int, inodes: set[str]) -> bool:
    links = {f"socket:[{inode}]" for inode in inodes}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                    return True
    except OSError:
        return False
    return False


def _accepts(port: int) -> bool:
    """Fallback readiness check (no /proc): does the port take a TCP connection?"""
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@functools.cache
def _per_source_max_startups() -> bool:
    """Does this sshd accept ``PerSourceMaxStartups`` (OpenSSH >= 8.5)?  Asked of ``sshd -t``."""
    with tempfile.TemporaryDirectory(prefix="pps-sshd-check-") as tmp:
        key = Path(tmp) / "hostkey"
        _ed25519_key(key, "check")
        cfg = Path(tmp) / "sshd_config"
        cfg.write_text(f"HostKey {key}\nUsePAM no\nPerSourceMaxStartups none\n")
        result = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
        return result.returncode == 0


def _prepare_sshd() -> None:
    """The privilege separation directory sshd insists on (root-owned, not group-writable)."""
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


# --- sites --------------------------------------------------------------------------------


def _check_path(path: Path) -> Path:
    if _UNSAFE_PATH.search(str(path)):
        raise ValueError(f"{path}: sshd_config paths must hold no whitespace, quotes or '#'")
    return path


@dataclass(eq=False)
class SshSite:
    """One site's sshd (see the module's docstring)."""

    name: str
    port: int
    dir: Path
    root: Path
    host_key_pub: str
    #: More ``SetEnv`` variables for the sessions (applied by the next :meth:`start`).
    env: dict[str, str] = field(default_factory=dict)
    #: The ``Subsystem sftp`` command (applied by the next :meth:`start`).
    sftp_server: str = "internal-sftp"
    #: A ``ForceCommand`` (applied by the next :meth:`start`): every session runs it instead,
    #: the client's command in ``SSH_ORIGINAL_COMMAND`` (a stand-in for a compromised shell).
    force_command: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _orphans: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def host_key(self) -> Path:
        return self.dir / "hostkey"

    @property
    def config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def log_file(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def pid(self) -> int | None:
        """The listener's pid while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def known_hosts_line(self) -> str:
        return f"[{HOST}]:{self.port} {self.host_key_pub}"

    def log(self) -> str:
        """The server's log (its stderr, ``LogLevel ERROR``), every run of it."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def new_host_key(self) -> None:
        """A new host key in the files (the running server keeps the old one until restart)."""
        self.host_key_pub = _ed25519_key(self.host_key, f"host-key-{self.name}")

    def write_config(self, per_source: bool) -> None:
        """``sshd_config`` for the current port (:meth:`start` writes it again)."""
        d = self.dir
        env = {"PPS_CACHE_DIR": str(d / "pps-cache"),
               "PPS_BUNDLE_CACHE": str(d / "pps-bundle-cache"), **self.env}  # fmt: skip
        for key, value in env.items():
            _check_path(Path(value))
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"environment variable name {key!r}")
        _check_path(Path(self.sftp_server.replace(" ", "")))
        lines = [
            f"ListenAddress {HOST}:{self.port}",
            f"HostKey {d / 'hostkey'}",
            f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            f"Subsystem sftp {self.sftp_server}",
            "LogLevel ERROR",
            "MaxStartups 100:30:200",
            "MaxSessions 20",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "X11Forwarding no",
            # the probes this site runs keep their caches here, not in the machine's /var/cache
            "SetEnv " + " ".join(f"{key}={value}" for key, value in env.items()),
        ]
        if self.force_command:
            _check_path(Path(self.force_command))
            lines.append(f"ForceCommand {self.force_command}")
        if per_source:
            lines.append("PerSourceMaxStartups none")
        self.config.write_text("\n".join(lines) + "\n")

    # starting and stopping

    def _spawn(self, truncate_log: bool) -> None:
        with open(self.log_file, "wb" if truncate_log else "ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C to pytest is not a signal to the servers
            )
        _LIVE.add(self)

    def _ready(self, listening: dict[int, set[str]] | None) -> bool:
        """Listening yet?  Raises PortClash / RuntimeError when sshd gave up."""
        proc = self._proc
        assert proc is not None
        code = proc.poll()
        if code is not None:
            _LIVE.discard(self)
            text = self.log()
            this_run = self.log_file.read_bytes()[self._log_offset :]
            if b"Address already in use" in this_run:
                raise PortClash(f"{self.name}: port {self.port} is taken")
            raise RuntimeError(
                f"sshd of site {self.name} exited with {code} before listening on port "
                f"{self.port}; its log ({self.log_file}):\n{text}"
            )
        if listening is None:
            return _accepts(self.port)
        inodes = listening.get(self.port)
        return bool(inodes) and _owns_socket(proc.pid, inodes or set())

    def _timeout(self) -> None:
        self.stop(kill=True)
        raise RuntimeError(
            f"sshd of site {self.name} did not listen on port {self.port} within "
            f"{START_TIMEOUT:g}s; its log ({self.log_file}):\n{self.log()}"
        )

    def start(self) -> None:
        """(Re)start the server on its port with its host key; return once it listens."""
        if self.running:
            raise RuntimeError(f"sshd of site {self.name} is running already")
        _prepare_sshd()
        self.write_config(_per_source_max_startups())
        self._spawn(truncate_log=False)
        _wait_ready([self], new_ports=False)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (``kill=True``: SIGKILL) the listener and wait for it.  Open sessions live
        on, as they do when a real server restarts: :meth:`end_sessions` ends them."""
        self._collect_sessions()
        self._signal(kill)
        self._reap()

    def session_commands(self) -> list[str]:
        """The command lines (arguments joined by spaces) of the processes the running server
        spawned: its connections and what they run."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        found = []
        for pid, _ in _descendants(self._proc.pid):
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "))
        return [line.decode(errors="replace").strip() for line in found]

    def end_sessions(self) -> None:
        """Kill every process the server spawned (connections being served, their commands),
        the running listener's and those left from before a :meth:`stop`."""
        self._collect_sessions()
        _kill_processes(self._orphans)
        self._orphans.clear()

    def _collect_sessions(self, tree: dict[int, list[tuple[int, int]]] | None = None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._orphans |= _descendants(self._proc.pid, tree)

    def _signal(self, kill: bool) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)

    def _reap(self) -> None:
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        _LIVE.discard(self)


#: Sites whose listener runs: stopped at interpreter exit if a test could not.
_LIVE: set[SshSite] = set()


@atexit.register
def _stop_leftovers() -> None:
    for site in list(_LIVE):
        with contextlib.suppress(Exception):
            site.end_sessions()
            site.stop(kill=True)


def _wait_ready(sites: Sequence[SshSite], new_ports: bool) -> list[SshSite]:
    """Wait until every one of *sites* listens; return those whose port was taken (their sshd
    exited) when *new_ports* may be given, else raise :class:`PortClash`.  Any other failure
    raises RuntimeError."""
    pending = list(sites)
    clashed: list[SshSite] = []
    deadline = time.monotonic() + START_TIMEOUT
    while pending:
        listening = _listening_inodes()
        for site in list(pending):
            try:
                ready = site._ready(listening)
            except PortClash:
                if not new_ports:
                    raise
                ready = True
                clashed.append(site)
            if ready:
                pending.remove(site)
        if not pending:
            break
        if time.monotonic() > deadline:
            pending[0]._timeout()
        time.sleep(0.005)
    return clashed


# --- testbed ------------------------------------------------------------------------------


@dataclass(eq=False)
class SshTestbed:
    """Sites sharing a client identity and a ``known_hosts`` (see the module's docstring)."""

    base: Path
    identity: Path
    known_hosts: Path
    sites: list[SshSite]
    user: str = "root"

    def site(self, name: str) -> SshSite:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(f"no site {name!r} in the testbed: {[s.name for s in self.sites]}")

    def write_known_hosts(self, sites: Sequence[SshSite] | None = None) -> None:
        chosen = self.sites if sites is None else sites
        self.known_hosts.write_text("".join(f"{s.known_hosts_line()}\n" for s in chosen))

    def new_host_key(self, name: str) -> None:
        """A "changed host key": the site gets a new one and restarts on the same port;
        ``known_hosts`` keeps the old line."""
        site = self.site(name)
        site.stop()
        site.new_host_key()
        site.start()

    def forget(self, name: str) -> None:
        """An "unknown host key": the site's line leaves ``known_hosts``."""
        prefix = f"[{HOST}]:{self.site(name).port} "
        lines = self.known_hosts.read_text().splitlines(keepends=True)
        self.known_hosts.write_text("".join(ln for ln in lines if not ln.startswith(prefix)))

    def remember(self, name: str) -> None:
        """The site's current host key in ``known_hosts`` (replacing its line, if any)."""
        self.forget(name)
        with open(self.known_hosts, "a") as out:
            out.write(f"{self.site(name).known_hosts_line()}\n")

    def ssh_options(self) -> list[str]:
        """OpenSSH client options using this testbed's identity and known_hosts only."""
        return [
            "-F", "/dev/null",
            "-i", str(self.identity),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5",
        ]  # fmt: skip

    def stop_all(self, kill: bool = False) -> None:
        """Stop every listener and end every session they served."""
        tree = _process_tree()
        for site in self.sites:
            site._collect_sessions(tree)
            _kill_processes(site._orphans)  # while the listener is there to reap them
            site._orphans.clear()
        for site in self.sites:
            site._signal(kill)
        for site in self.sites:
            site._reap()


def start_testbed(base: Path, names: Sequence[str]) -> SshTestbed:
    """One running sshd per name under *base* (made if missing), on free ports."""
    names = list(names)
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"site name {name!r}: letters, digits, '.', '_', '-' only")
    if len(set(names)) != len(names):
        raise ValueError(f"site names repeat: {names}")
    base = _check_path(Path(base).absolute())
    base.mkdir(parents=True, exist_ok=True)
    client = base / "client"
    client.mkdir(exist_ok=True)
    identity = client / "id_ed25519"
    identity_pub = _ed25519_key(identity, "pps-testbed-client")
    per_source = _per_source_max_startups()
    _prepare_sshd()

    sites: list[SshSite] = []
    for name, port in zip(names, _free_ports(len(names))):
        site_dir = base / name
        site_dir.mkdir()
        root = site_dir / "root"
        root.mkdir()
        root.chmod(0o755)
        site = SshSite(name, port, site_dir, root, "")
        site.new_host_key()
        site.authorized_keys.write_text(f"{identity_pub} pps-testbed-client\n")
        sites.append(site)
    testbed = SshTestbed(base, identity, client / "known_hosts", sites)
    try:
        todo = sites
        for attempt in range(1, START_ATTEMPTS + 1):
            for site in todo:
                site.write_config(per_source)
                site._spawn(truncate_log=True)
            todo = _wait_ready(todo, new_ports=True)
            if not todo:
                break
            if attempt == START_ATTEMPTS:
                raise RuntimeError(
                    f"ports taken {START_ATTEMPTS} times in a row for {[s.name for s in todo]}"
                )
            for site, port in zip(todo, _free_ports(len(todo))):
                site.port = port
        testbed.write_known_hosts()
    except BaseException:
        testbed.stop_all(kill=True)
        raise
    return testbed


@pytest.fixture
def ssh_testbed_factory(tmp_path: Path) -> Iterator[Callable[[Sequence[str]], SshTestbed]]:
    """``factory(names)``: a running :class:`SshTestbed` under ``tmp_path``; all stopped at
    teardown.  Skips without sshd (fails under CI=true) or when not root."""
    require(SSHD, "openssh-server")
    if os.geteuid() != 0:
        pytest.skip("the sshd testbed runs sshd as root (privilege separation, root logins)")
    made: list[SshTestbed] = []

    def factory(names: Sequence[str]) -> SshTestbed:
        base = tmp_path / ("sshd" if not made else f"sshd{len(made) + 1}")
        testbed = start_testbed(base, names)
        made.append(testbed)
        return testbed

    yield factory
    errors: list[BaseException] = []
    for testbed in made:
        try:
            testbed.stop_all()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
