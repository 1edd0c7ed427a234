"""A real ARC-CE for the tests: Debian's ARC 6.17 ``arcctl`` and A-REX's information provider.

Nothing is mocked: a temporary ``arc.conf`` (``[lrms] lrms=fork``; ``[arex] runtimedir``,
``controldir``, ``sessiondir`` in a temp dir; ``[infosys]`` with its log in the temp dir;
``[infosys/glue2]``, ``[infosys/cluster]``, ``[queue:fork]``), the real ``/usr/sbin/arcctl -c
<arc.conf> rte ...`` (package ``nordugrid-arc-arcctl``) and the real provider ``perl
-I/usr/share/arc /usr/share/arc/CEinfo.pl --config <arc.conf>`` (``nordugrid-arc-arex``), which
prints GLUE 2.0 XML with one ``ApplicationEnvironment`` per enabled RTE.  The xRSL parser is
ARC's own Python binding (``python3-nordugrid-arc``), importable only by Debian's
``/usr/bin/python3``, so it runs in that interpreter.  Missing parts skip, or fail under CI
(:func:`tests.realparts.require`).

The temp dir is made by :func:`tempfile.mkdtemp` with a lower-case prefix: arcctl 6 strips the
letters of the runtime directory's path from RTE names (see ``probes._arc_rte.arc_name``), so a
directory with an upper-case ``E`` in its path would hide every ``ENV/...`` RTE.

API
---
``arc_site`` (fixture): a fresh :class:`ArcSite`, its directory removed at teardown.
:class:`ArcSite` ``(directory)``: ``conf`` (the arc.conf path), ``runtimedir``, ``controldir``,
``arcctl(*args) -> CompletedProcess`` (``-c conf`` first), ``enabled()`` (``arcctl rte list -e``),
``defaults()`` (``-d``), ``listing()`` (``arcctl rte list``: ``{name: "(user, enabled)"}``),
``ceinfo() -> str`` (the provider's XML), ``ldif() -> str`` (the GLUE 2.0 LDIF A-REX gives
its LDAP infosys: the ``ldif-provider.sh`` bdii-update runs), ``app_environments()``,
``write_rte(name, text)`` (a site's own RTE script).
:func:`xrsl_rtes` ``(xrsl_text) -> list[(name, version)]``: the RTEs an xRSL asks for, as ARC's
parser reads them (``None`` when it does not parse).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.realparts import require, under_ci

ARCCTL = "/usr/sbin/arcctl"
CEINFO = "/usr/share/arc/CEinfo.pl"
DEBIAN_PYTHON = "/usr/bin/python3"
GLUE2_NS = "{http://schemas.ogf.org/glue/2009/03/spec_2.0_r1}"


class AppEnv(NamedTuple):
    name: str
    version: str
    state: str


ARC_CONF = """\
[common]
hostname = ce.arc.example.org

[lrms]
lrms = fork

[arex]
runtimedir = {d}/rte
controldir = {d}/control
sessiondir = {d}/session

[infosys]
loglevel = INFO
logfile = {d}/infosys.log

[infosys/ldap]
bdii_run_dir = {d}/bdii
infosys_ldap_run_dir = {d}/ldap
bdii_update_pid_file = {d}/bdii/bdii-update.pid

[infosys/glue2]
admindomain_name = ARC-SITE
# GLUE2ComputingService needs it in the BDII's GLUE 2.0 schema; A-REX leaves it out without
computingservice_qualitylevel = production

[infosys/glue2/ldap]

[infosys/cluster]

[queue:fork]
"""


#: The directories of an ArcSite besides runtimedir and controldir.
NEW_DIRS = ("session", "bdii", "ldap")


class ArcSite:
    """One ARC-CE configuration in *directory* (see the module's description)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.conf = directory / "arc.conf"
        self.runtimedir = directory / "rte"
        self.controldir = directory / "control"
        for d in (self.runtimedir, self.controldir, *(directory / n for n in NEW_DIRS)):
            d.mkdir()
        # A-REX writes its LDIF for a running BDII only: the pid file is what it looks for.
        (directory / "bdii" / "bdii-update.pid").write_text(f"{os.getpid()}\n")
        self.conf.write_text(ARC_CONF.format(d=directory))

    def arcctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [ARCCTL, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=60
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"arcctl {' '.join(args)}: {proc.returncode} {proc.stderr}")
        return proc

    def enabled(self) -> list[str]:
        return self.arcctl("rte", "list", "-e").stdout.split()

    def defaults(self) -> list[str]:
        return self.arcctl("rte", "list", "-d").stdout.split()

    def listing(self) -> dict[str, str]:
        """``arcctl rte list``: every RTE arcctl knows, with its kinds."""
        out = {}
        for line in self.arcctl("rte", "list").stdout.splitlines():
            name, _, kinds = line.partition(" ")
            out[name] = kinds.strip()
        return out

    def ceinfo(self) -> str:
        require("perl", "perl")
        require(CEINFO, "nordugrid-arc-arex")
        proc = subprocess.run(
            ["perl", "-I/usr/share/arc", CEINFO, "--config", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def ldif(self) -> str:
        """The GLUE 2.0 LDIF A-REX's provider gives its LDAP infosys now: CEinfo.pl writes
        ``<infosys_ldap_run_dir>/ldif-provider.sh``, the script bdii-update runs (DNs under
        ``o=glue``, as the CE's own resource BDII serves them)."""
        self.ceinfo()
        script = self.dir / "ldap" / "ldif-provider.sh"
        assert script.is_file(), (self.dir / "infosys.log").read_text()[-2000:]
        proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def app_environments(self) -> list[AppEnv]:
        """The GLUE 2.0 ApplicationEnvironments A-REX's provider publishes now."""
        root = ET.fromstring(self.ceinfo())
        found = []
        for env in root.iter(GLUE2_NS + "ApplicationEnvironment"):
            found.append(
                AppEnv(
                    env.findtext(GLUE2_NS + "AppName") or "",
                    env.findtext(GLUE2_NS + "AppVersion") or "",
                    env.findtext(GLUE2_NS + "State") or "",
                )
            )
        return sorted(found)

    def write_rte(self, name: str, text: str) -> Path:
        """A site's own RTE script at ``<runtimedir>/<name>``."""
        path = self.runtimedir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


def require_file(path: str, package: str) -> str:
    """*path* (a file the tests read or source, not a command): skip without it, fail under CI."""
    if os.path.isfile(path):
        return path
    if under_ci():
        pytest.fail(f"{path} is missing and CI=true: install Debian's {package}")
    pytest.skip(f"{path} is not installed (apt-get install {package})")


@pytest.fixture
def arc_site() -> Iterator[ArcSite]:
    require(ARCCTL, "nordugrid-arc-arcctl")
    directory = Path(tempfile.mkdtemp(prefix="pps-arc-", dir="/tmp"))
    try:
        yield ArcSite(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


_XRSL_PARSE = """
import json, sys
import arc
jobs = arc.JobDescriptionList()
ok = arc.JobDescription.Parse(sys.stdin.read(), jobs, "nordugrid:xrsl", "")
if not ok or jobs.size() == 0:
    print("null")
else:
    rtes = jobs.front().Resources.RunTimeEnvironment.getSoftwareList()
    print(json.dumps([[s.getName(), s.getVersion()] for s in rtes]))
"""


def xrsl_rtes(text: str) -> list[tuple[str, str]] | None:
    """The RTEs (name, version) an xRSL asks for, as ARC's own parser reads it."""
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import arc"], capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        if under_ci():
            pytest.fail("python3-nordugrid-arc (ARC's Python binding) is missing and CI=true")
        pytest.skip("ARC's Python binding is not installed (apt-get install python3-nordugrid-arc)")
    proc = subprocess.run(
        [DEBIAN_PYTHON, "-c", _XRSL_PARSE],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return None if data is None else [(n, v) for n, v in data]
