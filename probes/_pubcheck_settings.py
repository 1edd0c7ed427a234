"""check_preview_publication's command line: its options, its help, the site file's 'bdii'
key, and the settings of one run (:class:`Settings`).

The BDII URL goes through the core's one grammar (:func:`pps.publication.parse_ldap_url`,
``ldap://`` only and the port named); the rest of the site file is checked as the probe checks
it (:mod:`probes._siteconfig`)."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace as Namespace

from pps.errors import BadInput
from pps.names import check_site_name, check_subcluster
from pps.publication import parse_ldap_url
from probes import _options, _siteconfig
from probes._bdii import Query
from probes._options import Option
from probes._siteconfig import DEFAULT_PATH, DEFAULTS, SiteConfigError, check_values

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


PROG = "check_preview_publication"
DEFAULT_BDII = "ldap://localhost:2170"
DEFAULT_GRACE = 600
DEFAULT_TIMEOUT = 30.0
#: What --help says before the options (the module's docstring says why, for developers).
DESCRIPTION = """\
Check that this site's verified preview tags are in the BDII (Nagios plugin).

Runs at the site, like check_preview_client, and reads the same site file (/etc/pps/site.toml,
or --site-config; flags override it): what the site says comes from its state records
(<preview_root>/.pps/state/<component>/<version>.json) and its tags files
(<info_dir>/<subcluster>/<vo>/<vo>.list, and the legacy <info_dir>/<vo>/<vo>.list). It then asks
a BDII (--bdii, the site file's 'bdii', default the site BDII ldap://localhost:2170; anonymous)
for the subcluster's GlueHostApplicationSoftwareRunTimeEnvironment values (GLUE 1.3, under
o=grid) and its GLUE2ApplicationEnvironment entries (GLUE 2.0, under o=glue), and compares.

States: OK every verified tag is in the BDII (GLUE 1.3 and 2.0), or not yet but still within the
grace period; CRITICAL a verified version's tag is in neither after the grace period (jobs
cannot select it); WARNING a tag in the BDII for a version the site no longer has verified
(retired, broken, untested, no state record: stale) after the grace period, GLUE 1.3 and GLUE 2.0
disagreeing about a verified tag, or a state record or tags file that cannot be read; UNKNOWN
bad usage or site file, a BDII that cannot be reached or does not answer within the timeout, an
answer beyond the plugin's limits.  Perfdata: verified, published, pending, missing, stale."""


def _whole_seconds(text: str) -> int:
    if not text.isdigit() or int(text) > 10**7:
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return int(text)


def bdii_host_port(value: Any, what: str = "--bdii") -> tuple[str, int]:
    """``(host, port)`` of an ``ldap://HOST:PORT`` URL (the core's grammar,
    :func:`pps.publication.parse_ldap_url`; BadInput naming *what* otherwise)."""
    try:
        url = parse_ldap_url(value, schemes=("ldap",), port_required=True)
    except BadInput:
        shown = value[:100] if isinstance(value, str) else value
        raise BadInput(
            f"{what} {shown!r} is not ldap://HOST:PORT (a site BDII: {DEFAULT_BDII})"
        ) from None
    return url.host, url.port


OPTIONS = (
    Option(
        "site-config",
        f"The site file (TOML) check_preview_client reads (default: {DEFAULT_PATH}, used when "
        "it exists); its 'bdii' key names the BDII.",
        metavar="FILE",
    ),
    Option("no-site-config", "Read no site file: everything comes from the flags.", kind="flag"),
    Option(
        "bdii",
        f"The BDII to ask, ldap://HOST:PORT (default: the site file's 'bdii', else {DEFAULT_BDII},"
        " the site BDII).",
        metavar="URL",
    ),
    Option(
        "grace",
        "Seconds a tag may take to reach the BDII (and a withdrawn one to leave it) before it "
        f"counts: a BDII cycle plus slack (default {DEFAULT_GRACE}).",
        metavar="SECONDS",
        convert=_whole_seconds,
        default=DEFAULT_GRACE,
    ),
    Option(
        "preview-root",
        f"The preview root whose state records say what is verified (default "
        f"{DEFAULTS['preview_root']}).",
        metavar="DIR",
    ),
    Option(
        "info-dir",
        f"The information directory holding the tags files (default {DEFAULTS['info_dir']}).",
        metavar="DIR",
    ),
    Option("subcluster", "The GlueSubClusterUniqueID whose tags are checked.", metavar="ID"),
    Option("site", "The site's name (GOCDB), shown in the status line.", metavar="NAME"),
    _options.timeout_option(
        f"Give up with UNKNOWN after this many seconds (default {DEFAULT_TIMEOUT:g}): the "
        "connection and every read from the BDII are bounded by it.",
        DEFAULT_TIMEOUT,
    ),
    _options.verbose_option("Say more: every tag and where it is with -v."),
)
EPILOG = (
    "--bdii, --preview-root, --info-dir, --subcluster and --site have keys of the same name in "
    "the site file (dashes as underscores); a flag given here wins over the file."
)


def help_text() -> str:
    """What --help prints."""
    return _options.help_text(PROG, DESCRIPTION, OPTIONS, EPILOG)


class Settings:
    """What one run checks."""

    def __init__(self, **values: Any) -> None:
        self.preview_root: str = values["preview_root"]
        self.info_dir: str = values["info_dir"]
        self.subcluster: str = values["subcluster"]
        self.site: str = values.get("site", "")
        self.bdii: str = values["bdii"]
        self.host, self.port = bdii_host_port(self.bdii)
        self.grace: int = values["grace"]
        self.timeout: float = values["timeout"]
        self.deadline: float = values["deadline"]
        glue = values.get("glue") or {}
        #: The ComputingManager IDs the subcluster's GLUE 2.0 entries may name.
        self.managers: tuple[str, ...] = tuple(
            dict.fromkeys(
                [*([glue["manager_id"]] if glue.get("manager_id") else []),
                 f"{self.subcluster}_ComputingElement_Manager", f"{self.subcluster}_Manager"]
            )
        )  # fmt: skip

    @property
    def query(self) -> Query:
        """What the run asks the BDII."""
        return Query(
            self.bdii,
            self.host,
            self.port,
            self.subcluster,
            self.managers,
            self.deadline,
            self.timeout,
        )


def read_site_file(path: str) -> dict[str, Any]:
    """The checked values of the site file at *path*, its 'bdii' key included (the probe's
    reader checks the rest; SiteConfigError naming the problem)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise SiteConfigError(f"cannot read the site file {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SiteConfigError(f"the site file {path} is not a regular file")
        raw = f.read(_siteconfig.MAX_FILE_BYTES + 1)
    if len(raw) > _siteconfig.MAX_FILE_BYTES:
        raise SiteConfigError(
            f"the site file {path} is larger than {_siteconfig.MAX_FILE_BYTES} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SiteConfigError(f"the site file {path} is not UTF-8 text") from None
    try:
        data = _siteconfig._toml_loads(text)
        bdii = data.pop("bdii", None)
        values = check_values(data)
        if bdii is not None:
            try:
                bdii_host_port(bdii, "'bdii'")
            except BadInput as e:
                raise SiteConfigError(str(e)) from None
            values["bdii"] = bdii
    except SiteConfigError as e:
        raise SiteConfigError(f"site file {path}: {e}") from None
    return values


def build_settings(args: Namespace, started: float) -> Settings:
    """The settings of the command line *args* and the site file it names (or the default)."""
    if args.no_site_config and args.site_config:
        raise BadInput("--site-config and --no-site-config exclude each other")
    path = args.site_config or DEFAULT_PATH
    have_file = not args.no_site_config and (args.site_config is not None or os.path.exists(path))
    from_file = read_site_file(path) if have_file else {}
    flags = {k: getattr(args, k) for k in ("preview_root", "info_dir", "subcluster", "site")
             if getattr(args, k) is not None}  # fmt: skip
    values: dict[str, Any] = {"bdii": DEFAULT_BDII, **DEFAULTS, **from_file}
    values.update(check_values(flags, flags=True))
    if args.bdii is not None:
        bdii_host_port(args.bdii)
        values["bdii"] = args.bdii
    if "subcluster" not in values:
        why = f"the site file {path} has no 'subcluster'"
        if not have_file:
            why = "--no-site-config" if args.no_site_config else f"no site file at {path}"
        raise BadInput(f"--subcluster is needed ({why})")
    check_subcluster(values["subcluster"])
    if values.get("site"):
        check_site_name(values["site"])
    return Settings(
        **values, grace=args.grace, timeout=args.timeout, deadline=started + args.timeout * 0.9
    )
