"""Nagios object definitions that run the probe at the sites (``pps nagios-config``).

For each site of the inventory: a host, and one service per preview release the site takes (the
probe for that component and version).  The probe reads the repository's URL (``[repository]
url``: pull mode, plus one cleanup service per site that retires versions that are no longer
previews) or, without one, the site's incoming area of that release (push mode: Nagios re-tests
and keeps tagging what the last push delivered; no cleanup service, see below).

Each host's custom variable ``_PPS_SITE`` tells the probe where the site is, as a push does
(:func:`distributor.push.probe_args`): ``--site-config FILE`` for a site that has its own site
file, else the inventory's values (``--no-site-config --preview-root ... --vo ...``).  Which one a
site has is looked up through its transport (:func:`look_for_site_files`), unless the operator
says so (``--site-file present|absent``).  ``_PPS_PUBLICATION`` does the same for the
``pps publication`` service (``check_preview_publication``, installed beside the probe, or a
symlink of that name to the one-file probe), which checks that the site's verified tags are in
its BDII.

ARC-CE and HTCondor sites (the inventory's ``kind``): their probe reads where it publishes
(``publish``, ``arc_conf``, ``condor_config``) from the site's own site file, which has no flags,
so such a site without one is refused in one line; the host's alias names the kind.  An ARC-CE
gets no ``pps publication`` service: check_preview_publication compares tags files with the
BDII, and A-REX publishes an ARC-CE's RTEs itself (``pps infosys check`` compares those).

A push-mode site gets no cleanup service: its incoming areas hold one-release indexes marked as
subsets, which by design never retire anything (the probe refuses ``--cleanup`` against one).  A
version ends there when the step that ends its preview (``pps release close``, a rejection,
``pps remove``) pushes to the site: that push rewrites the incoming index and the probe retires
the version on the spot; a site that could not be told shows as NOT TOLD in ``pps status`` until
a push tells it.

Every value that reaches the file is checked against an allow-list grammar first
(:mod:`pps.confine`): Nagios hands a command line with any shell metacharacter to ``/bin/sh``,
and a newline in a directive's value starts another directive, so nothing outside the grammar is
written, with one line naming the value.  Commands use absolute paths (Nagios has no PATH and no
virtualenv).  Every name carries a ``pps-`` prefix and the file brings its own templates, time
period and a silent contact, so it can be dropped beside a site's configuration (or used alone)
and ``nagios4 -v`` accepts it.  Nagios kills a check after ``service_check_timeout`` (60 s by
default): the probe's ``--timeout`` is kept below it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from distributor.push.targets import incoming_dir
from distributor.transport import open_transport
from distributor.transport.base import Transport, TransportError
from pps.confine import (
    check_command_word,
    check_host,
    check_object_name,
    check_repository_url,
    check_site_path,
    first_outside,
)
from pps.errors import BadInput, PPSError
from pps.inventory import Config, Site
from pps.names import check_site_name, check_subcluster, check_vo
from pps.publication import parse_ldap_url
from pps.repository import Index, Release

#: Nagios's default service_check_timeout, and the probe timeout kept safely below it.
NAGIOS_CHECK_TIMEOUT = 60
DEFAULT_PROBE_TIMEOUT = 50
#: The publication check asks one BDII: it needs less time than a probe run may take.
PUBLICATION_TIMEOUT = 30
PUBLICATION_NAME = "check_preview_publication"
#: How ``pps nagios-config --site-file`` learns whether a site has its own site file.
SITE_FILE_CHOICES = ("look", "present", "absent")
#: Sites looked at together (network-bound, as in a push).
LOOK_PARALLEL = 16
#: How messages and the objects name a kind of site, and the site-file key its probe needs.
KIND_WORDS = {
    "arc": ("an ARC-CE site", "ARC-CE", "arc_conf"),
    "condor": ("an HTCondor site", "HTCondor pool", "condor_config"),
}
#: The macros the command lines use (every other word is a value checked on its own).
_MACROS = frozenset({"$ARG1$", "$ARG2$", "$ARG3$", "$_HOSTPPS_SITE$", "$_HOSTPPS_PUBLICATION$"})
#: The probes' flags the command lines use (a value is never one: it may not start with '-').
_FLAGS = frozenset({
    "--site-config", "--no-site-config", "--timeout", "--repository", "--component",
    "--version", "--preview-root", "--info-dir", "--subcluster", "--profile-d", "--vo",
    "--cleanup", "--bdii", "--site",
})  # fmt: skip
#: What a directive's value may hold: printable ASCII, no comment (';') and no escape.
_DIRECTIVE_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {";", "\\"}


@dataclass(frozen=True)
class NagiosOptions:
    """How the generated objects run the probe."""

    #: The probe: the installed ``check_preview_client`` or the one-file ``.pyz``.
    probe: str
    #: An interpreter to run the probe with (for a ``.pyz``), or "".
    python: str = ""
    probe_timeout: int = DEFAULT_PROBE_TIMEOUT
    #: Minutes between checks of a preview version, and of the cleanup.
    interval: int = 30
    cleanup_interval: int = 360
    #: A contact group of the site's own; "" defines a silent ``pps-nobody``.
    contact_group: str = ""
    #: The site's service_check_timeout (nagios.cfg); the probe must stop before it.
    nagios_check_timeout: int = NAGIOS_CHECK_TIMEOUT
    #: A ``pps publication`` service per site (check_preview_publication).
    publication: bool = False
    #: The publication plugin (default: check_preview_publication beside the probe).
    publication_probe: str = ""
    #: The BDII it asks (default: the site file's 'bdii', else the site BDII on localhost).
    bdii: str = ""


def default_probe() -> str:
    """The ``check_preview_client`` installed beside this ``pps`` (absolute), if any."""
    beside = Path(sys.executable).with_name("check_preview_client")
    if beside.exists():
        return str(beside)
    found = shutil.which("check_preview_client")
    return str(Path(found).resolve()) if found else ""


def at_site(site: Site, path: str) -> str:
    """*path* at *site* as the site's programs see it (through the local transport's root for a
    site that is a directory here)."""
    if site.transport == "local" and site.root is not None:
        return str(Path(site.root).joinpath(path.lstrip("/")))
    return path


def publication_probe(options: NagiosOptions) -> str:
    """The publication plugin: given, or ``check_preview_publication`` beside the probe (for a
    ``.pyz`` probe: a symlink of that name to it, which runs the same file as that plugin)."""
    return options.publication_probe or str(Path(options.probe).with_name(PUBLICATION_NAME))


def check_bdii_url(value: str) -> str:
    """The ``ldap://HOST:PORT`` URL of *value* (the core's BDII URL grammar,
    :func:`pps.publication.parse_ldap_url`, host and port included), as
    check_preview_publication is given it."""
    url = parse_ldap_url(value)
    if url.scheme != "ldap":
        raise BadInput(
            f"BDII URL {value!r}: check_preview_publication asks a BDII over ldap:// only "
            "(use ldap://HOST:PORT)"
        )
    return check_command_word(url.url, "BDII URL")


def _program(value: str, what: str, hint: str = "") -> str:
    if not value.startswith("/"):
        raise BadInput(f"{what} {value!r} must be an absolute path{hint}")
    check_site_path(value, what)
    if value.rsplit("/", 1)[1] in ("", ".", ".."):
        raise BadInput(f"{what} {value!r} must name a program, not a directory")
    return value


def check_options(options: NagiosOptions) -> None:
    """Refuse (BadInput, one line) options whose values cannot go into the objects."""
    _program(options.probe, "probe", " (Nagios has no PATH): give --probe")
    if options.python:
        _program(options.python, "python")
    if options.bdii and not options.publication:
        raise BadInput("a BDII is only asked by the publication service: add --publication")
    if options.publication_probe and not options.publication:
        raise BadInput("a publication probe is only run by the publication service: add "
                       "--publication")  # fmt: skip
    if options.bdii:
        check_bdii_url(options.bdii)
    if options.publication:
        _program(publication_probe(options), "publication probe")
    if options.contact_group:
        check_object_name(options.contact_group, "contact group")
    for value, what in ((options.interval, "interval"), (options.cleanup_interval,
                        "cleanup interval"), (options.probe_timeout, "probe timeout")):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"{what} {value!r} is not a whole number above 0")
    if not 0 < options.probe_timeout < options.nagios_check_timeout:
        raise BadInput(
            f"probe timeout {options.probe_timeout} s must stay below Nagios's "
            f"service_check_timeout ({options.nagios_check_timeout} s): raise that in "
            "nagios.cfg first, and say so with --nagios-check-timeout"
        )


def check_site(site: Site) -> None:
    """Refuse (BadInput, one line naming the site and the key) a site whose values cannot go
    into the objects: the inventory checked them for a push, not for a command line."""
    check_site_name(site.name)
    where = f"site {site.name}"
    for key in ("site_config", "preview_root", "info_dir", "profile_d"):
        check_site_path(getattr(site, key), f"{where}: {key}")
    try:
        if site.transport == "local":
            if site.root is None:
                raise BadInput("the local transport needs 'root'")
            check_site_path(str(site.root), "root")
        elif site.transport == "ssh":
            check_host(site.host)
        else:
            raise BadInput(f"transport {site.transport!r} is not one of: local, ssh")
        check_subcluster(site.subcluster)
        if not site.vos:
            raise BadInput("it lists no VO")
        for vo in site.vos:
            check_vo(vo)
    except BadInput as e:
        raise BadInput(f"{where}: {e}") from None


def check_inputs(sites: Sequence[Site], options: NagiosOptions, repository_url: str) -> None:
    """Everything :func:`render` refuses, checked before any site is looked at."""
    check_options(options)
    if repository_url:
        check_repository_url(repository_url)
    for site in sites:
        check_site(site)


def probe_site_args(site: Site, site_file: bool) -> list[str]:
    """Where *site* is, for check_preview_client: its site file when it has one, else the
    inventory's values (the flags :func:`distributor.push.probe_args` gives a push)."""
    if site_file:
        return ["--site-config", at_site(site, site.site_config)]
    args = [
        "--no-site-config",
        "--preview-root", at_site(site, site.preview_root),
        "--info-dir", at_site(site, site.info_dir),
        "--subcluster", site.subcluster,
        "--profile-d", at_site(site, site.profile_d),
    ]  # fmt: skip
    for vo in site.vos:
        args += ["--vo", vo]
    return args


def publication_site_args(site: Site, site_file: bool) -> list[str]:
    """Where *site* is, for check_preview_publication (which has no --vo nor --profile-d)."""
    if site_file:
        return ["--site-config", at_site(site, site.site_config)]
    return [
        "--no-site-config",
        "--preview-root", at_site(site, site.preview_root),
        "--info-dir", at_site(site, site.info_dir),
        "--subcluster", site.subcluster,
        "--site", site.name,
    ]  # fmt: skip


def _words(words: Sequence[str], what: str) -> str:
    """*words* as one value of the objects: each a macro or a flag of ours, or a checked word."""
    return " ".join(w if w in _MACROS or w in _FLAGS else check_command_word(w, what)
                    for w in words)  # fmt: skip


def _block(kind: str, pairs: Sequence[tuple[str, object]]) -> str:
    """One ``define`` block; a value that could end the directive or the line is refused."""
    width = max(len(k) for k, _ in pairs)
    lines = [f"define {kind} {{"]
    for key, value in pairs:
        text = str(value)
        bad = first_outside(text, _DIRECTIVE_CHARS)
        if not text or text != text.strip() or bad is not None:
            raise BadInput(f"{kind} {key} {text!r} cannot go into the Nagios objects")
        lines.append(f"    {key.ljust(width)}  {text}")
    return "\n".join(lines + ["}", ""])


def _comments(options: NagiosOptions, pull: bool, publication: bool) -> list[str]:
    out = [
        "# Nagios objects for the pps preview probes (made by 'pps nagios-config').",
        "# Each host is a partner site.  Its _PPS_SITE variable says where the probe finds the",
        "# site: '--site-config FILE' for a site with its own site file (the file a push reads",
        "# too), else the inventory's values (--no-site-config ...), as a push gives them.",
        "# Each service runs check_preview_client for one preview version.",
    ]
    if pull:
        out += [
            "# Pull mode ([repository] url): the services read the repository, and the cleanup",
            "# service ('pps cleanup') retires the versions that are no longer previews.",
        ]
    else:
        out += [
            "# Push mode (no [repository] url): each service re-tests its version's incoming",
            "# area as the last push left it.  There is no cleanup service: an incoming area",
            "# holds a one-release index marked as a subset, which by design never retires",
            "# anything (the probe refuses --cleanup against it).  A version ends at a",
            "# push-mode site when the step that ends its preview ('pps release close', a",
            "# rejection, 'pps remove') pushes to the site: that push rewrites the incoming",
            "# index and the probe retires the version there and then.  A site that could not",
            "# be told shows as NOT TOLD in 'pps status' until a push tells it.",
        ]
    out += [
        "# Write this file again when a preview starts or ends, or a site gains or loses",
        "# its site file: it holds the services of the previews it was written for.",
        f"# The probe stops after {options.probe_timeout} s, below Nagios's",
        f"# service_check_timeout of {options.nagios_check_timeout} s.",
    ]
    if publication:
        out += [
            "# 'pps publication' checks that the site's verified tags are in its BDII",
            "# (its _PPS_PUBLICATION variable says where the site is).  ARC-CE sites have no",
            "# 'pps publication' service: A-REX publishes their RTEs itself, and",
            "# 'pps infosys check' compares those with the BDII.",
        ]
    return out


def _templates(options: NagiosOptions, contact: str) -> list[str]:
    days = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    out = [
        _block(
            "timeperiod",
            [("timeperiod_name", "pps-24x7"), ("alias", "always")]
            + [(day, "00:00-24:00") for day in days],
        ),  # fmt: skip
    ]
    if not options.contact_group:
        out += [
            _block(
                "command", [("command_name", "pps-notify-nobody"), ("command_line", "/bin/true")]
            ),  # fmt: skip
            _block(
                "contact",
                [
                    ("contact_name", "pps-nobody"),
                    ("alias", "nobody: give 'pps nagios-config --contact-group' a group of yours"),
                    ("host_notifications_enabled", 0),
                    ("service_notifications_enabled", 0),
                    ("host_notification_period", "pps-24x7"),
                    ("service_notification_period", "pps-24x7"),
                    ("host_notification_options", "n"),
                    ("service_notification_options", "n"),
                    ("host_notification_commands", "pps-notify-nobody"),
                    ("service_notification_commands", "pps-notify-nobody"),
                ],
            ),  # fmt: skip
            _block(
                "contactgroup",
                [("contactgroup_name", "pps-admins"), ("alias", "pps"), ("members", "pps-nobody")],
            ),  # fmt: skip
        ]
    out += [
        _block(
            "host",
            [
                ("name", "pps-site"),
                ("register", 0),
                ("max_check_attempts", 1),
                ("check_period", "pps-24x7"),
                ("active_checks_enabled", 0),
                ("contact_groups", contact),
                ("notification_interval", 0),
                ("notification_period", "pps-24x7"),
            ],
        ),  # fmt: skip
        _block(
            "service",
            [
                ("name", "pps-probe"),
                ("register", 0),
                ("max_check_attempts", 1),
                ("check_interval", options.interval),
                ("retry_interval", options.interval),
                ("check_period", "pps-24x7"),
                ("contact_groups", contact),
                ("notification_interval", 0),
                ("notification_period", "pps-24x7"),
            ],
        ),  # fmt: skip
    ]
    return out


def render(
    sites: Iterable[Site],
    releases: Iterable[Release],
    options: NagiosOptions,
    repository_url: str = "",
    site_files: Collection[str] = (),
) -> str:
    """The object definitions for *sites*, with a service per release each site takes: the
    commands and templates (:func:`commands`), then each site's objects (:func:`site_objects`).

    *site_files* names the sites that have their own site file (the others are described by
    the inventory's values).  BadInput (one line) for any value outside its grammar."""
    sites = list(sites)
    check_inputs(sites, options, repository_url)
    for site in sites:
        if site.kind in KIND_WORDS and site.name not in site_files:
            what, _, key = KIND_WORDS[site.kind]
            raise BadInput(
                f"site {site.name} is {what}: its probe reads 'publish' and the {key} from its "
                f"site file {site.site_config}: write that file at the site, or give "
                "--site-file present"
            )
    publication = publication_probe(options) if options.publication else ""
    contact = options.contact_group or "pps-admins"
    out = [*_comments(options, bool(repository_url), bool(publication)), ""]
    out += commands(options, repository_url, publication)
    out += _templates(options, contact)
    previews = [r for r in releases if r.in_preview]
    for site in sites:
        out += site_objects(
            site, previews, options, repository_url, publication, site.name in site_files
        )
    return "\n".join(out)


def commands(options: NagiosOptions, repository_url: str, publication: str) -> list[str]:
    """The command objects: the probe (per release), its cleanup (pull mode) and the
    publication check (when asked for)."""
    runner = [options.python, options.probe] if options.python else [options.probe]
    base = [*runner, "$_HOSTPPS_SITE$", "--timeout", str(options.probe_timeout)]
    if repository_url:
        base += ["--repository", repository_url]
    version_args = ["--component", "$ARG1$", "--version", "$ARG2$"]
    if not repository_url:  # push mode: the release's incoming area, given per service
        version_args += ["--repository", "$ARG3$"]
    lines = [("pps-check-preview-client", [*base, *version_args])]
    if repository_url:
        lines.append(("pps-check-preview-cleanup", [*base, "--cleanup"]))
    if publication:
        line = [*([options.python] if options.python else []), publication,
                "$_HOSTPPS_PUBLICATION$", "--timeout",
                str(min(PUBLICATION_TIMEOUT, options.probe_timeout))]  # fmt: skip
        if options.bdii:
            line += ["--bdii", check_bdii_url(options.bdii)]
        lines.append(("pps-check-preview-publication", line))
    return [
        _block("command", [("command_name", name), ("command_line", _words(words, "command line"))])
        for name, words in lines
    ]


def _service(site: Site, description: str, command: str, *extra: tuple[str, object]) -> str:
    return _block("service", [
        ("use", "pps-probe"),
        ("host_name", site.name),
        ("service_description", description),
        ("check_command", command),
        *extra,
    ])  # fmt: skip


def site_objects(
    site: Site,
    previews: Sequence[Release],
    options: NagiosOptions,
    repository_url: str,
    publication: str,
    has_file: bool,
) -> list[str]:
    """One site's host object and its services: one per preview release it takes, the
    publication check's, the cleanup's (pull mode)."""
    address = site.host if site.transport == "ssh" else "127.0.0.1"
    host = [
        ("use", "pps-site"),
        ("host_name", site.name),
        ("alias", f"{site.name} ({site.partner.value} partner{_kind_words(site)})"),
        ("address", address),
        ("_PPS_SITE", _words(probe_site_args(site, has_file), f"site {site.name}")),
    ]
    if publication:
        where = publication_site_args(site, has_file)
        host.append(("_PPS_PUBLICATION", _words(where, f"site {site.name}")))
    out = [_block("host", host)]
    for rel in previews:
        if not site.takes(rel.update_class):
            continue
        args = [rel.component, rel.version]
        if not repository_url:
            args.append(at_site(site, incoming_dir(site, rel)))
        checked = [check_command_word(a, f"site {site.name}") for a in args]
        command = "!".join(["pps-check-preview-client", *checked])
        out.append(_service(site, f"pps {rel.component} {rel.version}", command))
    if publication and site.kind != "arc":
        out.append(_service(site, "pps publication", "pps-check-preview-publication"))
    if repository_url:
        interval = options.cleanup_interval
        extra = (("check_interval", interval), ("retry_interval", interval))
        out.append(_service(site, "pps cleanup", "pps-check-preview-cleanup", *extra))
    return out


def _kind_words(site: Site) -> str:
    """``", ARC-CE"`` / ``", HTCondor pool"`` for the alias of such a site, else ``""``."""
    return f", {KIND_WORDS[site.kind][1]}" if site.kind in KIND_WORDS else ""


def look_for_site_files(
    sites: Sequence[Site], opener: Callable[[Site], Transport] = open_transport
) -> set[str]:
    """The names of the *sites* that have their own site file, looked up through each site's
    transport; TransportError (one line naming the first site that could not be asked)."""

    def one(site: Site) -> bool | str:
        try:
            with opener(site) as t:
                return t.exists(site.site_config)
        except (PPSError, OSError, EOFError) as e:
            reason = str(e) or type(e).__name__
        except Exception as e:  # noqa: BLE001 - a transport library's own error: one line
            reason = f"{type(e).__name__}: {e}"
        prefix = f"site {site.name}: "
        return reason[len(prefix) :] if reason.startswith(prefix) else reason

    with ThreadPoolExecutor(max_workers=max(1, min(LOOK_PARALLEL, len(sites)))) as pool:
        found = list(pool.map(one, sites))
    for site, answer in zip(sites, found):
        if isinstance(answer, str):
            raise TransportError(
                f"site {site.name}: cannot tell whether it has its own site file "
                f"{site.site_config} ({answer}): give --site-file present or --site-file absent "
                "to write its objects without looking"
            )
    return {site.name for site, answer in zip(sites, found) if answer is True}


def nagios_config(
    config: Config,
    index: Index,
    names: Sequence[str],
    options: NagiosOptions,
    site_file: str = "look",
    opener: Callable[[Site], Transport] = open_transport,
) -> str:
    """``render`` for the inventory's sites (or the ones named).  *site_file*: ``look`` asks
    each site whether it has its own site file; ``present`` / ``absent`` says so for all."""
    sites = [config.site(n) for n in names] if names else list(config.sites)
    if not sites:
        raise BadInput(f"{config.path} lists no sites")
    if site_file not in SITE_FILE_CHOICES:
        raise BadInput(f"--site-file {site_file!r} is not one of: {', '.join(SITE_FILE_CHOICES)}")
    check_inputs(sites, options, config.repository_url)
    if site_file == "look":
        found = look_for_site_files(sites, opener)
    else:
        found = {s.name for s in sites} if site_file == "present" else set()
    return render(sites, index.releases, options, config.repository_url, found)
