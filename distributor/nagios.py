"""Nagios object definitions that run the probe at the sites (``pps nagios-config``).

For each site of the inventory: a host, and one service per preview release the site takes (the
probe for that component and version).  The probe reads the repository's URL (``[repository]
url``: pull mode, plus one cleanup service per site that retires versions that are no longer
previews) or, without one, the site's incoming area of that release (push mode: Nagios re-tests
and keeps tagging what the last push delivered).  Commands use absolute paths (Nagios has
no PATH and no virtualenv) and the site's own site file, through the custom host variable
``_SITE_CONFIG``, so the service definitions and every push read the same file.  Every name
carries a ``pps-`` prefix and the file brings its own templates, time period and a silent
contact, so it can be dropped beside a site's configuration (or used alone) and ``nagios4 -v``
accepts it.  Nagios kills a check after ``service_check_timeout`` (60 s by default): the probe's
``--timeout`` is kept below it.  With ``publication`` each site also gets a ``pps publication``
service: ``check_preview_publication`` (installed beside the probe, or a symlink of that name to
the one-file probe) checks that the site's verified tags are in its BDII.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pps.errors import BadInput
from pps.inventory import Config, Site
from pps.repository import Index, Release

#: Nagios's default service_check_timeout, and the probe timeout kept safely below it.
NAGIOS_CHECK_TIMEOUT = 60
DEFAULT_PROBE_TIMEOUT = 50
#: The publication check asks one BDII: it needs less time than a probe run may take.
PUBLICATION_TIMEOUT = 30
PUBLICATION_NAME = "check_preview_publication"
_BDII_URL = re.compile(r"ldap://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):[0-9]{1,5}/?\Z")


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


_UNSAFE = set(" \t\n\r;!$`'\"\\")


def _check(value: str, what: str) -> str:
    """A value for a command line: no whitespace (Nagios splits on it), no ``!`` (the argument
    separator), no ``$`` (a macro), no ``;`` (a comment), no quotes or backslashes."""
    if not value or set(value) & _UNSAFE:
        raise BadInput(
            f"{what} {value!r} cannot go into a Nagios command line (no whitespace, quotes, "
            "backslashes or ;!$`)"
        )
    return value


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
    """An ``ldap://HOST:PORT`` URL that can go into a command line."""
    if not _BDII_URL.match(value) or not 0 < int(value.rstrip("/").rsplit(":", 1)[1]) < 65536:
        raise BadInput(
            f"bdii {value!r} is not ldap://HOST:PORT (a site BDII: ldap://localhost:2170)"
        )
    return _check(value, "bdii")


def _block(kind: str, pairs: Sequence[tuple[str, object]]) -> str:
    width = max(len(k) for k, _ in pairs)
    lines = [f"define {kind} {{"]
    lines += [f"    {k.ljust(width)}  {v}" for k, v in pairs]
    return "\n".join(lines + ["}", ""])


def render(
    sites: Iterable[Site],
    releases: Iterable[Release],
    options: NagiosOptions,
    repository_url: str = "",
) -> str:
    """The object definitions for *sites*, with a service per release each site takes."""
    if not options.probe.startswith("/"):
        raise BadInput(
            f"probe {options.probe!r} must be an absolute path (Nagios has no PATH): give --probe"
        )
    for value, what in ((options.probe, "probe"), (options.python, "python")):
        if value:
            _check(value, what)
    if options.bdii and not options.publication:
        raise BadInput("a BDII is only asked by the publication service: add --publication")
    if options.publication_probe and not options.publication:
        raise BadInput("a publication probe is only run by the publication service: add "
                       "--publication")  # fmt: skip
    if options.bdii:
        check_bdii_url(options.bdii)
    publication = publication_probe(options) if options.publication else ""
    if publication and not publication.startswith("/"):
        raise BadInput(f"publication probe {publication!r} must be an absolute path")
    if publication:
        _check(publication, "publication probe")
    if options.python and not options.python.startswith("/"):
        raise BadInput(f"python {options.python!r} must be an absolute path")
    if not 0 < options.probe_timeout < options.nagios_check_timeout:
        raise BadInput(
            f"probe timeout {options.probe_timeout} s must stay below Nagios's "
            f"service_check_timeout ({options.nagios_check_timeout} s): raise that in "
            "nagios.cfg first, and say so with --nagios-check-timeout"
        )
    runner = f"{options.python} {options.probe}" if options.python else options.probe
    base = f"{runner} --site-config $_HOSTSITE_CONFIG$ --timeout {options.probe_timeout}"
    if repository_url:
        base += f" --repository {_check(repository_url, 'repository url')}"
    version_args = "--component $ARG1$ --version $ARG2$"
    if not repository_url:  # push mode: the release's incoming area, given per service
        version_args += " --repository $ARG3$"
    contact = options.contact_group or "pps-admins"
    out = [
        "# Nagios objects for the pps preview probes (made by 'pps nagios-config').",
        "# Each host is a partner site; each service runs check_preview_client for one",
        "# preview version"
        + (
            "; 'pps cleanup' retires versions that are no longer previews."
            if repository_url
            else " (push mode: its incoming area, as the last push left it)."
        ),
        f"# The probe stops after {options.probe_timeout} s, below Nagios's",
        f"# service_check_timeout of {options.nagios_check_timeout} s.",
    ]
    if publication:
        out.append("# 'pps publication' checks that the site's verified tags are in its BDII.")
    out += [
        "",
        _block(
            "command",
            [
                ("command_name", "pps-check-preview-client"),
                ("command_line", f"{base} {version_args}"),
            ],
        ),  # fmt: skip
    ]
    if repository_url:
        out.append(_block("command", [
            ("command_name", "pps-check-preview-cleanup"),
            ("command_line", f"{base} --cleanup"),
        ]))  # fmt: skip
    if publication:
        runner = f"{options.python} {publication}" if options.python else publication
        timeout = min(PUBLICATION_TIMEOUT, options.probe_timeout)
        line = f"{runner} --site-config $_HOSTSITE_CONFIG$ --timeout {timeout}"
        if options.bdii:
            line += f" --bdii {check_bdii_url(options.bdii)}"
        out.append(_block("command", [
            ("command_name", "pps-check-preview-publication"),
            ("command_line", line),
        ]))  # fmt: skip
    out += [
        _block(
            "timeperiod",
            [("timeperiod_name", "pps-24x7"), ("alias", "always")]
            + [
                (day, "00:00-24:00")
                for day in (
                    "sunday",
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                )
            ],
        ),  # fmt: skip
    ]
    if not options.contact_group:
        out += [
            _block(
                "command",
                [
                    ("command_name", "pps-notify-nobody"),
                    ("command_line", "/bin/true"),
                ],
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
                [
                    ("contactgroup_name", "pps-admins"),
                    ("alias", "pps"),
                    ("members", "pps-nobody"),
                ],
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
    releases = [r for r in releases if r.in_preview]
    for site in sites:
        address = site.host if site.transport == "ssh" else "127.0.0.1"
        out.append(_block("host", [
            ("use", "pps-site"),
            ("host_name", site.name),
            ("alias", f"{site.name} ({site.partner.value} partner)"),
            ("address", _check(address, "host")),
            ("_SITE_CONFIG", _check(at_site(site, site.site_config), "site file")),
        ]))  # fmt: skip
        for rel in releases:
            if not site.takes(rel.update_class):
                continue
            command = f"pps-check-preview-client!{rel.component}!{rel.version}"
            if not repository_url:
                from distributor.push import incoming_dir

                command += "!" + _check(at_site(site, incoming_dir(site, rel)), "incoming area")
            out.append(_block("service", [
                ("use", "pps-probe"),
                ("host_name", site.name),
                ("service_description", f"pps {rel.component} {rel.version}"),
                ("check_command", command),
            ]))  # fmt: skip
        if publication:
            out.append(_block("service", [
                ("use", "pps-probe"),
                ("host_name", site.name),
                ("service_description", "pps publication"),
                ("check_command", "pps-check-preview-publication"),
            ]))  # fmt: skip
        if not repository_url:
            continue
        out.append(_block("service", [
            ("use", "pps-probe"),
            ("host_name", site.name),
            ("service_description", "pps cleanup"),
            ("check_command", "pps-check-preview-cleanup"),
            ("check_interval", options.cleanup_interval),
            ("retry_interval", options.cleanup_interval),
        ]))  # fmt: skip
    return "\n".join(out)


def nagios_config(
    config: Config, index: Index, names: Sequence[str], options: NagiosOptions
) -> str:
    """``render`` for the inventory's sites (or the ones named)."""
    sites = [config.site(n) for n in names] if names else list(config.sites)
    if not sites:
        raise BadInput(f"{config.path} lists no sites")
    return render(sites, index.releases, options, config.repository_url)
