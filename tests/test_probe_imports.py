"""The probe starts small: importing it loads no heavy or operator-side package, and a
steady-state run (what Nagios starts every few minutes) loads nothing beyond its budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.probe_helpers import add_release, installed_probe, make_site, probe_args, run_probe

FORBIDDEN = {"requests", "urllib3", "paramiko", "jinja2", "click", "distributor", "bulletin"}
#: The LDAP client: only check_preview_publication loads it, and only when it runs.
LDAP = {"ldap3", "pyasn1"}


#: The standard library modules a steady-state run may load beyond ``import nagiosplugin``:
#: pathlib (with what it imports; ``nt`` and ``_winapi`` are ntpath's tries), ``pwd`` for the
#: test account, ``select`` to wait for a test, ``gc`` for the entry point (probes/_entry.py).
#: Not getopt (gettext), shlex, subprocess, argparse, typing, dataclasses, tarfile, hashlib...
STDLIB_BEYOND_THE_PEER = {
    "pathlib", "ntpath", "nt", "_winapi", "urllib", "urllib.parse", "ipaddress", "pwd", "select",
    "gc",
}  # fmt: skip
#: How many of pps's and the probes' own modules a steady-state run may load.
OWN_MODULES_BUDGET = 27


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_importing_the_probe_loads_no_heavy_package() -> None:
    loaded = loaded_after("import probes.check_preview_client")

    assert {m.split(".")[0] for m in loaded} & (FORBIDDEN | LDAP) == set()
    assert "tarfile" not in loaded  # only an install needs it
    assert "nagiosplugin" in loaded


def test_importing_the_gip_provider_loads_neither_nagiosplugin_nor_requests() -> None:
    loaded = {m.split(".")[0] for m in loaded_after("import probes.gip_provider")}

    assert loaded & (FORBIDDEN | LDAP | {"nagiosplugin", "tarfile"}) == set()


def test_importing_the_publication_check_loads_the_ldap_client_only_when_it_runs() -> None:
    loaded = loaded_after("import probes.check_preview_publication")

    assert {m.split(".")[0] for m in loaded} & (FORBIDDEN | LDAP | {"tarfile"}) == set()
    assert "nagiosplugin" in loaded


def modules_of(argv: list[str]) -> set[str]:
    """Every module a whole process running *argv* (after the interpreter) imports."""
    cmd = argv[1:] if argv[0] == sys.executable else argv
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        line.split("|")[2].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }


def test_a_steady_state_run_loads_only_its_budget_of_modules(tmp_path: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_probe(site, tmp_path / "repo").returncode == 0  # installs: the next run re-tests

    run = modules_of([*installed_probe(), *probe_args(site, tmp_path / "repo")])
    peer = modules_of([sys.executable, "-c", "import nagiosplugin"])

    extra = run - peer
    own = {m for m in extra if m.split(".")[0] in ("pps", "probes")}
    assert sorted(extra - own - STDLIB_BEYOND_THE_PEER) == []
    assert len(own) <= OWN_MODULES_BUDGET, sorted(own)
