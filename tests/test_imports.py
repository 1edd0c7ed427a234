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
    # the publication check and the two modules it is split into (its settings, its verdict)
    assert users == {
        "probes/check_preview_publication.py",
        "probes/_pubcheck_settings.py",
        "probes/_pubcheck_verdict.py",
    }


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


# ------------------------------------------------------------------ the module graph
def _module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the project."""
    found = {}
    for package in PARTS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _module_files()


def _project_module(name: str) -> str | None:
    """The project module *name* is, or is inside (``a.b.c`` of ``from a.b import c``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path, *, in_functions: bool | None = None) -> list[tuple[str, int]]:
    """``(imported module, line)`` of each run-time import in *path* (``from x import y``
    counted as ``x.y``: a submodule when it is one); only those inside a function with
    *in_functions*, only those outside with False."""
    tree = ast.parse(path.read_text(), str(path))
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside |= {id(n) for n in ast.walk(node) if n is not node}
    found = []
    for node in _runtime_nodes(tree):
        if in_functions is not None and (id(node) in inside) != in_functions:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def module_graph() -> dict[str, set[str]]:
    """``{module: the project modules it imports at run time}``, imports inside functions
    included (a cycle through a lazy import is a cycle all the same)."""
    graph = {}
    for name, path in MODULES.items():
        targets = {_project_module(imported) for imported, _line in _imports(path)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set(), "f": {"f"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_the_projects_modules():
    assert import_cycles(module_graph()) == []


#: Imports a function may make (the module imported, or its top-level package), each with why
#: it is not at the top.  Everything else of the project is imported at the top of a module.
LAZY_ANYWHERE = {
    "paramiko": "heavy (cryptography, bcrypt, nacl): only a site reached over SSH needs it",
    "distributor.transport.ssh": "imports paramiko at its top: only for an SSH site",
    "ldap3": "only a read of a BDII needs it (and the probes: only the publication check)",
    "ssl": "only an ldaps:// BDII needs it",
    "jinja2": "heavy: only the pages that are rendered need it",
    "bulletin": "imports jinja2: only a command that builds the bulletin needs it",
    "jdl_templates": "imports jinja2: only the job templates need it",
    "cryptography": "heavy, and optional at a site: only signing and a pinned key need it",
    "holidays": "heavy (every country's calendar): only the working-day clocks need it",
    "calendar": "the calendar: only a time written as UTC text needs it",
    "classad2": "optional: the HTCondor bindings, present only where HTCondor is",
    "htcondor2": "optional: the HTCondor bindings, present only where HTCondor is",
    "tomli": "Python 3.9/3.10 only (3.11 has tomllib): chosen by version",
    "tomllib": "Python 3.11 on (tomli before): chosen by version",
    "importlib.metadata": "only building the one-file probe reads the installed versions",
    "warnings": "only to silence ldap3's own warning where it is raised",
    "email": "pps.settings: only a mail address needs the parser",
    "tempfile": "pps.fsutil: only a write needs it; a GIP provider run (one process per site "
    "on the embedded default) writes nothing: 3.7 ms of its 25 ms of imports with shutil",
    "shutil": "pps.fsutil and the probe's tree removal: only a copy or a removal needs it",
    "pps.settings": "pps.text: a command that reads no pps.toml loads none of the settings' code",
    "pps.publication": "pps.inventory and the probe's site file: only an [infosys] or a 'bdii' "
    "key needs the publication reader",
}
#: Modules whose imports inside functions are measured start-up costs, with the test that
#: measures them.
LAZY_MODULES = {
    "probes": "the probe's steady-state budget: a module is loaded only on the path that needs"
    " it (tests/test_probe_imports.py, tests/test_probe_startup.py)",
    "distributor/_entry.py": "pps's start-up: the CLI loads when a command runs",
    "distributor/cli/__init__.py": "a command loads only its own module and what it needs "
    "(test_a_command_loads_the_module_that_defines_it_and_no_other)",
    "distributor/cli/infosys.py": "'pps infosys map --infosys URL' loads no inventory code "
    "(test_a_command_loads_the_module_that_defines_it_and_no_other)",
    "distributor/infosys/collect.py": "the same: a read of the BDII alone loads neither the "
    "transports nor the repository's code",
    "distributor/cli/bulletin.py": "'pps bulletin build --help' and 'pps jdl' load neither the "
    "bulletin (jinja2, the lifecycle: 0.12 s against 0.04 s for --help) nor the demo's pipeline",
}


def _lazy_allowed(path: str, imported: str) -> bool:
    if any(path == m or path.startswith(m + "/") for m in LAZY_MODULES):
        return True
    return any(imported == name or imported.startswith(name + ".") for name in LAZY_ANYWHERE)


def test_imports_are_at_the_top_but_for_the_allow_list():
    offenders = sorted(
        f"{path.relative_to(ROOT)}:{line} {imported}"
        for path in MODULES.values()
        for imported, line in _imports(path, in_functions=True)
        if not _lazy_allowed(str(path.relative_to(ROOT)), imported)
    )
    assert offenders == []


def test_no_behaviour_rests_on_an_assert_statement():
    """``python -O`` removes asserts: no check of the project's code may be one."""
    found = sorted(
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assert)
    )
    assert found == []
