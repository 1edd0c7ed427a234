"""The site inventory and the rest of ``pps.toml``.

Strict on purpose: an unknown key, a missing field or a bad value is one line naming it, before
anything is written.  Relative paths are relative to the directory of the config file, so a
config can be moved with the tree it describes.

Format (see README "Configuration")::

    [repository]
    path = "repo"                       # where releases are built (required)
    url = "https://pps.example.org/repo" # where pull-mode sites fetch from (optional; a directory:
                                         # no query, fragment or user; or an absolute path)
    signing_key = "keys/repo.pem"        # signs index.json (optional; pps repo keygen)
    [infosys]
    url = "ldap://bdii.example.org:2170" # optional; default: the sites' own GIP output
    timeout = 30                         # seconds for a whole BDII read, connect included
    max_values = 200000                  # attribute values a BDII read may return
    [state]
    path = "pps-state.sqlite"           # optional; the outcome records
    [[sites]]
    name = "INFN-PISA"
    partner = "silver"                   # none | silver | gold | platinum
    vos = ["dteam", "ops"]
    transport = "local"                  # local | ssh
    kind = "glite"                       # glite | arc (an ARC-CE) | condor (an HTCondor pool)
    root = "sites/INFN-PISA"             # local: the directory standing for the site's /
    host = "ui.pi.infn.it"  port = 22  user = "pps"  identity = "..."  known_hosts = "..."  # ssh
    subcluster = "ce01.pi.infn.it"
    preview_root = "/opt/pps/preview"    # paths at the site
    info_dir = "/opt/glite/var/info"
    profile_d = "/etc/profile.d"
    early_adopter = ["glite-UI"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pps import tomlfile
from pps.classes import PartnerClass, UpdateClass, targets
from pps.confine import check_host, check_repository_url
from pps.errors import BadInput, ConfigError
from pps.names import check_component, check_site_name, check_subcluster, check_vo
from pps.settings import (
    CALENDAR_KEYS,
    NOTIFY_KEYS,
    CalendarSettings,
    NotifySettings,
    parse_calendar,
    parse_notify,
)

TRANSPORTS = ("local", "ssh")
#: What a site runs, and so where its probe publishes a preview and how it is read back:
#: ``glite`` (tags files, GLUE 1.3 and 2.0 from the GIP provider), ``arc`` (an ARC-CE: A-REX's
#: RunTimeEnvironments, GLUE 2.0 ApplicationEnvironments ``ENV/PPS/...``), ``condor`` (an
#: HTCondor pool: the machine attribute ``PPS_RTE``, published with the GLUE tags).
SITE_KINDS = ("glite", "arc", "condor")
_SITE_COMMON = {
    "name",
    "partner",
    "vos",
    "transport",
    "kind",
    "subcluster",
    "cluster",
    "preview_root",
    "info_dir",
    "profile_d",
    "site_config",
    "early_adopter",
}
_SITE_LOCAL = {"root"}
_SITE_SSH = {"host", "port", "user", "identity", "known_hosts", "python", "connect_timeout"}
_SECTIONS = {
    "repository": {"path", "url", "signing_key"},
    "infosys": {"url", "timeout", "max_values"},
    "state": {"path"},
    "calendar": CALENDAR_KEYS,
    "notify": NOTIFY_KEYS,
}


@dataclass(frozen=True)
class Site:
    """A partner site and how to reach it."""

    name: str
    partner: PartnerClass
    vos: tuple[str, ...]
    transport: str
    subcluster: str
    cluster: str = ""
    #: One of :data:`SITE_KINDS`.
    kind: str = "glite"
    preview_root: str = "/opt/pps/preview"
    info_dir: str = "/opt/glite/var/info"
    profile_d: str = "/etc/profile.d"
    #: The site's own site file: when it exists, a push runs the probe with it.
    site_config: str = "/etc/pps/site.toml"
    early_adopter: tuple[str, ...] = ()
    #: local transport: the directory that stands for the site's ``/``.
    root: Path | None = None
    host: str = ""
    port: int = 22
    user: str = ""
    identity: Path | None = None
    known_hosts: Path | None = None
    #: ssh: the site's Python (>= 3.9) that runs the one-file probe.
    python: str = "python3"
    #: ssh: seconds to connect, to get the server's banner, and to authenticate.
    connect_timeout: float = 15.0

    @property
    def cluster_id(self) -> str:
        return self.cluster or self.subcluster

    def takes(self, update_class: UpdateClass) -> bool:
        """Whether this site is a target of releases of *update_class*."""
        return targets(update_class, self.partner)


@dataclass(frozen=True)
class Config:
    """A loaded ``pps.toml``."""

    path: Path
    repository: Path
    repository_url: str = ""
    #: The Ed25519 private key that signs ``index.json`` (None: the index is not signed).
    signing_key: Path | None = None
    #: The BDII to read (``ldap://HOST:PORT``); "": each site's own GIP output.
    infosys_url: str = ""
    #: Seconds a whole BDII read may take, connect included.
    infosys_timeout: float = 30.0
    #: Attribute values a BDII read may return before it stops.
    infosys_max_values: int = 200_000
    state_path: Path | None = None
    sites: tuple[Site, ...] = field(default_factory=tuple)
    #: [calendar]: the working days of the staged-rollout clocks (pps.settings).
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    #: [notify]: the SMTP server and lists (None: mail waits in the store's queue).
    notify: NotifySettings | None = None

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sites) or "none"
        raise ConfigError(f"no site {name!r} in {self.path} (sites: {known})")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return tomlfile.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist (give --config or set PPS_CONFIG)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory: name the pps.toml in it") from None
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomlfile.TomlError as e:
        raise ConfigError(f"{path}: {e}") from None


def _str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _seconds(where: str, value: Any, key: str = "connect_timeout") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise ConfigError(f"{where}: {key!r} must be seconds in (0, 3600], got {value!r}")
    return float(value)


def _infosys(where: str, table: dict[str, Any]) -> dict[str, Any]:
    """The ``[infosys]`` settings as Config fields; the URL must be ``ldap[s]://HOST[:PORT]``."""
    from pps.publication import parse_ldap_url

    found: dict[str, Any] = {}
    if "url" in table:
        try:
            found["infosys_url"] = parse_ldap_url(table["url"]).url
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if "timeout" in table:
        found["infosys_timeout"] = _seconds(where, table["timeout"], "timeout")
    if "max_values" in table:
        n = table["max_values"]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= 100_000_000:
            raise ConfigError(f"{where}: 'max_values' must be a count in [1, 100000000], got {n!r}")
        found["infosys_max_values"] = n
    return found


def _site_path(where: str, key: str, value: Any) -> str:
    v = _str(where, key, value)
    if not PurePosixPath(v).is_absolute() or ".." in PurePosixPath(v).parts:
        raise ConfigError(f"{where}: {key!r} must be an absolute path at the site, got {v!r}")
    return v


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a ``pps.toml``; raise ConfigError naming the first problem."""
    path = Path(path)
    data = _load_toml(path)
    base = path.parent.resolve()

    def local_path(v: str) -> Path:
        p = Path(os.path.expanduser(v))
        return p if p.is_absolute() else base / p

    unknown = set(data) - set(_SECTIONS) - {"sites"}
    if unknown:
        raise ConfigError(f"{path}: unknown section {sorted(unknown)[0]!r}")
    for section, keys in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        extra = set(table) - keys
        if extra:
            raise ConfigError(f"{path}: unknown key {sorted(extra)[0]!r} in [{section}]")
    repo = data.get("repository", {})
    if "path" not in repo:
        raise ConfigError(f"{path}: [repository] needs 'path'")
    state = data.get("state", {})

    raw_sites = data.get("sites", [])
    if not isinstance(raw_sites, list):
        raise ConfigError(f"{path}: 'sites' must be an array of tables ([[sites]])")
    sites: list[Site] = []
    for i, raw in enumerate(raw_sites):
        sites.append(_parse_site(f"{path}: sites[{i}]", raw, local_path))
    names = [s.name for s in sites]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: site {dupes[0]!r} is listed twice")
    repository = local_path(_str(f"{path}: [repository]", "path", repo["path"]))
    if repository.exists() and not repository.is_dir():
        raise ConfigError(f"{path}: [repository] path {repository} is a file, not a directory")
    try:
        url = check_repository_url(repo["url"]) if "url" in repo else ""
    except BadInput as e:
        raise ConfigError(f"{path}: {e}") from None
    return Config(
        path=path,
        repository=repository,
        repository_url=url,
        signing_key=local_path(_str(f"{path}: [repository]", "signing_key", repo["signing_key"]))
        if "signing_key" in repo
        else None,
        **_infosys(f"{path}: [infosys]", data.get("infosys", {})),
        state_path=local_path(_str(f"{path}: [state]", "path", state["path"]))
        if "path" in state
        else base / "pps-state.sqlite",
        sites=tuple(sites),
        calendar=parse_calendar(f"{path}: [calendar]", data.get("calendar", {})),
        notify=parse_notify(f"{path}: [notify]", data.get("notify"), local_path),
    )


def _parse_site(where: str, raw: Any, local_path: Any) -> Site:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    if "name" in raw:
        try:
            where = f"{where.rsplit(':', 1)[0]}: site {check_site_name(raw['name'])!r}"
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    for key in ("name", "partner", "vos", "transport", "subcluster"):
        if key not in raw:
            raise ConfigError(f"{where} is missing the field {key!r}")
    transport = raw["transport"]
    if transport not in TRANSPORTS:
        raise ConfigError(f"{where}: transport {transport!r} is not one of: local, ssh")
    allowed = _SITE_COMMON | (_SITE_LOCAL if transport == "local" else _SITE_SSH)
    extra = set(raw) - allowed
    if extra:
        key = sorted(extra)[0]
        hint = f" (not used with transport {transport!r})" if key in _SITE_LOCAL | _SITE_SSH else ""
        raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    needed = ("root",) if transport == "local" else ("host", "user", "known_hosts")
    for key in needed:
        if key not in raw:
            raise ConfigError(f"{where} is missing the field {key!r} (transport {transport!r})")
    try:
        partner = PartnerClass.parse(raw["partner"])
        vos = raw["vos"]
        if not isinstance(vos, list) or not vos:
            raise ConfigError(f"{where}: 'vos' must be a non-empty list of VO names")
        vos = tuple(check_vo(v) for v in vos)
        ea = raw.get("early_adopter", [])
        if not isinstance(ea, list):
            raise ConfigError(f"{where}: 'early_adopter' must be a list of components")
        port = raw.get("port", 22)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{where}: port {port!r} is not a TCP port")
        kwargs: dict[str, Any] = dict(
            name=raw["name"],
            partner=partner,
            vos=vos,
            transport=transport,
            subcluster=check_subcluster(raw["subcluster"]),
            cluster=check_subcluster(raw["cluster"], "cluster") if "cluster" in raw else "",
            early_adopter=tuple(check_component(c) for c in ea),
        )
        if "kind" in raw:
            kind = raw["kind"]
            if not isinstance(kind, str) or kind not in SITE_KINDS:
                raise ConfigError(
                    f"{where}: 'kind' must be one of {', '.join(SITE_KINDS)}, got {kind!r}"
                )
            kwargs["kind"] = kind
        for key in ("preview_root", "info_dir", "profile_d", "site_config"):
            if key in raw:
                kwargs[key] = _site_path(where, key, raw[key])
        if transport == "local":
            kwargs["root"] = local_path(_str(where, "root", raw["root"]))
        else:
            kwargs.update(
                host=check_host(raw["host"]),
                port=port,
                user=_str(where, "user", raw["user"]),
                identity=local_path(_str(where, "identity", raw["identity"]))
                if "identity" in raw
                else None,
                known_hosts=local_path(_str(where, "known_hosts", raw["known_hosts"])),
                python=_str(where, "python", raw.get("python", "python3")),
                connect_timeout=_seconds(where, raw.get("connect_timeout", 15.0)),
            )
        return Site(**kwargs)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
