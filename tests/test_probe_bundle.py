"""The one-file probe: what it holds, that it is reproducible, and that a bare python3 runs it."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from distributor.cli import cli
from distributor.transport.bundle import NEVER_BUNDLED, BundleError, build_probe_bundle
from pps.glue import STATE_VERIFIED, PublishedTag, parse_ldif, published_tags
from tests import bdii_helpers
from tests.bdii_helpers import Slapd
from tests.probe_helpers import SUBCLUSTER, add_release, make_site, probe_args, status_line
from tests.realparts import require

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["ldap3", "nagiosplugin", "pps", "probes", "pyasn1", "tomli"]
#: The Debian interpreter a site has: run isolated (-I) and without site-packages (-S).
SYSTEM_PYTHON = "/usr/bin/python3"
#: What bundled code may import besides the standard library and itself: lazily, and only when
#: the site pins a signing key.
#: Imported only where present: the signature library when a key is pinned, and CPython's own
#: sha256 module of Python 3.12+ (``_sha256`` before).
OPTIONAL_AT_SITE = {"cryptography", "_sha2"}
slapd = bdii_helpers.slapd
slapd_factory = bdii_helpers.slapd_factory
#: What ldap3 tries to import and does without (each in a ``try`` or only on Python 2): Python 2
#: compatibility, old-Python backports, and Kerberos and NTLM authentication, which the
#: publication check (an anonymous bind) never uses.
LDAP3_OPTIONAL = {"future", "UserDict", "backports", "gssapi", "winkerberos", "Crypto"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "check_preview_client.pyz"
    build_probe_bundle(path)
    return path


def run_bundle(
    path: Path, *args: str, cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the bundle with a bare system python; its bytecode cache goes to *cache* (default:
    beside the bundle), never to the machine's /var/cache/pps."""
    python = require(SYSTEM_PYTHON, "python3")
    env = dict(os.environ, PPS_BUNDLE_CACHE=str(cache or path.parent / "bundle-cache"))
    return subprocess.run(
        [python, "-I", "-S", str(path), *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_the_bundle_holds_the_site_side_packages_their_dependencies_and_a_main(
    tmp_path: Path,
) -> None:
    out = tmp_path / "probe.pyz"

    built = build_probe_bundle(out)

    data = out.read_bytes()
    assert built.path == out
    assert (built.size, built.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert list(built.packages) == PACKAGES
    assert data.startswith(b"#!/usr/bin/env python3\n")
    assert out.stat().st_mode & 0o777 == 0o755
    names = zipfile.ZipFile(out).namelist()
    assert names == sorted(names)
    assert sorted({n.split("/")[0] for n in names}) == sorted(
        ["__main__.py", "__main__.pyc", "licenses", *PACKAGES]
    )
    code = [n for n in names if not n.startswith("licenses/")]
    assert [n for n in code if not (n.endswith(".py") or n.endswith("/py.typed"))] == [
        "__main__.pyc"  # the one byte code: see the next tests
    ]
    # what the bundle redistributes travels with its licence
    assert [n for n in names if n.startswith("licenses/")] == [
        "licenses/ldap3/COPYING.LESSER.txt", "licenses/ldap3/COPYING.txt",
        "licenses/ldap3/LICENSE.txt", "licenses/nagiosplugin/LICENSE.txt",
        "licenses/pyasn1/LICENSE.rst", "licenses/tomli/LICENSE",
    ]  # fmt: skip
    assert [n for n in names if re.search(r"(^|/)(__pycache__|tests?|examples)/", n)] == []
    assert {n.split("/")[0] for n in names} & NEVER_BUNDLED == set()
    assert NEVER_BUNDLED >= {"requests", "urllib3", "certifi", "charset_normalizer", "idna",
                             "paramiko", "click", "jinja2", "cryptography"}  # fmt: skip
    probes_sources = sorted(f"probes/{p.name}" for p in (ROOT / "probes").glob("*.py"))
    assert [n for n in names if n.startswith("probes/")] == probes_sources
    assert "pps/py.typed" in names


def test_every_entry_has_the_same_fixed_time_permissions_and_compression(bundle: Path) -> None:
    infos = zipfile.ZipFile(bundle).infolist()

    assert {(i.date_time, i.external_attr >> 16, i.compress_type) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_DEFLATED)
    }


def test_two_builds_from_the_same_sources_give_the_same_bytes(tmp_path: Path, bundle: Path) -> None:
    again = build_probe_bundle(tmp_path / "again.pyz")

    assert again.path.read_bytes() == bundle.read_bytes()
    assert again.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()


def test_source_date_epoch_sets_the_time_of_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14T22:13:20Z

    built = build_probe_bundle(tmp_path / "probe.pyz")

    times = {i.date_time for i in zipfile.ZipFile(built.path).infolist()}
    assert times == {(2023, 11, 14, 22, 13, 20)}


def imported_top_levels(source: bytes, name: str) -> set[str]:
    """The top-level names *source* imports (absolute imports), parsed as Python 3.9; imports
    in an ``except ImportError`` handler (nagiosplugin's Python 2 fallbacks) or under
    ``if TYPE_CHECKING:`` (never run) do not count."""
    tree = ast.parse(source, name, feature_version=(3, 9))
    fallbacks = {
        id(stmt)
        for handler in ast.walk(tree)
        if isinstance(handler, ast.ExceptHandler)
        and isinstance(handler.type, ast.Name)
        and handler.type.id in ("ImportError", "ModuleNotFoundError")
        for stmt in handler.body
    }
    type_checking = {
        id(stmt)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for stmt in ast.walk(block)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in fallbacks or id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_bundled_code_parses_as_python_3_9_and_imports_nothing_outside_the_bundle(
    bundle: Path,
) -> None:
    allowed = set(sys.stdlib_module_names) | set(PACKAGES) | OPTIONAL_AT_SITE
    with zipfile.ZipFile(bundle) as zf:
        imports = {
            n: imported_top_levels(zf.read(n), n) for n in zf.namelist() if n.endswith(".py")
        }

    offenders = {
        name: sorted(names - allowed - (LDAP3_OPTIONAL if name.startswith("ldap3/") else set()))
        for name, names in imports.items()
        if names - allowed - (LDAP3_OPTIONAL if name.startswith("ldap3/") else set())
    }
    assert offenders == {}
    assert imports["__main__.py"] == {
        "gc", "os", "sys", "probes", "py_compile", "shutil", "tempfile", "zipfile", "zlib",
    }  # fmt: skip


def test_a_bare_system_python_runs_the_bundle_as_the_probe(tmp_path: Path, bundle: Path) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)

    proc = run_bundle(bundle, *probe_args(site, tmp_path / "repo"))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: "
        "2/2 tests passed, tagged for dteam,ops | "
    )
    assert site.tags_text("dteam") == "VO-dteam-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"
    assert site.tags_text("ops") == "VO-ops-PPS-fake-client-1.0.0\nPPS-PREVIEW\n"


def test_help_through_the_bundle_prints_the_probe_help(bundle: Path) -> None:
    proc = run_bundle(bundle, "--help")

    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("usage: check_preview_client [-h] [--site-config FILE]")
    assert "Install, test and tag a preview version of a grid client at this site" in proc.stdout


def test_a_symlink_named_pps_gip_provider_runs_the_gip_provider(
    tmp_path: Path, bundle: Path
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_bundle(bundle, *probe_args(site, tmp_path / "repo")).returncode == 0
    link = tmp_path / "bin" / "pps-gip-provider"
    link.parent.mkdir()
    link.symlink_to(bundle)

    proc = run_bundle(
        link, "--site", "TEST-SITE", "--subcluster", SUBCLUSTER,
        "--info-dir", str(site.info_dir), "--preview-root", str(site.preview_root),
    )  # fmt: skip

    assert (proc.returncode, proc.stderr) == (0, "")
    dns = [e.dn for e in parse_ldif(proc.stdout)]  # parsed: the provider may fold long lines
    assert any(
        dn.startswith(f"GlueSubClusterUniqueID={SUBCLUSTER},GlueClusterUniqueID={SUBCLUSTER},")
        for dn in dns
    ), dns
    tags = published_tags(parse_ldif(proc.stdout))
    assert sorted(tags.values(), key=lambda t: t.tag) == [
        PublishedTag("PPS-PREVIEW", STATE_VERIFIED, ""),
        PublishedTag("VO-dteam-PPS-fake-client-1.0.0", STATE_VERIFIED, "1.0.0"),
        PublishedTag("VO-ops-PPS-fake-client-1.0.0", STATE_VERIFIED, "1.0.0"),
    ]


def test_a_symlink_named_check_preview_publication_checks_the_bdii_with_the_bundled_ldap3(
    tmp_path: Path, bundle: Path, slapd: Slapd
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    assert run_bundle(bundle, *probe_args(site, tmp_path / "repo")).returncode == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pps-gip-provider", "check_preview_publication"):
        (bin_dir / name).symlink_to(bundle)
    where = ["--subcluster", SUBCLUSTER, "--info-dir", str(site.info_dir),
             "--preview-root", str(site.preview_root)]  # fmt: skip
    gip = run_bundle(bin_dir / "pps-gip-provider", "--site", "TEST-SITE", *where)
    assert gip.returncode == 0, gip.stderr
    slapd.add(gip.stdout)

    proc = run_bundle(bin_dir / "check_preview_publication", "--no-site-config",
                      "--bdii", slapd.url, *where)  # fmt: skip

    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_PUBLICATION OK - {SUBCLUSTER} in {slapd.url}: 2 verified tags published "
        "(GLUE 1.3 and 2.0) | "
    )


def test_building_the_bundle_imports_none_of_the_packages_it_bundles(tmp_path: Path) -> None:
    code = (
        "import sys, json; from pathlib import Path; from distributor.transport.bundle import "
        f"build_probe_bundle; build_probe_bundle(Path({str(tmp_path / 'b.pyz')!r})); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert (
        set(json.loads(out.stdout)) & {"probes", "nagiosplugin", "tomli", "ldap3", "pyasn1"}
        == set()
    )


def test_a_missing_tomli_fails_the_build_with_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tomli" else
        real_find_spec(name, *a),
    )  # fmt: skip

    with pytest.raises(BundleError) as e:
        build_probe_bundle(tmp_path / "probe.pyz")

    assert str(e.value) == (
        f"cannot build the one-file probe: tomli is not installed for {sys.executable} (sites on "
        "Python 3.9/3.10 read TOML with it): pip install tomli, or reinstall pps"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_cli_writes_the_bundle_and_prints_its_size_and_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["probe-bundle"])

    assert result.exit_code == 0, result.output
    data = (tmp_path / "check_preview_client.pyz").read_bytes()
    assert result.output == (
        f"wrote check_preview_client.pyz ({len(data)} bytes, sha256 "
        f"{hashlib.sha256(data).hexdigest()}): run it with python3 >= 3.9, nothing else needed\n"
    )


def test_the_cli_prints_the_bundle_record_as_json(tmp_path: Path) -> None:
    out = tmp_path / "dist" / "probe.pyz"

    result = CliRunner().invoke(cli, ["probe-bundle", "-o", str(out), "--json"])

    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert json.loads(result.output) == {
        "path": str(out),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "packages": PACKAGES,
    }


def test_the_cli_reports_a_missing_dependency_in_one_line_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nagiosplugin" else
        real_find_spec(name, *a),
    )  # fmt: skip

    result = CliRunner().invoke(cli, ["probe-bundle", "-o", str(tmp_path / "probe.pyz")])

    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot build the one-file probe: nagiosplugin is not installed for "
        f"{sys.executable} (the probe is a nagiosplugin check): pip install nagiosplugin, or "
        "reinstall pps\n"
    )


def test_the_bundled_tomli_reads_toml_for_sites_older_than_python_3_11(bundle: Path) -> None:
    python = require(SYSTEM_PYTHON, "python3")
    code = (
        f"import sys; sys.path.insert(0, {str(bundle)!r}); import tomli; "
        "print(tomli.__file__, tomli.loads('vos = [\"dteam\"]'))"
    )

    proc = subprocess.run(
        [python, "-I", "-S", "-c", code], capture_output=True, text=True, check=False
    )

    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{bundle}/tomli/__init__.py {{'vos': ['dteam']}}\n"


def test_the_bundle_unpacks_itself_once_into_a_private_cache_and_runs_from_it(
    tmp_path: Path, bundle: Path
) -> None:
    cache = tmp_path / "cache"
    assert run_bundle(bundle, "--help", cache=cache).returncode == 0
    (unpacked,) = cache.iterdir()
    assert (unpacked / ".complete").exists()
    assert list((unpacked / "probes" / "__pycache__").glob("check_preview_client.*.pyc"))
    probe = unpacked / "probes" / "check_preview_client.py"
    probe.chmod(0o644)
    probe.write_text(probe.read_text().replace("Install, test and tag", "FROM THE CACHE:"))
    for pyc in (unpacked / "probes" / "__pycache__").glob("check_preview_client.*"):
        pyc.unlink()

    cached = run_bundle(bundle, "--help", cache=cache)
    cache.chmod(0o777)  # someone else could now plant code there: it is not used
    unsafe = run_bundle(bundle, "--help", cache=cache)

    assert "FROM THE CACHE:" in cached.stdout
    assert unsafe.returncode == 0
    assert "Install, test and tag" in unsafe.stdout


def test_a_cached_run_reads_the_bundles_zip_directory_not_the_whole_bundle(
    tmp_path: Path, bundle: Path
) -> None:
    strace = require("strace", "strace")
    python = require(SYSTEM_PYTHON, "python3")
    cache = tmp_path / "cache"
    assert run_bundle(bundle, "--help", cache=cache).returncode == 0  # unpacks, compiles
    trace = tmp_path / "trace"

    proc = subprocess.run(
        [strace, "-qq", "-y", "-e", "trace=read,pread64", "-o", str(trace),
         python, "-I", "-S", str(bundle), "--help"],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, PPS_BUNDLE_CACHE=str(cache)),
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: check_preview_client")
    pattern = rf"^p?read(?:64)?\(\d+<{re.escape(str(bundle))}>, .*\) = (\d+)$"
    read = sum(int(n) for n in re.findall(pattern, trace.read_text(), re.MULTILINE))
    assert 0 < read < bundle.stat().st_size // 4


def test_a_bundle_with_other_content_never_runs_from_the_cache_of_the_first(
    tmp_path: Path, bundle: Path
) -> None:
    cache = tmp_path / "cache"
    assert run_bundle(bundle, "--help", cache=cache).returncode == 0
    (first,) = cache.iterdir()
    other = tmp_path / "other.pyz"
    with zipfile.ZipFile(bundle) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    out = io.BytesIO()
    out.write(bundle.read_bytes()[: bundle.read_bytes().index(b"PK\x03\x04")])  # the shebang
    with zipfile.ZipFile(out, "w") as dst:
        for info, data in entries:
            if info.filename == "probes/check_preview_client.py":  # same length, other text
                data = data.replace(b"Install, test and tag", b"INSTALL, TEST AND TAG")
            dst.writestr(info, data)
    other.write_bytes(out.getvalue())

    proc = run_bundle(other, "--help", cache=cache)

    assert proc.returncode == 0, proc.stderr
    assert "INSTALL, TEST AND TAG" in proc.stdout
    assert [p.name for p in cache.iterdir()] != [first.name]  # its own cache, the old one gone


#: Prints where zipimport took the bundle's __main__ from: the name its code was compiled under
#: (``__main__.py`` from the bundle's byte code, the archive's path from its source).
WHERE_MAIN_COMES_FROM = (
    "import sys, zipimport; code = zipimport.zipimporter(sys.argv[1]).get_code('__main__'); "
    "print(code.co_filename)"
)


def test_the_building_pythons_kind_loads_the_main_from_byte_code_without_compiling(
    bundle: Path,
) -> None:
    python = require(SYSTEM_PYTHON, "python3")
    with zipfile.ZipFile(bundle) as zf:
        source, pyc = zf.read("__main__.py"), zf.read("__main__.pyc")

    proc = subprocess.run([sys.executable, "-I", "-S", "-c", WHERE_MAIN_COMES_FROM, str(bundle)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    system = subprocess.run([python, "-I", "-S", "-c", "import importlib.util as u; "
                             "print(u.MAGIC_NUMBER.hex())"], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip

    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "__main__.py\n", "")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 1  # hash-based, not checked against the source
    assert pyc[8:16] == importlib.util.source_hash(source)
    if system.stdout.strip() == importlib.util.MAGIC_NUMBER.hex():  # the site's python3 too
        ran = run_bundle(bundle, "--help")
        assert (ran.returncode, ran.stderr) == (0, "")


def test_a_python_of_another_byte_code_format_runs_the_bundle_from_its_main_source(
    tmp_path: Path, bundle: Path
) -> None:
    other = tmp_path / "other.pyz"
    with zipfile.ZipFile(bundle) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    out = io.BytesIO()
    out.write(bundle.read_bytes()[: bundle.read_bytes().index(b"PK\x03\x04")])  # the shebang
    with zipfile.ZipFile(out, "w") as dst:
        for info, data in entries:
            if info.filename == "__main__.pyc":  # what another Python sees: not its magic
                data = (int.from_bytes(data[:2], "little") ^ 0x4000).to_bytes(2, "little") + data[
                    2:
                ]
            dst.writestr(info, data)
    other.write_bytes(out.getvalue())

    where = subprocess.run([sys.executable, "-I", "-S", "-c", WHERE_MAIN_COMES_FROM, str(other)],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    ran = run_bundle(other, "--help", cache=tmp_path / "cache")

    assert (where.returncode, where.stdout) == (0, f"{other}/__main__.py\n"), where.stderr
    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout.startswith("usage: check_preview_client")


def test_the_bundle_is_the_same_whatever_the_building_process_loaded(tmp_path: Path) -> None:
    built = []
    for n, preload in enumerate(
        ("", "import distributor.cli, distributor.push.controller, distributor.transport.ssh; ")
    ):
        out = tmp_path / f"b{n}.pyz"
        code = (f"{preload}from pathlib import Path; from distributor.transport.bundle import "
                f"build_probe_bundle; build_probe_bundle(Path({str(out)!r}))")  # fmt: skip
        env = dict(os.environ, PYTHONHASHSEED=str(n + 1))
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)
        built.append(out.read_bytes())

    assert built[0] == built[1]
