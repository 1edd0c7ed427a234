"""The one-file probe: ``check_preview_client.pyz``, run by a site's own ``python3``.

``build_probe_bundle`` writes a zipapp (a ``#!/usr/bin/env python3`` line, then a zip) holding
the site-side packages (``pps``, ``probes``) and their pure-Python dependencies (``nagiosplugin``,
``tomli`` for sites on Python 3.9/3.10, ``ldap3`` and its ``pyasn1`` for the publication check),
taken from the operator's environment: ``.py`` files and ``py.typed`` only, never compiled
extensions, tests or examples, and no byte code but ``__main__.pyc`` (below).  Its
``__main__.py`` runs ``check_preview_client``, the
GIP provider when the file is run under a name containing ``gip-provider`` (a symlink
``pps-gip-provider``), or ``check_preview_publication`` under a name containing ``publication``
(a symlink ``check_preview_publication``).  ``cryptography``, compiled,
is never bundled: a site that pins a signing key installs it from its distribution.

Python runs a zip by importing its ``__main__`` with zipimport, which compiles ``__main__.py``
with :func:`compile` at every run, and the first ``compile()`` of a process builds the
interpreter's AST types: some 2 ms of a steady-state run that a plain script does not pay.  So
the bundle also holds ``__main__.pyc``, the same source compiled by the Python that builds the
bundle (an unchecked hash-based pyc, PEP 552, marshal format 2: no references, so the bytes do not
depend on what the building process has loaded).  zipimport tries it first; a Python with another
byte code format finds another magic number and compiles ``__main__.py`` as before.

The file is reproducible (entries sorted, one fixed time, fixed permissions, and for one Python
version the same byte code), so its sha256 names its content, and it is written atomically,
mode 0755.  Packages are located with
:func:`importlib.util.find_spec`, which reads no package's code: the distributor still never
imports the probes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import os
import stat
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pps.errors import BadInput, PPSError
from pps.fsutil import atomic_write

#: The top-level packages the bundle holds: the site-side code and what it needs at run time.
BUNDLED = ("ldap3", "nagiosplugin", "pps", "probes", "pyasn1", "tomli")
#: Operator-side or compiled packages that must never end up in the bundle.
NEVER_BUNDLED = frozenset({"certifi", "charset_normalizer", "click", "cryptography", "distributor",
                           "idna", "jinja2", "paramiko", "requests", "urllib3"})  # fmt: skip
#: Directories inside a package that the site never needs.
SKIPPED_DIRS = frozenset({"__pycache__", "examples", "test", "tests"})
SHEBANG = b"#!/usr/bin/env python3\n"
#: The oldest Python a site may run the bundle with.
MIN_PYTHON = (3, 9)
#: The earliest time a zip entry can carry (1980-01-01 00:00:00), used unless SOURCE_DATE_EPOCH.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ZIP_LATEST = (2107, 12, 31, 23, 59, 58)

#: Runs at the site: it must parse on old Pythons too, to say which Python it needs.
MAIN = """\
\"\"\"The one-file pps probe, built by 'pps probe-bundle'.

Run as check_preview_client (any name); run under a name containing 'gip-provider' (for example
a symlink /usr/local/bin/pps-gip-provider to this file), it is the GIP provider instead, and
under a name containing 'publication' (a symlink check_preview_publication) the publication
check.

Python compiles every module of a zip at every run (zipimport keeps no bytecode): some 50 ms a
run.  So the first run unpacks the bundle into a cache directory of the account running it
(/var/cache/pps for root, ~/.cache/pps otherwise, or $PPS_BUNDLE_CACHE), compiles it there, and
later runs import from it.  The cache is named by the bundle's size and the CRC-32 of its zip
directory (which holds the CRC-32 of every file in it), read from the end of the file: not the
whole file at every run.  The cache is used only if it belongs to that account and nobody
else can write it; anything unexpected and the bundle runs from the zip as it is.  The garbage
collector is off while the modules load (see probes/_entry.py).
\"\"\"
import gc

gc.disable()

import os
import sys

_GIP = "gip-provider" in os.path.basename(sys.argv[0])
_PUBLICATION = not _GIP and "publication" in os.path.basename(sys.argv[0])

if sys.version_info < %(min_python)r:
    sys.stderr.write(
        "%%s: needs Python >= %(min_text)s, this is %%s: run it with a newer python3\\n"
        %% (os.path.basename(sys.argv[0]), sys.version.split()[0])
    )
    sys.exit(1 if _GIP else 3)  # 3: UNKNOWN for Nagios


def _private(path):
    st = os.lstat(path)
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022 and os.path.isdir(path)


def _identity(bundle):
    \"\"\"(size, CRC-32 of the zip directory and its end record) of the bundle.\"\"\"
    import zlib

    with open(bundle, "rb") as f:
        size = f.seek(0, 2)
        end = 22  # the end-of-directory record, without a comment (the builder writes none)
        if size >= end:
            f.seek(size - end)
            record = f.read(end)
            if record[:4] == b"PK\\x05\\x06" and record[-2:] == b"\\x00\\x00":
                directory = int.from_bytes(record[12:16], "little")
                if directory + end <= size:
                    f.seek(size - end - directory)
                    return size, zlib.crc32(f.read(directory + end))
        f.seek(0)
        return size, zlib.crc32(f.read())


def _cached(bundle):
    size, crc = _identity(bundle)
    uid = os.geteuid()
    base = os.environ.get("PPS_BUNDLE_CACHE") or (
        "/var/cache/pps" if uid == 0 else os.path.join(os.path.expanduser("~"), ".cache", "pps")
    )
    name = "probe-%%d-%%08x-py%%d%%d" %% (size, crc, sys.version_info[0], sys.version_info[1])
    target = os.path.join(base, name)
    if os.path.isfile(os.path.join(target, ".complete")):
        return target if _private(base) and _private(target) else None
    import py_compile
    import shutil
    import tempfile
    import zipfile

    os.makedirs(base, mode=0o755, exist_ok=True)
    if not _private(base):
        return None
    work = tempfile.mkdtemp(prefix=".unpack-", dir=base)
    try:
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(work)
        for root, _dirs, files in os.walk(work):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
                if f.endswith(".py"):
                    path = os.path.join(root, f)
                    py_compile.compile(path, doraise=True)
        open(os.path.join(work, ".complete"), "w").close()
        try:
            os.rename(work, target)
        except OSError:  # another run was first
            pass
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)
    for old in os.listdir(base):  # keep the cache of this bundle, drop older ones
        if old.startswith("probe-") and old != name and old.endswith(name[-5:]):
            shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    return target if _private(target) else None


if os.path.isfile(sys.path[0]):
    try:
        _cache = _cached(sys.path[0])
    except Exception:  # no cache: run from the zip
        _cache = None
    if _cache:
        sys.path[0] = _cache
if _GIP:
    from probes.gip_provider import main as gip_main

    gc.freeze()
    gc.enable()
    sys.exit(gip_main())
elif _PUBLICATION:
    from probes.check_preview_publication import main as publication_main

    gc.freeze()
    gc.enable()
    publication_main()
else:
    from probes._entry import check_preview_client

    check_preview_client()
"""


class BundleError(PPSError):
    """The bundle cannot be built from this environment (a package to bundle is missing)."""


@dataclass(frozen=True)
class Bundle:
    """A written one-file probe."""

    path: Path
    size: int
    sha256: str
    #: The top-level packages it holds, sorted.
    packages: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256,
                "packages": list(self.packages)}  # fmt: skip


def _date_time() -> tuple[int, int, int, int, int, int]:
    """The time of every entry: SOURCE_DATE_EPOCH when set (kept within what zip can hold)."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not raw:
        return ZIP_EPOCH
    try:
        t = time.gmtime(int(raw))
    except (ValueError, OverflowError, OSError):
        raise BadInput(f"SOURCE_DATE_EPOCH {raw!r} is not a usable number of seconds") from None
    stamp = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return min(max(stamp, ZIP_EPOCH), _ZIP_LATEST)


def _missing(package: str) -> BundleError:
    why = {
        "tomli": "sites on Python 3.9/3.10 read TOML with it",
        "nagiosplugin": "the probe is a nagiosplugin check",
        "ldap3": "check_preview_publication reads the BDII with it",
        "pyasn1": "ldap3 needs it",
    }.get(package, "the probe runs from it")
    return BundleError(
        f"cannot build the one-file probe: {package} is not installed for {sys.executable} "
        f"({why}): pip install {package}, or reinstall pps"
    )


def package_files(package: str) -> Iterator[tuple[str, Path]]:
    """``(name in the archive, file)`` for every ``.py`` file and ``py.typed`` of *package*,
    found with :func:`importlib.util.find_spec` (which does not import a top-level package)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise _missing(package)
    if not spec.submodule_search_locations:
        raise BundleError(f"cannot build the one-file probe: {package} is a module, not a package")
    for location in spec.submodule_search_locations:
        root = Path(location)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or not (name.endswith(".py") or name == "py.typed"):
                    continue
                path = Path(dirpath) / name
                yield f"{package}/{path.relative_to(root).as_posix()}", path


def _entry(name: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, wherever it is built
    info.external_attr = (stat.S_IFREG | 0o644) << 16  # a regular file, rw-r--r--
    return info


def license_files(package: str) -> dict[str, bytes]:
    """``licenses/<package>/<file>`` for the licence files its distribution ships (the bundle
    redistributes nagiosplugin, ZPL 2.1, tomli, MIT, ldap3, LGPL 3, and pyasn1, BSD 2-clause,
    whose licences travel with copies)."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return {}  # pps itself, from a source tree: its licence is the project's
    found = {}
    for f in dist.files or ():
        if any(word in f.name.upper() for word in ("LICEN", "COPYING", "NOTICE")):
            found[f"licenses/{package}/{f.name}"] = Path(str(f.locate())).read_bytes()
    return found


def main_bytecode(source: bytes) -> bytes:
    """``__main__.pyc`` for *source*: compiled by this Python, as an unchecked hash-based pyc
    (PEP 552) in marshal format 2 (no references: the same bytes whatever this process holds)."""
    code = compile(source, "__main__.py", "exec", dont_inherit=True)
    unchecked_hash = (1).to_bytes(4, "little")
    return (
        importlib.util.MAGIC_NUMBER
        + unchecked_hash
        + importlib.util.source_hash(source)
        + marshal.dumps(code, 2)
    )


def bundle_bytes() -> bytes:
    """The bundle's content: the shebang line, then the zip."""
    main = MAIN % {"min_python": MIN_PYTHON, "min_text": ".".join(map(str, MIN_PYTHON))}
    entries = {"__main__.py": main.encode(), "__main__.pyc": main_bytecode(main.encode())}
    for package in BUNDLED:
        for name, path in package_files(package):
            entries[name] = path.read_bytes()
        if f"{package}/__init__.py" not in entries:  # e.g. a wheel of compiled modules only
            raise BundleError(f"cannot build the one-file probe: {package} has no Python sources")
        entries.update(license_files(package))
    date_time = _date_time()
    out = io.BytesIO()
    out.write(SHEBANG)
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(entries):
            zf.writestr(_entry(name, date_time), entries[name], compresslevel=9)
    return out.getvalue()


def build_probe_bundle(out: Path) -> Bundle:
    """Write the one-file probe to *out* (atomically, mode 0755) and describe it."""
    data = bundle_bytes()
    atomic_write(out, data, mode=0o755)
    return Bundle(Path(out), len(data), hashlib.sha256(data).hexdigest(), tuple(sorted(BUNDLED)))
