"""Reading what the sites publish, for the bulletin, ``pps infosys map`` and ``pps infosys check``.

Two sources, one reader (:func:`pps.publication.read_entries`) behind both:

* **A BDII** (``--infosys ldap://HOST:PORT`` or ``[infosys] url``): :mod:`distributor.infosys.bdii`,
  bounded in time, values and bytes.
* **The embedded default** (no URL): each site's GIP provider is run at the site through its
  transport, exactly as ``bdii-update`` runs it (:func:`collect_site_ldif`), and its LDIF is
  read as that site's; a site that cannot be reached gives an error string instead, so one dead
  site never hides the others.

Then :func:`check_infosys` compares, site by site, what a site says with what the BDII says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from distributor.infosys.bdii import DEFAULT_MAX_VALUES, DEFAULT_TIMEOUT, inventory_map, read_bdii
from pps.errors import BadInput, ConfigError, PPSError
from pps.glue import parse_ldif
from pps.names import PREVIEW_CAPABILITY, check_vo, parse_version_tag, release_tag_key
from pps.publication import (
    Publication,
    SiteTag,
    is_rte_name,
    parse_ldap_url,
    read_entries,
)
from pps.record import Record
from pps.rte import parse_rte_name

if TYPE_CHECKING:
    from distributor.transport.base import Transport
    from pps.inventory import Config, Site
    from pps.repository import Index, Release


GIP_TIMEOUT = 60.0
#: How many sites' GIP providers run at once when the sites are read one by one (as many as a
#: push works on at once).
MAX_PARALLEL_READS = 16


# ------------------------------------------------------------------ the embedded default
def gip_args(t: Transport) -> list[str]:
    """The GIP provider's flags for the site of *t*.  An ARC-CE's or an HTCondor node's provider
    also reads the site file, which says where the probe published (``publish``, ``arc_conf``,
    ``condor_config``): the flags given win over its values."""
    site = t.site
    args = [
        "--site", site.name,
        "--subcluster", site.subcluster,
        "--cluster", site.cluster_id,
        "--info-dir", t.site_path(site.info_dir),
        "--preview-root", t.site_path(site.preview_root),
    ]  # fmt: skip
    if site.kind != "glite":
        args += ["--site-config", t.site_path(site.site_config)]
    return args


def collect_site_ldif(
    sites: Iterable[Site],
    transport_factory: Callable[[Site], Transport] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """``(ldif by site, error by site)`` from running each site's GIP provider."""
    # the transports load only when sites are read (a read of the BDII alone loads none)
    from distributor.transport import open_transport
    from distributor.transport.base import site_budget
    from distributor.transport.bundle import bundle_bytes

    if transport_factory is None:
        transport_factory = open_transport
    published: dict[str, str] = {}
    errors: dict[str, str] = {}
    sites = list(sites)
    bundle = None
    if any(s.transport == "ssh" for s in sites):
        bundle = bundle_bytes()
    factory = transport_factory

    def one(site: Site) -> tuple[str | None, str | None]:
        """``(ldif, None)`` or ``(None, error)`` for one site."""
        try:
            t = factory(site)
            # everything at one site ends by its budget, however slowly each call answers
            t.deadline = time.monotonic() + site_budget(site, GIP_TIMEOUT)
            with t:
                if bundle is not None:
                    t.ensure_probe(bundle)
                res = t.run("pps-gip-provider", gip_args(t), timeout=GIP_TIMEOUT)
        except (PPSError, OSError) as e:
            return None, str(e)
        if res.exit_code != 0:
            tail = (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1]
            return None, f"GIP provider failed: {tail}"
        return res.stdout, None

    # the sites are read side by side (as a push works on them), in the inventory's order
    workers = max(1, min(MAX_PARALLEL_READS, len(sites)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for site, (text, error) in zip(sites, pool.map(one, sites)):
            if error is None and text is not None:
                published[site.name] = text
            else:
                errors[site.name] = error or "no output"
    return published, errors


def read_sites(
    sites: Iterable[Site],
    transport_factory: Callable[[Site], Transport] | None = None,
) -> tuple[Publication, dict[str, str]]:
    """What each site's own GIP provider says, read as that site's entries; ``(publication,
    error by site)``: a site whose provider cannot be run or prints bad LDIF has an error."""
    published, errors = collect_site_ldif(sites, transport_factory)
    pub = Publication()
    for name, text in published.items():
        try:
            entries = parse_ldif(text, source=f"LDIF published by site {name}")
        except BadInput as e:
            errors[name] = str(e)
            continue
        read_entries(entries, source_site=name, publication=pub)
    return pub, errors


# ---------------------------------------------------------------------------- settings
class InfosysSettings(Record):
    """Where and how to read the information system: the flags over ``[infosys]``."""

    #: The BDII; ``""``: the embedded default (the sites' own GIP output).
    url: str = ""
    timeout: float = DEFAULT_TIMEOUT
    max_values: int = DEFAULT_MAX_VALUES


def settings(
    config: Config | None,
    url: str | None = None,
    timeout: float | None = None,
    max_values: int | None = None,
) -> InfosysSettings:
    """The flags (None: not given) over the configuration's ``[infosys]``; a URL is checked."""
    got = InfosysSettings(
        url=config.infosys_url if config is not None else "",
        timeout=config.infosys_timeout if config is not None else DEFAULT_TIMEOUT,
        max_values=config.infosys_max_values if config is not None else DEFAULT_MAX_VALUES,
    )
    if url is not None:
        got = got.replace(url=url)
    if timeout is not None:
        got = got.replace(timeout=timeout)
    if max_values is not None:
        got = got.replace(max_values=max_values)
    if got.url:
        got = got.replace(url=parse_ldap_url(got.url).url)
    return got


def read_published(
    config: Config | None,
    how: InfosysSettings,
    *,
    tag: str | None = None,
    transport_factory: Callable[[Site], Transport] | None = None,
    glue2: bool = True,
) -> tuple[Publication, dict[str, str]]:
    """``(publication, error by site)`` from the BDII *how* names, or else from every site's
    GIP provider (which needs the inventory).  *glue2*: see :func:`read_bdii`."""
    sites = config.sites if config is not None else ()
    if how.url:
        pub = read_bdii(
            how.url,
            timeout=how.timeout,
            max_values=how.max_values,
            inventory=inventory_map(sites),
            tag=tag,
            glue2=glue2,
        )
        return pub, {}
    if config is None:
        raise ConfigError(
            "reading the sites' own GIP output needs the inventory (pps.toml, --config); "
            "or give --infosys ldap://HOST:PORT"
        )
    pub, errors = read_sites(sites, transport_factory)
    if tag is not None:
        pub.keep_only(tag)
    return pub, errors


# ------------------------------------------------------------------------------- check
#: The problems ``pps infosys check`` reports, in the order it lists them.
UNREACHABLE = "unreachable"
MISSING = "missing"
EXTRA = "extra"
DIFFERS = "differs"
GLUE_MISMATCH = "glue-mismatch"
STALE = "stale"
PROBLEMS = (UNREACHABLE, MISSING, EXTRA, DIFFERS, GLUE_MISMATCH, STALE)


class Problem(Record):
    """One disagreement between a site, the BDII and the repository index."""

    site: str
    problem: str
    tag: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"site": self.site, "problem": self.problem, "tag": self.tag, "detail": self.detail}


def _says(t: SiteTag) -> str:
    glue1 = "listed" if t.glue1 else "not listed"
    return f"GLUE 1.3 {glue1}, GLUE 2.0 {t.state or 'no entry'}"


def releases_of_tag(tag: str, releases: Iterable[Release]) -> list[Release]:
    """The releases whose tag, for some valid VO, is *tag* (case-insensitively), or whose ARC
    RunTimeEnvironment name it is (``ENV/PPS/<COMPONENT>-<VERSION>``, compared as tags are)."""
    ref = parse_rte_name(tag) if is_rte_name(tag) else None
    if ref is not None:
        key = release_tag_key(ref.component, ref.version)
        return [r for r in releases if release_tag_key(r.component, r.version) == key]
    folded = tag.casefold()
    found = []
    for r in releases:
        suffix = f"-PPS-{r.component}-{r.version}".casefold()
        if folded.startswith("vo-") and folded.endswith(suffix) and len(folded) > len(suffix) + 3:
            try:
                check_vo(folded[3 : -len(suffix)])
            except BadInput:
                continue
            found.append(r)
    return found


def _stale(tag: str, index: Index) -> str:
    """Why *tag* names no version in preview; ``""`` when it does (or is no version tag)."""
    if tag.casefold() == PREVIEW_CAPABILITY.casefold():
        return ""
    releases = releases_of_tag(tag, index.releases)
    if any(r.in_preview for r in releases):
        return ""
    if releases:
        r = releases[0]
        if r.withdrawn:
            return f"{r.key} was withdrawn from preview"
        return f"{r.key} is in stage {r.stage!r}, no longer in preview"
    parsed = parse_version_tag(tag) or (parse_rte_name(tag) if is_rte_name(tag) else None)
    if parsed is not None:
        return f"the repository index has no release {parsed.component} {parsed.version}"
    return "the repository index has no release with this tag"


def compare_site(
    name: str,
    said: Mapping[str, SiteTag] | None,
    bdii: Mapping[str, SiteTag],
    index: Index,
    error: str | None = None,
) -> list[Problem]:
    """The problems of one site: what it *said* (its GIP output; None with *error* when it
    could not be read) against what the *bdii* publishes for it, and both against *index*."""
    problems = []
    if error is not None:
        problems.append(
            Problem(name, UNREACHABLE, "", f"its GIP provider could not be run: {error}")
        )
    said = said or {}
    for key in sorted(set(said) | set(bdii)):
        s, b = said.get(key), bdii.get(key)
        tag = (b or s).tag  # type: ignore[union-attr]  # one of them is there
        if error is None:
            if s is not None and b is None:
                problems.append(
                    Problem(name, MISSING, tag, f"the site publishes {_says(s)}; the BDII nothing")
                )
            elif b is not None and s is None:
                problems.append(
                    Problem(name, EXTRA, tag, f"the BDII publishes {_says(b)}; the site nothing")
                )
            elif s is not None and b is not None and (s.glue1, s.state) != (b.glue1, b.state):
                problems.append(
                    Problem(
                        name, DIFFERS, tag, f"the site publishes {_says(s)}; the BDII {_says(b)}"
                    )
                )
        if b is not None and not is_rte_name(b.tag):  # an ARC RTE is GLUE 2.0's alone
            if b.glue1 and not b.state:
                detail = "GLUE 1.3 lists it, GLUE 2.0 has no entry for it"
            elif b.glue1 and not b.glue2_live:
                detail = f"GLUE 1.3 lists it, GLUE 2.0 says {b.state}"
            elif not b.glue1 and b.glue2_live:
                detail = f"GLUE 2.0 says {b.state}, GLUE 1.3 does not list it"
            else:
                detail = ""
            if detail:
                problems.append(Problem(name, GLUE_MISMATCH, tag, f"in the BDII: {detail}"))
        live = [t for t in (b, s) if t is not None and t.live]
        if live:
            why = _stale(live[0].tag, index)
            if why:
                where = "the BDII" if b is not None and b.live else "the site"
                problems.append(Problem(name, STALE, tag, f"{where} publishes it live, but {why}"))
    return problems


class CheckReport(Record):
    """What ``pps infosys check`` found."""

    url: str
    problems: tuple[Problem, ...]
    #: Inventory sites, in the order checked.
    sites: tuple[str, ...]
    errors: Mapping[str, str]
    warnings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "bdii": self.url,
            "ok": not self.problems,
            "problems": [p.as_json() for p in self.problems],
            "sites": {
                s: {
                    "problems": sum(1 for p in self.problems if p.site == s),
                    "error": self.errors.get(s),
                }
                for s in self.sites
            },
            "warnings": list(self.warnings),
        }


def check_infosys(
    config: Config,
    index: Index,
    how: InfosysSettings,
    transport_factory: Callable[[Site], Transport] | None = None,
) -> CheckReport:
    """Compare, site by site, what each site's GIP provider says (its tags files and the
    probe's state records) with what the BDII *how* names publishes, and every live tag with
    the repository *index*."""
    if not how.url:
        raise BadInput(
            "pps infosys check compares the sites with a BDII: give --infosys ldap://HOST:PORT "
            "or set [infosys] url in pps.toml"
        )
    bdii = read_bdii(
        how.url,
        timeout=how.timeout,
        max_values=how.max_values,
        inventory=inventory_map(config.sites),
    )
    said, errors = read_sites(config.sites, transport_factory)
    names = sorted((s.name for s in config.sites), key=lambda n: (n.casefold(), n))
    problems: list[Problem] = []
    order = {p: i for i, p in enumerate(PROBLEMS)}
    for name in names:
        at_bdii = bdii.site(name)
        at_site = said.site(name)
        found = compare_site(
            name,
            at_site.tags if at_site is not None else None,
            at_bdii.tags if at_bdii is not None else {},
            index,
            errors.get(name),
        )
        found.sort(key=lambda p: (order[p.problem], p.tag.casefold(), p.tag))
        problems += found
    return CheckReport(
        url=how.url,
        problems=tuple(problems),
        sites=tuple(names),
        errors=dict(errors),
        warnings=tuple(bdii.warnings + said.warnings),
    )
