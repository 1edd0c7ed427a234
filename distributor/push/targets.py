"""Which sites a push goes to, and what each one is told: the targets of a release, the probe's
arguments, where its tarball lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from distributor.transport.base import Transport
from pps.errors import BadInput
from pps.inventory import Config, Site
from pps.repository import Release


def target_sites(config: Config, release: Release, names: Sequence[str] = ()) -> list[Site]:
    """The sites *release* goes to; *names* narrows them and must all be targets."""
    targets = [s for s in config.sites if s.takes(release.update_class)]
    if not names:
        return targets
    chosen = []
    for name in names:
        site = config.site(name)
        if site not in targets:
            raise BadInput(
                f"site {name} (partner {site.partner.value}) does not take "
                f"{release.update_class.value} releases"
            )
        chosen.append(site)
    return chosen


def local_site_problem(site: Site) -> str:
    """Why a push to *site* would fail before its probe starts, as far as this machine can tell
    without contacting it ('' when nothing is known against it): a local site's root must be an
    existing directory (the transport refuses it otherwise)."""
    if site.transport != "local" or site.root is None:
        return ""
    root = Path(site.root)
    if not root.exists():
        return f"root {root} does not exist"
    if not root.is_dir():
        return f"root {root} is not a directory"
    return ""


def incoming_dir(site: Site, release: Release) -> str:
    return f"{site.preview_root.rstrip('/')}/.pps/incoming/{release.component}-{release.version}"


def probe_args(
    t: Transport, release: Release, repository: str, timeout: float, *, site_file: bool
) -> list[str]:
    """The probe's command line for *release* at the site behind *t* (the flag contract).

    A site with a site file is described by it (the same file its Nagios reads, so a push and
    a scheduled run cannot disagree); otherwise the inventory describes the site.
    """
    site = t.site
    args = [
        "--component", release.component,
        "--version", release.version,
        "--repository", repository,
        "--timeout", f"{timeout:g}",
    ]  # fmt: skip
    if site_file:
        return ["--site-config", t.site_path(site.site_config), *args]
    args = ["--no-site-config", *args]
    args += [
        "--preview-root", t.site_path(site.preview_root),
        "--info-dir", t.site_path(site.info_dir),
        "--subcluster", site.subcluster,
        "--profile-d", t.site_path(site.profile_d),
    ]  # fmt: skip
    for vo in site.vos:
        args += ["--vo", vo]
    return args
