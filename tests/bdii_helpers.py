"""A real site BDII for the information-system tests: Debian's slapd with the GLUE schemas, and
Debian's ``bdii-update`` feeding it.

Nothing is mocked: ``/usr/sbin/slapd`` runs in the foreground on a free port of 127.0.0.1 with
the configuration Debian's ``bdii`` package ships (``/usr/share/bdii/bdii-slapd.conf``: the
GLUE 1.3 and GLUE 2.0 schemas, schema checking on, the ``o=grid``, ``o=glue`` and ``o=infosys``
databases), its paths moved into a temp dir.  Each suffix has its own root DN (``o=grid``,
``o=glue``, ``o=infosys``), password :data:`ROOT_PW`.

API
---
``slapd`` (fixture)
    A started :class:`Slapd`, seeded with ``/usr/share/bdii/default.ldif``; stopped at teardown.
``slapd_factory`` (fixture)
    ``factory(seed=True) -> Slapd``: as many servers as a test wants, each in its own directory
    under ``tmp_path``; every one is stopped at teardown.  A test module takes the fixtures by
    assignment (``slapd = bdii_helpers.slapd``: importing the name and taking it as an argument
    is ruff's F811).
:class:`Slapd` ``(directory, port=None)``
    ``start()``, ``stop()``, ``url`` (``ldap://127.0.0.1:PORT``), ``port``, ``dir``,
    ``add(ldif_text, check=True)`` (``ldapadd -x -c``, bound as the root DN of each entry's
    suffix; parents that neither the text nor the server has are created first, in their
    minimal form, so a test can load one site's LDIF as it is; with ``check`` a failure raises
    :class:`LdapError` with ldapadd's messages), ``search(base, filt, attrs, scope)``
    (``ldapsearch -x -LLL``, unwrapped; the LDIF text, ``""`` when *base* does not exist),
    ``exists(dn)``, ``seed()``, ``log()``.
:class:`BdiiUpdate` ``(slapd, work_dir)``
    Debian's ``/usr/sbin/bdii-update`` against *slapd*: writes its ``bdii.conf`` and the
    ldif (seeded with ``default.ldif``), provider and plugin directories; ``add_provider(name,
    script_text)``, ``add_plugin(name, script_text)``, ``run_once() -> str`` (one cycle
    without ``-d``: the merged LDIF it would load, nothing written to slapd),
    ``start_daemon()`` / ``stop()`` (the real update loop, writing slapd every
    ``breathe_time`` seconds), ``wait_for(predicate, timeout)``, ``log()``.  It runs with
    :data:`COMPAT_DIR` first on ``PATH`` (``compat=False``: without it): Debian's bdii 6.0.0
    calls the OpenLDAP tools with ``-h``/``-p``, which OpenLDAP 2.5 removed (see
    ``contrib/bdii/README.md``).

Helpers: :func:`gip_command` (the installed ``pps-gip-provider``), :func:`split_dn`,
:func:`normalize_dn` (lower case, no spaces around ``,`` and ``=``: how bdii-update and these
tests compare DNs), :func:`free_port`, :func:`read_entries` (an anonymous ldap3 search, entries
as :class:`pps.glue.Entry`), :func:`escape_filter_chars`, :func:`import_ldap3` (ldap3 without
its pyasn1 deprecation warning, which ``filterwarnings = error`` would make fatal), and the
installed schemas parsed: :func:`load_schema` -> :class:`Schema` (``must(objectclass)`` with
the superclasses' MUSTs, ``syntax(attribute)``), so tests derive what is mandatory from the
very files slapd enforces rather than from a hand-copied list.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pps.glue import Entry, parse_ldif
from tests.realparts import require

REPO = Path(__file__).resolve().parent.parent
#: The wrapper directory that makes bdii 6.0.0 work with OpenLDAP 2.5's client tools.
COMPAT_DIR = REPO / "contrib" / "bdii" / "openldap25-compat"
SLAPD = "/usr/sbin/slapd"
BDII_UPDATE = "/usr/sbin/bdii-update"
SLAPD_TEMPLATE = Path("/usr/share/bdii/bdii-slapd.conf")
DEFAULT_LDIF = Path("/usr/share/bdii/default.ldif")
SCHEMA_DIR = Path("/etc/ldap/schema")
#: The GLUE schema files the SubCluster and ApplicationEnvironment classes come from.
GLUE_SCHEMA_FILES = ("Glue-CORE.schema", "Glue-CE.schema", "GLUE20.schema")
#: LDAP syntaxes (RFC 4517) the GLUE schemas use.
SYNTAX_INTEGER = "1.3.6.1.4.1.1466.115.121.1.27"
SYNTAX_BOOLEAN = "1.3.6.1.4.1.1466.115.121.1.7"
SYNTAX_IA5 = "1.3.6.1.4.1.1466.115.121.1.26"
SYNTAX_DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15"
ROOT_PW = "secret"
#: The suffixes of the template, each its own database and its own root DN.
SUFFIXES = ("o=grid", "o=glue", "o=infosys")
START_TIMEOUT = 10.0
#: Seconds any one LDAP client call may take.
CLIENT_TIMEOUT = 30.0


class LdapError(AssertionError):
    """An OpenLDAP client tool failed; the message holds its output."""


def gip_command() -> list[str]:
    """The installed ``pps-gip-provider`` (beside this Python), as bdii-update runs it at a
    site; ``python -m probes.gip_provider`` where pps is not installed."""
    script = Path(sys.executable).with_name("pps-gip-provider")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "probes.gip_provider"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (a tiny race remains; start() retries)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def split_dn(dn: str) -> list[str]:
    """The RDNs of *dn*, leftmost first, split at commas that are not escaped."""
    parts, current, escaped = [], [], False
    for ch in dn:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    tail = "".join(current).strip()
    if tail or parts:
        parts.append(tail)
    return parts


def _normalize_rdn(rdn: str) -> str:
    name, _, value = rdn.partition("=")
    return f"{name.strip().lower()}={value.strip().lower()}"


def normalize_dn(dn: str) -> str:
    """*dn* for comparing: lower case, no spaces around the separators."""
    return ",".join(_normalize_rdn(r) for r in split_dn(dn))


def _unescape_dn_value(value: str) -> str:
    """An RDN value without its RFC 4514 escapes (``\\,`` and ``\\2c`` forms)."""
    out = bytearray()
    i = 0
    raw = value.encode()
    while i < len(raw):
        if raw[i : i + 1] == b"\\" and i + 1 < len(raw):
            pair = raw[i + 1 : i + 3]
            if re.fullmatch(rb"[0-9A-Fa-f]{2}", pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += raw[i + 1 : i + 2]
            i += 2
            continue
        out += raw[i : i + 1]
        i += 1
    return out.decode()


#: The minimal form of a parent entry, by its RDN attribute (as default.ldif and the gLite
#: providers write them): object classes, and the RDN attribute's spelling.
_PARENT_FORMS: dict[str, tuple[tuple[str, ...], str]] = {
    "o": (("organization",), "o"),
    "mds-vo-name": (("MDS",), "Mds-Vo-name"),
    "glue2groupid": (("GLUE2Group",), "GLUE2GroupID"),
    "glueclusteruniqueid": (("GlueClusterTop", "GlueCluster"), "GlueClusterUniqueID"),
    "gluesiteuniqueid": (("GlueTop", "GlueSite"), "GlueSiteUniqueID"),
    "glue2domainid": (("GLUE2Domain", "GLUE2AdminDomain"), "GLUE2DomainID"),
}


def parent_entry(dn: str) -> str:
    """The LDIF of a minimal entry named *dn* (only for the RDN kinds parents have)."""
    rdn = split_dn(dn)[0]
    name, _, value = rdn.partition("=")
    form = _PARENT_FORMS.get(name.strip().lower())
    if form is None:
        raise ValueError(f"no minimal form for the parent entry {dn!r}: add it to the LDIF")
    classes, attr = form
    lines = [f"dn: {dn}", *(f"objectClass: {c}" for c in classes)]
    lines.append(f"{attr}: {_unescape_dn_value(value.strip())}")
    return "\n".join(lines) + "\n"


def _records(ldif_text: str) -> list[tuple[str, str]]:
    """``(dn, record text)`` of each entry in *ldif_text*, the text exactly as given."""
    records = []
    chunk: list[str] = []
    for line in [*ldif_text.splitlines(), ""]:
        if line.strip():
            chunk.append(line)
            continue
        text = "\n".join(chunk) + "\n"
        chunk = []
        entries = parse_ldif(text) if text.strip() else []
        if entries:
            records.append((entries[0].dn, text))
    return records


def _suffix_of(dn: str) -> str:
    rdns = split_dn(dn)
    suffix = _normalize_rdn(rdns[-1]) if rdns else ""
    if suffix not in SUFFIXES:
        raise ValueError(f"{dn!r} is under none of the suffixes {SUFFIXES}")
    return suffix


def _run(argv: Sequence[str], stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        env=env,
    )


class Slapd:
    """One slapd with the bdii configuration, in *directory*, on 127.0.0.1."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.dir = Path(directory)
        self.port = port or 0
        self.conf = self.dir / "slapd.conf"
        self.log_file = self.dir / "slapd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def write_conf(self) -> None:
        text = SLAPD_TEMPLATE.read_text()
        text = re.sub(r"(?m)^pidfile\s+.*$", f"pidfile         {self.dir / 'slapd.pid'}", text)
        text = re.sub(r"(?m)^argsfile\s+.*$", f"argsfile        {self.dir / 'slapd.args'}", text)

        def db_dir(m: re.Match[str]) -> str:
            path = self.dir / "db" / Path(m.group(1)).name
            path.mkdir(parents=True, exist_ok=True)
            return f"directory       {path}"

        text = re.sub(r"(?m)^directory\s+(\S+)\s*$", db_dir, text)
        self.conf.write_text(text)

    def start(self) -> Slapd:
        require(SLAPD, "slapd")
        require("ldapsearch", "ldap-utils")
        if not SLAPD_TEMPLATE.exists():
            require("/usr/sbin/bdii-update", "bdii")  # the template comes with it
        self.dir.mkdir(parents=True, exist_ok=True)
        self.write_conf()
        last = ""
        for _attempt in range(3):
            if not self.port:
                self.port = free_port()
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    [SLAPD, "-d", "0", "-f", str(self.conf), "-h", self.url],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            if self._wait_listening():
                return self
            last = self.log()
            self.stop()
            self.port = 0  # taken meanwhile, or slapd refused to start: a new port
        raise RuntimeError(f"slapd did not start: {last[-2000:]}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # slapd's clean shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # -- clients ------------------------------------------------------------------------------

    def exists(self, dn: str) -> bool:
        r = _run(["ldapsearch", "-x", "-LLL", "-H", self.url, "-b", dn, "-s", "base", "1.1"])
        if r.returncode == 32:  # noSuchObject
            return False
        if r.returncode != 0:
            raise LdapError(f"ldapsearch of {dn!r} failed ({r.returncode}): {r.stderr.strip()}")
        return True

    def add(self, ldif_text: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Add the entries of *ldif_text* (content records), parents first.

        Missing parents (in neither the text nor the server) are created in their minimal form.
        One ``ldapadd -c`` per suffix; the result joins their outputs, ``returncode`` the first
        non-zero one."""
        records = _records(ldif_text)
        given = {normalize_dn(dn) for dn, _ in records}
        parents: dict[str, str] = {}
        for dn, _ in records:
            rdns = split_dn(dn)
            for depth in range(1, len(rdns)):
                parent = ",".join(rdns[depth:])
                key = normalize_dn(parent)
                if key in given or key in parents:
                    continue
                if not self.exists(parent):
                    parents[key] = parent_entry(parent)
                else:
                    given.add(key)
        all_records = [(dn, text) for dn, text in records]
        all_records += [(key, text) for key, text in parents.items()]
        all_records.sort(key=lambda r: len(split_dn(r[0])))  # parents before children
        by_suffix: dict[str, list[str]] = {}
        for dn, text in all_records:
            by_suffix.setdefault(_suffix_of(dn), []).append(text)
        rc, out, err = 0, [], []
        for suffix, texts in by_suffix.items():
            r = _run(
                ["ldapadd", "-x", "-c", "-H", self.url, "-D", suffix, "-w", ROOT_PW],
                stdin="\n".join(texts),
            )
            rc = rc or r.returncode
            out.append(r.stdout)
            err.append(r.stderr)
        result = subprocess.CompletedProcess(["ldapadd"], rc, "".join(out), "".join(err))
        if check and rc != 0:
            raise LdapError(f"ldapadd failed ({rc}):\n{result.stderr}\n{result.stdout}")
        return result

    def search(
        self,
        base: str,
        filt: str = "(objectClass=*)",
        attrs: Sequence[str] = (),
        scope: str = "sub",
    ) -> str:
        """``ldapsearch -x -LLL`` (anonymous, lines not wrapped): its LDIF text."""
        r = _run(
            [
                "ldapsearch", "-x", "-LLL", "-o", "ldif_wrap=no", "-H", self.url,
                "-b", base, "-s", scope, filt, *attrs,
            ]
        )  # fmt: skip
        if r.returncode == 32:
            return ""
        if r.returncode != 0:
            raise LdapError(f"ldapsearch failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def seed(self) -> None:
        """Load Debian's ``default.ldif`` (o=grid, o=glue, the resource groups)."""
        # o=shadow has no database in this configuration (bdii-update skips it too).
        records = [text for dn, text in _records(DEFAULT_LDIF.read_text()) if dn != "o=shadow"]
        self.add("\n".join(records))


@pytest.fixture
def slapd_factory(tmp_path: Path) -> Iterator[Callable[..., Slapd]]:
    started: list[Slapd] = []

    def factory(seed: bool = True) -> Slapd:
        server = Slapd(tmp_path / f"slapd-{len(started)}")
        started.append(server)
        server.start()
        if seed:
            server.seed()
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    # Not built on slapd_factory: a module that takes only this fixture (by assignment) has
    # no slapd_factory for pytest to find.
    server = Slapd(tmp_path / "slapd")
    try:
        server.start()
        server.seed()
        yield server
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie nobody reaped yet does not: the daemon is not our child)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class BdiiUpdate:
    """Debian's bdii-update, configured to feed *slapd* from directories in *work_dir*."""

    def __init__(
        self, slapd: Slapd, work_dir: Path, breathe_time: float = 1.0, compat: bool = True
    ) -> None:
        require(BDII_UPDATE, "bdii")
        #: Whether :data:`COMPAT_DIR` goes first on PATH (False: bdii 6.0.0 as Debian ships it).
        self.compat = compat
        self.slapd = slapd
        self.dir = Path(work_dir)
        self.breathe_time = breathe_time
        self.run_dir = self.dir / "run"
        self.var_dir = self.dir / "var"
        self.ldif_dir = self.dir / "ldif"
        self.provider_dir = self.dir / "provider"
        self.plugin_dir = self.dir / "plugin"
        self.log_file = self.dir / "bdii-update.log"
        self.conf = self.dir / "bdii.conf"
        for d in (
            self.run_dir,
            self.var_dir / "archive",
            self.ldif_dir,
            self.provider_dir,
            self.plugin_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEFAULT_LDIF, self.ldif_dir / "default.ldif")
        self.write_conf()
        self._pid: int | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "bdii-update.pid"

    def write_conf(self, log_level: str = "DEBUG") -> None:
        settings = {
            "BDII_RUN_DIR": self.run_dir,
            "BDII_PID_FILE": self.pid_file,
            "BDII_VAR_DIR": self.var_dir,
            "BDII_LOG_FILE": self.log_file,
            "BDII_LOG_LEVEL": log_level,
            "BDII_LDIF_DIR": self.ldif_dir,
            "BDII_PROVIDER_DIR": self.provider_dir,
            "BDII_PLUGIN_DIR": self.plugin_dir,
            "BDII_READ_TIMEOUT": 60,
            "BDII_PORT": self.slapd.port,
            "BDII_HOSTNAME": "127.0.0.1",
            "SLAPD_CONF": self.slapd.conf,
            "BDII_BREATHE_TIME": self.breathe_time,
            "BDII_ARCHIVE_SIZE": 0,
            "BDII_DELETE_DELAY": 0,
        }
        self.conf.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def _script(self, directory: Path, name: str, script_text: str) -> Path:
        path = directory / name
        path.write_text(script_text)
        path.chmod(0o755)
        return path

    def add_provider(self, name: str, script_text: str) -> Path:
        """A GIP provider: an executable whose output is full LDIF entries."""
        return self._script(self.provider_dir, name, script_text)

    def add_plugin(self, name: str, script_text: str) -> Path:
        """A GIP plugin: an executable whose output is merged into the providers' entries."""
        return self._script(self.plugin_dir, name, script_text)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.compat:
            env["PATH"] = f"{COMPAT_DIR}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env.pop("SLAPD_CONF", None)  # it would override bdii.conf's
        return env

    def run_once(self) -> str:
        """One cycle without ``-d``: the merged LDIF bdii-update prints (nothing loaded)."""
        r = subprocess.run(
            [BDII_UPDATE, "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env(),
        )
        if r.returncode != 0:
            raise RuntimeError(f"bdii-update failed ({r.returncode}): {r.stderr}\n{self.log()}")
        return r.stdout

    def start_daemon(self) -> None:
        """The update loop (``-d``: it daemonizes, sleeps 3 s, then a cycle per breathe time)."""
        self.pid_file.unlink(missing_ok=True)
        r = subprocess.run(
            [BDII_UPDATE, "-c", str(self.conf), "-d"],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
        )
        if r.returncode != 0:
            raise RuntimeError(f"bdii-update -d failed ({r.returncode}): {r.stderr}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                self._pid = int(self.pid_file.read_text().strip())
                return
            time.sleep(0.05)
        raise RuntimeError(f"bdii-update -d wrote no pid file: {self.log()}")

    def stop(self) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        # The daemon leads its own session (setsid); its providers run in process groups of
        # their own, children of it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def wait_for(
        self, predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.25
    ) -> object:
        """Call *predicate* until it returns something true; that value, or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not true after {timeout} s; bdii-update log:\n{self.log()[-4000:]}"
                )
            time.sleep(interval)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


# -- the installed schemas --------------------------------------------------------------------


class Schema:
    """Object classes and attribute types of OpenLDAP ``.schema`` files (names case-folded)."""

    def __init__(self) -> None:
        #: class -> (superclasses, MUST attributes, MAY attributes), as written
        self.classes: dict[str, tuple[list[str], list[str], list[str]]] = {}
        #: attribute -> (its spelling, syntax OID, single-valued)
        self.attributes: dict[str, tuple[str, str, bool]] = {}

    def has_class(self, name: str) -> bool:
        return name.lower() in self.classes

    def must(self, objectclass: str) -> set[str]:
        """The MUST attributes of *objectclass* and of every class above it (lower case)."""
        out: set[str] = set()
        todo = [objectclass.lower()]
        while todo:
            name = todo.pop()
            if name == "top" or name not in self.classes:
                continue
            sup, must, _ = self.classes[name]
            out |= {m.lower() for m in must}
            todo += [s.lower() for s in sup]
        return out

    def syntax(self, attribute: str) -> str:
        """The syntax OID of *attribute* (without its length bound), "" if unknown."""
        return self.attributes.get(attribute.lower(), ("", "", False))[1]


def _oid_list(body: str, keyword: str) -> list[str]:
    m = re.search(rf"\b{keyword}\s+(\(([^)]*)\)|'?([\w.-]+)'?)", body)
    if not m:
        return []
    text = m.group(2) if m.group(2) is not None else m.group(3)
    return [w.strip("' ") for w in text.split("$") if w.strip("' ")]


def parse_schema(text: str, schema: Schema | None = None) -> Schema:
    """Parse OpenLDAP schema text (``attributetype ( ... )`` / ``objectclass ( ... )``)."""
    schema = schema or Schema()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    text = "\n".join(lines)
    for m in re.finditer(r"(?im)^(attributetype|objectclass)\s*\(", text):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):  # noqa: B007 - i is the closing parenthesis
            if text[i] == "(" and not _in_quotes(text, m.end(), i):
                depth += 1
            elif text[i] == ")" and not _in_quotes(text, m.end(), i):
                depth -= 1
                if depth == 0:
                    break
        body = " ".join(text[m.end() : i].split())
        names = re.search(r"NAME\s+(\(([^)]*)\)|'([^']+)')", body)
        if not names:
            continue
        all_names = re.findall(r"'([^']+)'", names.group(0))
        if m.group(1).lower() == "objectclass":
            entry = (_oid_list(body, "SUP"), _oid_list(body, "MUST"), _oid_list(body, "MAY"))
            for name in all_names:
                schema.classes[name.lower()] = entry
        else:
            syntax = re.search(r"SYNTAX\s+'?([\d.]+)", body)
            attr = (all_names[0], syntax.group(1) if syntax else "", "SINGLE-VALUE" in body)
            for name in all_names:
                schema.attributes[name.lower()] = attr
    return schema


def _in_quotes(text: str, start: int, pos: int) -> bool:
    return text.count("'", start, pos) % 2 == 1


def load_schema(names: Sequence[str] = GLUE_SCHEMA_FILES) -> Schema:
    """The installed GLUE schemas (skips when glue-schema is missing, fails under CI)."""
    paths = [SCHEMA_DIR / n for n in names]
    if not all(p.exists() for p in paths):
        require(str(paths[0]), "glue-schema")
    schema = Schema()
    for path in paths:
        parse_schema(path.read_text(errors="replace"), schema)
    return schema


# -- reading back with ldap3 ------------------------------------------------------------------


def import_ldap3() -> Any:
    """The ldap3 module.  Importing ldap3 2.9.1 with a recent pyasn1 warns (DeprecationWarning:
    ``tagMap is deprecated``), which this suite's ``filterwarnings = error`` turns into a
    failure: the import here ignores that warning, and only that one."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"\w+ is deprecated\. Please use \w+ instead",
            category=DeprecationWarning,
        )
        import ldap3
        import ldap3.utils.conv  # noqa: F401 - loaded under the same filter
    return ldap3


def escape_filter_chars(value: str) -> str:
    """*value* escaped for an LDAP filter (ldap3's ``escape_filter_chars``)."""
    return str(import_ldap3().utils.conv.escape_filter_chars(value))


def read_entries(url: str, base: str, filt: str = "(objectClass=*)") -> list[Entry]:
    """An anonymous ldap3 subtree search of *url*: the entries, as :class:`pps.glue.Entry`
    (attribute names lower-cased, values as strings).  Escape filter values with
    :func:`escape_filter_chars`."""
    ldap3 = import_ldap3()

    conn = ldap3.Connection(ldap3.Server(url), auto_bind=True)
    try:
        ok = conn.search(base, filt, search_scope=ldap3.SUBTREE, attributes=ldap3.ALL_ATTRIBUTES)
        if not ok and conn.result.get("result") not in (0, 32):
            raise LdapError(f"ldap3 search of {base} {filt} failed: {conn.result}")
        out = []
        for e in conn.response or []:
            if e.get("type") != "searchResEntry":
                continue
            attrs: dict[str, list[str]] = {}
            for name, values in e["raw_attributes"].items():
                attrs[name.lower()] = [v.decode("utf-8") for v in values]
            out.append(Entry(e["dn"], attrs))
        return out
    finally:
        conn.unbind()
