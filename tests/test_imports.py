"""The import direction holds: core <- parts, and nothing imports distributor or probes back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("pps", "probes", "distributor", "bulletin", "jdl_templates")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of *tree* but those under ``if TYPE_CHECKING:`` (never run)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def imported_top_levels(package: str) -> dict[str, set[str]]:
    """``{module file: top-level names it imports at run time}`` for every module of
    *package*."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_core_imports_only_the_standard_library_and_itself():
    allowed = set(sys.stdlib_module_names) | {"pps", "tomli"}
    offenders = {
        f: sorted(n - allowed) for f, n in imported_top_levels("pps").items() if n - allowed
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("pps", {"probes", "distributor", "bulletin", "jdl_templates"}),
        ("probes", {"distributor", "bulletin", "jdl_templates", "paramiko", "click", "jinja2"}),
        ("bulletin", {"distributor", "probes", "paramiko"}),
        ("jdl_templates", {"distributor", "probes", "bulletin", "paramiko"}),
        ("distributor", {"probes"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_parts_do_not_import_against_the_direction(package, forbidden):
    offenders = {f: sorted(n & forbidden) for f, n in imported_top_levels(package).items()
                 if n & forbidden}  # fmt: skip
    assert offenders == {}


def test_only_the_publication_check_imports_the_ldap_client():
    """ldap3 (and its pyasn1) is the publication check's alone: the probe and the GIP provider,
    which run at every site every few minutes, never load it."""
    importers = {f for f, n in imported_top_levels("probes").items() if n & {"ldap3", "pyasn1"}}
    assert importers == {"probes/_bdii.py"}
    users = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "probes").glob("*.py")
        if "probes._bdii" in path.read_text()
    }
    assert users == {"probes/check_preview_publication.py"}


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout)}


def test_loading_the_whole_core_loads_nothing_outside_the_standard_library():
    modules = [p.stem for p in (ROOT / "pps").glob("*.py") if p.stem != "__init__"]
    loaded = _loaded_after("; ".join(f"import pps.{m}" for m in modules))
    # names starting with "_" are the interpreter's and pip's start-up hooks (editable installs)
    third_party = {m for m in loaded - set(sys.stdlib_module_names) if not m.startswith("_")}
    assert third_party - {"pps", "tomli", "sitecustomize"} == set()


@pytest.mark.parametrize("package", ["pps", "probes"])
def test_site_side_code_parses_as_python_3_9(package):
    """The core and the probes run on a site's Python 3.9: no newer syntax may creep in."""
    for path in sorted((ROOT / package).rglob("*.py")):
        ast.parse(path.read_text(), str(path), feature_version=(3, 9))


def test_every_top_level_command_is_listed_with_the_module_that_defines_it():
    """``pps`` imports a command's module only when the command is looked up: the list it
    goes by (COMMAND_MODULES) names each command of each module, and only those."""
    import importlib

    from distributor.cli import COMMAND_MODULES, cli

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"distributor.cli.{module}")
    defined = {name: command.callback.__module__ for name, command in cli.commands.items()}
    assert defined == {name: f"distributor.cli.{m}" for name, m in COMMAND_MODULES.items()}


def test_a_command_loads_the_module_that_defines_it_and_no_other(tmp_path):
    code = (
        "import sys; from distributor.cli import cli\n"
        "try:\n"
        "    cli(['infosys', 'map', '--infosys', 'ldap://127.0.0.1:1', '--timeout', '1'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('distributor', 'pps')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import json\n{code}"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    loaded = set(json.loads(out.stdout))
    assert {m for m in loaded if m.startswith("distributor.cli.")} == {"distributor.cli.infosys"}
    # no pps.toml in the directory and none named: the inventory's code is not even loaded
    assert not loaded & {"pps.inventory", "pps.repository", "pps.manifest", "pps.settings"}
