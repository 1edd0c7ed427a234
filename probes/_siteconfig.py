"""The site file: one description of the site that every probe run reads, push or Nagios.

``/etc/pps/site.toml`` (``--site-config FILE``), written by the site admin::

    site = "INFN-PISA"                      # GOCDB name (the GIP provider publishes it)
    vos = ["dteam", "ops"]                  # the VOs this site tags previews for
    subcluster = "ce01.pi.infn.it"          # GlueSubClusterUniqueID
    cluster = "ce01.pi.infn.it"             # GlueClusterUniqueID (default: the subcluster)
    preview_root = "/opt/pps/preview"       # previews go here, beside production
    info_dir = "/opt/glite/var/info"        # the tags files
    profile_d = "/etc/profile.d"            # the production environment previews inherit
    config_hook = "/opt/pps/preview/hooks/configure"  # non backward compatible clients
    repository = "https://pps.example.org/repo"       # pull mode (Nagios); a push names its own
    public_key = "ed25519:..."              # pins the repository's index signature
    test_user = "nobody"                    # who runs the local tests when the probe is root
    max_release_bytes = 2147483648          # refuse larger tarballs (default 2 GiB)
    max_unpacked_bytes = 8589934592         # refuse tarballs unpacking to more (default 8 GiB)
    retire_grace = 86400                    # seconds a retired tree is kept (default 1 day)
    skip = ["glite-UI 3.2.8-0"]             # versions this site opts out of: never installed
                                            # or tagged here (retired if they were)
    publish = ["tags", "arc-rte", "condor"] # where a verified version is announced (default
                                            # ["tags"]; probes/_publish.py)
    arc_conf = "/etc/arc.conf"              # arc-rte: A-REX's configuration (runtimedir,
                                            # controldir), and arcctl -c uses it
    arcctl = "/usr/sbin/arcctl"             # arc-rte: ARC's control tool
    arc_runtimedir = "/etc/arc/rte"         # arc-rte: which [arex] runtimedir (default: the first)
    condor_config = "/etc/condor/config.d/55-pps-rte.conf"  # condor: the snippet pps writes
    condor_reconfig = "/usr/sbin/condor_reconfig"  # condor: run after a change ("": never)

    [glue]                                  # what pps-gip-provider publishes beyond the tags
    manager_id = "ce01.pi.infn.it_ComputingElement_Manager"  # GLUE 2.0 ComputingManager
    validity = 3600                         # GLUE2EntityValidity, seconds
    glue2_parent = "GLUE2GroupID=resource,o=glue"  # the DN the ApplicationEnvironments go under
    publish_cluster = false                 # provider mode: also the GlueCluster entry
    physical_cpus = 0                       # ... and the SubCluster's values: see GLUE_KEYS

Command-line flags override the file (for tests and one-off runs).  The file is strict: an
unknown key, a value of the wrong type or a dangerous path is one line naming it, and the probe
then changes nothing (UNKNOWN).  Imported on every run: standard library only, TOML parsed with
``tomllib`` (``tomli`` before Python 3.11) through :mod:`pps.tomlfile`, which bounds how deep
the file may nest.
"""

from __future__ import annotations

import os
import re

from pps.errors import BadInput
from pps.names import check_component, check_site_name, check_subcluster, check_version, check_vo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/etc/pps/site.toml"
#: A site file larger than this is not a site file.
MAX_FILE_BYTES = 1 << 20

PUBLIC_KEY_PREFIX = "ed25519:"

DEFAULTS: dict[str, Any] = {
    "preview_root": "/opt/pps/preview",
    "info_dir": "/opt/glite/var/info",
    "profile_d": "/etc/profile.d",
    "test_user": "nobody",
    "max_release_bytes": 2 << 30,
    "max_unpacked_bytes": 8 << 30,
    "retire_grace": 86400,
}

#: Directories that are never a preview root (nor the tags' info dir): the probe would create
#: version trees among the system's own files.
SYSTEM_DIRS = frozenset(
    """/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run
    /sbin /srv /sys /tmp /usr /var /usr/bin /usr/sbin /usr/lib /usr/lib32 /usr/lib64 /usr/libx32
    /usr/libexec /usr/include /usr/share /usr/src /usr/local /usr/local/bin /usr/local/sbin
    /usr/local/lib /usr/local/share /usr/local/etc /var/lib /var/log /var/tmp /var/cache
    /var/spool /var/run /var/opt /var/mail /var/www /var/local /etc/profile.d /etc/pps /opt/glite
    /etc/grid-security""".split()
)

#: The ``[glue]`` table (read by the GIP provider; the probe only checks it): the GLUE values of
#: the subcluster beyond its tags.  Defaults: ``pps.glue.SubClusterInfo`` and the provider.
GLUE_INTS = ("physical_cpus", "logical_cpus", "smp_size", "processor_clock_speed", "ram_size",
             "virtual_size", "benchmark_si00", "benchmark_sf00", "validity")  # fmt: skip
GLUE_BOOLS = ("inbound_ip", "outbound_ip", "publish_cluster")
GLUE_STRINGS = ("subcluster_name", "platform_type", "os_name", "os_release", "os_version",
                "processor_vendor", "processor_model", "info_service_url", "manager_id",
                "glue2_parent")  # fmt: skip
GLUE_PATHS = ("wn_tmp_dir", "tmp_dir")
GLUE_KEYS = frozenset((*GLUE_INTS, *GLUE_BOOLS, *GLUE_STRINGS, *GLUE_PATHS))
#: GLUE 1.3 integers are 32-bit (Int32).
_INT32_MAX = (1 << 31) - 1

_PATHS = ("preview_root", "info_dir", "profile_d", "config_hook", "arc_conf", "arcctl",
          "arc_runtimedir", "condor_config")  # fmt: skip
_STRINGS = ("site", "subcluster", "cluster", "repository", "public_key", "test_user", "bdii")
_SIZES = ("max_release_bytes", "max_unpacked_bytes")
#: Where a verified version can be announced (:mod:`probes._publish`), in the order of a run.
PUBLISH_KINDS = ("tags", "arc-rte", "condor")
KEYS = frozenset(("vos", "retire_grace", "glue", "skip", "publish", "condor_reconfig", *_PATHS,
                  *_STRINGS, *_SIZES))  # fmt: skip
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z")


class SiteConfigError(BadInput):
    """The site file (or a flag) is wrong; the probe changes nothing."""


def _toml_loads(text: str) -> dict[str, Any]:
    # Imported here, as the parser is: a steady-state run reads the values from its cache.
    from pps.tomlfile import TomlError, loads

    try:
        return loads(text)
    except TomlError as e:
        raise SiteConfigError(str(e)) from None


def read_site_file(path: str) -> dict[str, Any]:
    """The checked values of the site file at *path* (SiteConfigError naming the problem)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except PermissionError:
        from probes._denied import read_line

        raise SiteConfigError(read_line(os.path.abspath(path), "the site file")) from None
    except OSError as e:
        raise SiteConfigError(f"cannot read the site file {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        if not _is_regular(f.fileno()):
            raise SiteConfigError(f"the site file {path} is not a regular file")
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise SiteConfigError(f"the site file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SiteConfigError(f"the site file {path} is not UTF-8 text") from None
    cached = _cached_values(path, text)
    if cached is not None:
        return cached
    try:
        values = check_values(_toml_loads(text))
    except SiteConfigError as e:
        raise SiteConfigError(f"site file {path}: {e}") from None
    _remember(path, text, values)
    return values


# The TOML parser (with the typing and datetime modules it imports) costs a steady-state run some
# 8 ms, for a file that hardly ever changes.  So the checked values are kept in a private cache
# (the account's own directory, which nobody else can write), with the exact text they came from:
# the next run parses only when the text differs.

CACHE_FORMAT = "pps-site-config-cache/1"


def cache_dir() -> str:
    """``$PPS_CACHE_DIR``, else ``/var/cache/pps`` for root, ``~/.cache/pps`` otherwise."""
    return os.environ.get("PPS_CACHE_DIR") or (
        "/var/cache/pps" if os.geteuid() == 0 else os.path.expanduser("~/.cache/pps")
    )


def _cache_file(path: str) -> str:
    import zlib

    name = zlib.crc32(os.path.abspath(path).encode()) & 0xFFFFFFFF
    return os.path.join(cache_dir(), f"site-config-{name:08x}.json")


def _private(path: str) -> bool:
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    mine = st.st_uid == os.geteuid() and not st.st_mode & 0o022
    return mine and (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode))


def _cached_values(path: str, text: str) -> dict[str, Any] | None:
    cache = _cache_file(path)
    if not (_private(os.path.dirname(cache)) and _private(cache)):
        return None
    import json

    try:
        with open(cache, "rb") as f:
            data = json.load(f)
        if data.get("format") != CACHE_FORMAT or data.get("source") != text:
            return None
        values: dict[str, Any] = data["values"]
    except (OSError, ValueError, KeyError, AttributeError, RecursionError):
        return None
    for key in ("vos", "skip", "publish"):
        if key in values:
            values[key] = tuple(values[key])
    return values


def _remember(path: str, text: str, values: dict[str, Any]) -> None:
    import json

    from pps.fsutil import atomic_write

    directory = cache_dir()
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if not _private(directory):
            return
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        data = {"format": CACHE_FORMAT, "path": os.path.abspath(path), "source": text,
                "values": plain}  # fmt: skip
        atomic_write(_cache_file(path), json.dumps(data).encode(), mode=0o644)
    except OSError:
        pass  # no cache: the next run parses again


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def check_values(data: dict[str, Any], *, flags: bool = False) -> dict[str, Any]:
    """Type-check site settings (from the file, or from flags given under the same names: then
    messages name the flag)."""
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise SiteConfigError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    if flags:
        try:
            return check_values(data)
        except SiteConfigError as e:
            text = str(e)
            for key in data:
                flag = "--vo" if key == "vos" else "--" + key.replace("_", "-")
                text = text.replace(f"{key!r}: ", f"{flag}: ").replace(f"{key!r} ", f"{flag} ")
            raise SiteConfigError(text) from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "vos":
            if not isinstance(value, list) or not value:
                raise SiteConfigError(f"'vos' must be a non-empty list of VO names, got {value!r}")
            out[key] = tuple(dict.fromkeys(_checked(check_vo, "vos", v) for v in value))
        elif key in _PATHS:
            out[key] = check_path(key, value)
        elif key in _SIZES:
            out[key] = _int(key, value, minimum=1)
        elif key == "retire_grace":
            out[key] = _int(key, value, minimum=0)
        elif key == "glue":
            out[key] = check_glue(value)
        elif key == "skip":
            out[key] = check_skip(value)
        elif key == "publish":
            out[key] = check_publish(value)
        elif key == "condor_reconfig":
            out[key] = "" if value == "" else check_path(key, value)
        else:
            out[key] = _string(key, value)
    return out


def check_publish(value: Any) -> tuple[str, ...]:
    """Where a verified version is announced: known kinds, each once, in the order a run calls
    them (:data:`PUBLISH_KINDS`)."""
    if not isinstance(value, list) or not value:
        kinds = ", ".join(map(repr, PUBLISH_KINDS))
        raise SiteConfigError(f"'publish' must be a non-empty list of {kinds}, got {value!r}")
    for kind in value:
        if kind not in PUBLISH_KINDS:
            raise SiteConfigError(
                f"'publish' entry {kind!r} is not a publisher (known: {', '.join(PUBLISH_KINDS)})"
            )
    return tuple(k for k in PUBLISH_KINDS if k in value)


def check_skip(value: Any) -> tuple[str, ...]:
    """The versions a site opts out of: ``"COMPONENT VERSION"`` each, as the probe's status
    lines and Nagios's services name them."""
    if not isinstance(value, list):
        raise SiteConfigError(f"'skip' must be a list of \"COMPONENT VERSION\", got {value!r}")
    out = []
    for entry in value:
        parts = entry.split(" ") if isinstance(entry, str) else []
        if len(parts) != 2:
            raise SiteConfigError(
                f"'skip' entries are \"COMPONENT VERSION\" (one space between, e.g. "
                f'"glite-UI 3.2.8-0"), got {entry!r}'
            )
        component = _checked(check_component, "skip", parts[0])
        version = _checked(check_version, "skip", parts[1])
        out.append(f"{component} {version}")
    return tuple(dict.fromkeys(out))


def check_glue(table: Any) -> dict[str, Any]:
    """The checked ``[glue]`` table: GLUE 1.3 strings are IA5 (ASCII), integers Int32."""
    if not isinstance(table, dict):
        raise SiteConfigError(f"'glue' must be a table ([glue]), got {table!r}")
    unknown = sorted(set(table) - GLUE_KEYS)
    if unknown:
        raise SiteConfigError(
            f"unknown key 'glue.{unknown[0]}' (known: {', '.join(sorted(GLUE_KEYS))})"
        )
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"glue.{key}"
        if key in GLUE_INTS:
            value = _int(name, value, minimum=1 if key == "validity" else 0)
            if value > _INT32_MAX:
                raise SiteConfigError(f"{name!r} must be at most {_INT32_MAX}, got {value!r}")
        elif key in GLUE_BOOLS:
            if not isinstance(value, bool):
                raise SiteConfigError(f"{name!r} must be true or false, got {value!r}")
        else:
            value = _glue_string(name, value)
            if key in GLUE_PATHS and not value.startswith("/"):
                raise SiteConfigError(f"{name!r} must be an absolute path, got {value!r}")
            if key == "manager_id" and " " in value:
                raise SiteConfigError(f"{name!r} must be an ID without spaces, got {value!r}")
            if key == "glue2_parent" and not re.search(r",\s*o=glue\Z", value, re.IGNORECASE):
                raise SiteConfigError(
                    f"{name!r} must be a DN under o=glue (e.g. GLUE2GroupID=resource,o=glue), "
                    f"got {value!r}"
                )
        out[key] = value
    return out


def _glue_string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SiteConfigError(f"{name!r} must be a non-empty string, got {value!r}")
    if not all(" " <= c <= "~" for c in value) or value != value.strip():
        raise SiteConfigError(
            f"{name!r} must be printable ASCII without leading or trailing spaces (GLUE 1.3 "
            f"values are IA5 strings), got {value!r}"
        )
    if "dn:" in value:
        raise SiteConfigError(f"{name!r} must not contain 'dn:' (bdii-update would take it "
                              f"for the start of an entry), got {value!r}")  # fmt: skip
    return value


def _checked(check: Any, key: str, value: Any) -> Any:
    try:
        return check(value)
    except BadInput as e:
        raise SiteConfigError(f"{key!r}: {e}") from None


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SiteConfigError(f"{key!r} must be a whole number >= {minimum}, got {value!r}")
    return value


def check_path(key: str, value: Any) -> str:
    """An absolute, normalised path without ``..`` (a path the site admin means literally)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise SiteConfigError(f"{key!r} must be an absolute path, got {value!r}")
    if "\0" in value or any(p == ".." for p in value.split("/")):
        raise SiteConfigError(f"{key!r} {value!r} must not contain '..' or NUL")
    return os.path.normpath(value) if value != "/" else value


def _check_bdii(value: str) -> None:
    """The site file's 'bdii': ``ldap://HOST:PORT`` by :func:`pps.publication.parse_ldap_url`."""
    # imported here: pps.publication is the operator's reader too, and only a site file naming a
    # BDII needs it (a run reads the checked values from its cache): not on the probe's path
    from pps.publication import parse_ldap_url

    try:
        parse_ldap_url(value, schemes=("ldap",), port_required=True)
    except BadInput:
        raise SiteConfigError(f"'bdii' {value!r} is not ldap://HOST:PORT") from None


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SiteConfigError(f"{key!r} must be a non-empty string, got {value!r}")
    if key == "site":
        return _checked(check_site_name, key, value)
    if key in ("subcluster", "cluster"):
        return _checked(lambda v: check_subcluster(v, key), key, value)
    if key == "test_user" and not _USER_RE.match(value):
        raise SiteConfigError(f"'test_user' {value!r} is not a user name")
    if key == "public_key":
        public_key_bytes(value)
    if key == "bdii":
        # read by check_preview_publication; checked here too, by the same grammar (the
        # core's), so that every probe agrees
        _check_bdii(value)
    if key == "repository" and not value.startswith(("/", "http://", "https://")):
        raise SiteConfigError(
            f"'repository' {value!r} must be an absolute directory or an http(s) URL"
        )
    return value


def public_key_bytes(value: str) -> bytes:
    """The 32 raw bytes of an ``ed25519:BASE64`` public key."""
    import base64

    raw = b""
    if value.startswith(PUBLIC_KEY_PREFIX):
        try:
            raw = base64.b64decode(value[len(PUBLIC_KEY_PREFIX) :], validate=True)
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise SiteConfigError(
            f"'public_key' {value[:60]!r} is not an Ed25519 public key "
            f"('{PUBLIC_KEY_PREFIX}' and 32 bytes in base64, as 'pps repo keygen' prints it)"
        )
    return raw


def _inside(path: str, root: str) -> bool:
    """Whether *path* is *root* or below it."""
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def check_layout(values: dict[str, Any]) -> None:
    """Refuse a preview root (or info dir) where installing or tagging could harm the site."""
    root = values["preview_root"]
    info = values["info_dir"]
    for what, path in (("preview_root", root), ("info_dir", info)):
        for candidate in {path, os.path.realpath(path)}:
            if candidate in SYSTEM_DIRS:
                raise SiteConfigError(
                    f"{what} {path!r} is a system directory"
                    + (f" ({candidate})" if candidate != path else "")
                    + ": give a directory of its own, e.g. /opt/pps/preview"
                )
    real_root = os.path.realpath(root)
    for what in ("info_dir", "profile_d"):
        other = values[what]
        for r, o in ((root, other), (real_root, os.path.realpath(other))):
            if _inside(o, r):
                raise SiteConfigError(
                    f"preview_root {root!r} holds {what} {other!r}: the preview root must be a "
                    "directory of its own"
                )
