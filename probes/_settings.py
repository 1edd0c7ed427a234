"""The probe's settings: its options, and the request they make with the site file.

Every option but ``--component``, ``--version``, ``--cleanup``, ``--uninstall``, ``--timeout`` and
``-v`` has a key of the same name in the site file; a flag given on the command line wins over
the file.  Some keys have no flag (``public_key``, ``skip``, the size limits).
"""

from __future__ import annotations

from pathlib import Path

from pps.errors import BadInput
from probes import _options
from probes._options import Option
from probes._run import Request
from probes._siteconfig import DEFAULT_PATH, DEFAULTS, check_layout, check_values, read_site_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import SimpleNamespace
    from typing import Any

#: Below Nagios's own check timeout (service_check_timeout, 60 s by default), as
#: ``distributor/nagios.py`` writes it; a push passes a longer one of its own.
DEFAULT_TIMEOUT = 50.0


def _whole_seconds(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return int(text)


OPTIONS = (
    Option(
        "site-config",
        f"The site file (TOML) every run reads, push or Nagios (default: {DEFAULT_PATH}, used "
        "when it exists).",
        metavar="FILE",
    ),
    Option(
        "no-site-config",
        "Read no site file: everything comes from the flags (a push to a site without one "
        "does this).",
        kind="flag",
    ),
    Option("component", "The component to converge, e.g. glite-UI.", metavar="COMPONENT"),
    Option("version", "The version of the component, e.g. 3.2.8-0.", metavar="VERSION"),
    Option(
        "cleanup",
        "Instead of one version: retire every installed version the repository no longer "
        "lists as a preview (tags withdrawn now, trees removed after the grace period).",
        kind="flag",
    ),
    Option(
        "uninstall",
        "Take pps off this site instead (remove its Nagios services first): withdraw every pps "
        "tag from the subcluster's tags files, remove every tree pps installed (unless in use) "
        "and what it keeps under <preview-root>/.pps; needs no repository.",
        kind="flag",
    ),
    Option(
        "repository",
        "The repository to read index.json and the tarball from: a directory, or an https URL "
        "of the same layout (plain http only with a pinned public_key).",
        metavar="PATH_OR_URL",
    ),
    Option(
        "push-stream",
        "The tarball comes on standard input from the push that runs this probe (asked for on "
        "standard error, resumed when cut); --repository names the push's incoming directory.",
        kind="flag",
    ),
    Option(
        "preview-root",
        "The directory preview versions are installed under, beside production (default "
        f"{DEFAULTS['preview_root']}); the probe writes nothing else except the tags files.",
        metavar="DIR",
    ),
    Option(
        "info-dir",
        "The information directory holding the tags files "
        f"(<info-dir>/<subcluster>/<vo>/<vo>.list; default {DEFAULTS['info_dir']}).",
        metavar="DIR",
    ),
    Option("subcluster", "The GlueSubClusterUniqueID whose tags are published.", metavar="ID"),
    Option(
        "vo",
        "A VO to tag the version for; repeat the option for each VO. A run given fewer VOs "
        "than the site file leaves the other VOs' tags alone.",
        kind="append",
        metavar="VO",
        into="vos",
    ),
    Option(
        "profile-d",
        "The site's production profile.d, whose *.sh scripts the preview environment sources "
        f"first (default {DEFAULTS['profile_d']}).",
        metavar="DIR",
    ),
    Option(
        "config-hook",
        "The site's local configuration hook, run as root for releases that need site "
        "configuration (default: <preview-root>/hooks/configure).",
        metavar="PATH",
    ),
    Option(
        "retire-grace",
        "Seconds a retired version's tree is kept after its tags went (default "
        f"{DEFAULTS['retire_grace']}).",
        metavar="SECONDS",
        convert=_whole_seconds,
    ),
    Option(
        "test-user",
        "The account the local tests run as when the probe runs as root (default "
        f"{DEFAULTS['test_user']}).",
        metavar="USER",
    ),
    _options.timeout_option(
        f"Abort the whole run with UNKNOWN after this many seconds (default: "
        f"{DEFAULT_TIMEOUT:g}), including the wait for another run to finish. The default is "
        "below Nagios's own check timeout (service_check_timeout, 60 s by default); pps push "
        "passes its own (600 s), and a first install of a large release over a slow link may "
        "need as much: raise service_check_timeout with it.",
        DEFAULT_TIMEOUT,
    ),
    _options.verbose_option("Say more: each test with -v, progress with -vv, details with -vvv."),
)
EPILOG = (
    "Every option but --component, --version, --cleanup, --uninstall, --timeout and -v has a "
    "key of the same name in the site file (dashes as underscores; --vo is 'vos'); a flag given "
    "here wins over the file. The site file's 'skip' (a list of \"COMPONENT VERSION\") names "
    "versions this site opts out of: never installed or tagged here, retired if they were. "
    'Its \'publish\' (default ["tags"]; also "arc-rte", "condor") says where a verified '
    "version is announced, with arc_conf, arcctl, arc_runtimedir (an ARC-CE's RunTimeEnvironment) "
    "and condor_config, condor_reconfig (an HTCondor node's PPS_RTE machine attribute)."
)


def help_text(description: str) -> str:
    return _options.help_text("check_preview_client", description, OPTIONS, EPILOG)


_FLAG_KEYS = ("repository", "preview_root", "info_dir", "subcluster", "vos", "profile_d",
              "config_hook", "test_user", "retire_grace")  # fmt: skip


def build_request(args: SimpleNamespace, started: float) -> Request:
    """The request of the command line *args* and the site file it names (or the default)."""
    mode = "--uninstall" if args.uninstall else "--cleanup" if args.cleanup else ""
    if args.uninstall and args.cleanup:
        raise BadInput("--uninstall and --cleanup exclude each other")
    if mode and (args.component or args.version):
        raise BadInput(f"{mode} works on every installed version: drop --component/--version")
    if not mode and not (args.component and args.version):
        raise BadInput("--component and --version are needed (or --cleanup, or --uninstall)")
    if args.no_site_config and args.site_config:
        raise BadInput("--site-config and --no-site-config exclude each other")
    path = args.site_config or DEFAULT_PATH
    from_file: dict[str, Any] = {}
    have_file = not args.no_site_config and (args.site_config is not None or Path(path).exists())
    if have_file:
        from_file = read_site_file(path)
    flags = {k: getattr(args, k) for k in _FLAG_KEYS if getattr(args, k) is not None}
    values = {**DEFAULTS, **from_file, **check_values(flags, flags=True)}
    for key, flag in (("subcluster", "--subcluster"), ("vos", "--vo"),
                      ("repository", "--repository")):  # fmt: skip
        if key not in values and not (args.uninstall and key in ("vos", "repository")):
            why = f"the site file {path} has no {key!r}"
            if not have_file:
                why = "--no-site-config" if args.no_site_config else f"no site file at {path}"
            raise BadInput(f"{flag} is needed ({why})")
    check_layout(values)
    root = Path(values["preview_root"])
    if args.push_stream:
        _check_incoming(values["repository"], root)
    return Request(
        component=args.component or "",
        version=args.version or "",
        repository=values.get("repository", ""),
        preview_root=root,
        info_dir=Path(values["info_dir"]),
        subcluster=values["subcluster"],
        vos=tuple(values.get("vos", ())),  # --uninstall cleans every VO's tags file
        site_vos=from_file.get("vos"),
        profile_d=Path(values["profile_d"]),
        config_hook=Path(values.get("config_hook") or root / "hooks" / "configure"),
        public_key=values.get("public_key", ""),
        test_user=values["test_user"],
        max_release_bytes=values["max_release_bytes"],
        max_unpacked_bytes=values["max_unpacked_bytes"],
        retire_grace=values["retire_grace"],
        deadline=started + args.timeout,
        push_stream=bool(args.push_stream),
        site_file=path if have_file else "",
        skip=tuple(from_file.get("skip", ())),
        uninstall=bool(args.uninstall),
        publish=tuple(from_file.get("publish", ("tags",))),
        arc_conf=from_file.get("arc_conf", "/etc/arc.conf"),
        arcctl=from_file.get("arcctl", "/usr/sbin/arcctl"),
        arc_runtimedir=from_file.get("arc_runtimedir", ""),
        condor_config=from_file.get("condor_config", ""),
        condor_reconfig=from_file.get("condor_reconfig", "/usr/sbin/condor_reconfig"),
    )


def _check_incoming(repository: str, root: Path) -> None:
    """A streamed tarball is kept only in a push's own incoming area, never in a mirror."""
    import os

    incoming = os.path.join(os.path.abspath(root), ".pps", "incoming")
    where = os.path.abspath(repository)
    if os.path.dirname(where) != incoming or "://" in repository:
        raise BadInput(
            f"--push-stream needs --repository {incoming}/<component>-<version>, not {repository!r}"
        )
