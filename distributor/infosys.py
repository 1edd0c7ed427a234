"""Reading what the sites publish, for the bulletin and checks.

On the embedded default (no ``[infosys] url``) each site's GIP provider is run at the site through
its transport, exactly as ``bdii-update`` runs it, and its LDIF is returned per site; a site that
cannot be reached gives an error string instead, so one dead site never hides the others.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from pathlib import Path

from distributor.transport import Transport, open_transport
from pps.errors import ConfigError, PPSError
from pps.inventory import Config, Site
from pps.repository import Repository

GIP_TIMEOUT = 60.0


def gip_args(t: Transport) -> list[str]:
    site = t.site
    return [
        "--site", site.name,
        "--subcluster", site.subcluster,
        "--cluster", site.cluster_id,
        "--info-dir", t.site_path(site.info_dir),
        "--preview-root", t.site_path(site.preview_root),
    ]  # fmt: skip


def collect_site_ldif(
    sites: Iterable[Site],
    transport_factory: Callable[[Site], Transport] = open_transport,
) -> tuple[dict[str, str], dict[str, str]]:
    """``(ldif by site, error by site)`` from running each site's GIP provider."""
    published: dict[str, str] = {}
    errors: dict[str, str] = {}
    sites = list(sites)
    bundle = None
    if any(s.transport == "ssh" for s in sites):
        from distributor.bundle import bundle_bytes

        bundle = bundle_bytes()
    for site in sites:
        try:
            with transport_factory(site) as t:
                if bundle is not None:
                    t.ensure_probe(bundle)
                res = t.run("pps-gip-provider", gip_args(t), timeout=GIP_TIMEOUT)
        except (PPSError, OSError) as e:
            errors[site.name] = str(e)
            continue
        if res.exit_code != 0:
            tail = (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1]
            errors[site.name] = f"GIP provider failed: {tail}"
        else:
            published[site.name] = res.stdout
    return published, errors


def build_bulletin(config: Config, out: Path) -> tuple[list[Path], dict[str, str]]:
    """Collect what the sites publish and write the bulletin; returns (paths, site errors)."""
    from bulletin import build_map, write_bulletin

    if config.infosys_url:
        raise ConfigError(
            f"{config.path}: reading a BDII ([infosys] url) is not available in this version; "
            "remove it to read the sites' own GIP output"
        )
    index = Repository(config.repository).load()
    published, errors = collect_site_ldif(config.sites)
    vmap = build_map(
        index,
        list(config.sites),
        published=published,
        errors=errors,
        generated=_dt.datetime.now(_dt.timezone.utc),
    )
    return [Path(p) for p in write_bulletin(vmap, out)], errors
