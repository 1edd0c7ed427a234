"""The probe starts small: importing it loads no heavy or operator-side package."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = {"requests", "urllib3", "paramiko", "jinja2", "click", "distributor", "bulletin"}
#: The LDAP client: only check_preview_publication loads it, and only when it runs.
LDAP = {"ldap3", "pyasn1"}


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
