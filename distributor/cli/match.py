"""``pps match JOB``: the sites where a job would run now, and why not at the others.

Thin: the resources and the evaluation are :mod:`jdl_templates.matching`; this module reads the
information system (a BDII: two searches, GLUE 1.3 CEs and SubClusters, GLUE 2.0
ApplicationEnvironments; else each site's own GIP output through its transport) and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from distributor.cli import BadInputError, CliContext, cli, emit_json, pass_context, say, table
from distributor.infosys.bdii import BdiiReader
from distributor.infosys.collect import collect_site_ldif, settings
from pps.errors import BadInput
from pps.glue import parse_ldif
from pps.publication import GLUE2_BASE, GLUE13_BASE, OTHER_INFO, PPS_SITE_KEY, dn_site

MAX_JOB_BYTES = 1 << 20


def bdii_entries(
    url: str, timeout: float, max_values: int, glue2_filter: str = ""
) -> tuple[dict[str, list[Any]], list[str]]:
    """``({site: entries}, warnings)`` from the BDII at *url* (every GLUE 2.0
    ApplicationEnvironment, or those *glue2_filter* selects)."""
    from jdl_templates.matching import GLUE2_ATTRS, GLUE13_ATTRS

    by_site: dict[str, list[Any]] = {}
    warnings: list[str] = []
    cache: dict[tuple[str, str], str] = {}
    with BdiiReader(url, timeout=timeout, max_values=max_values) as r:
        glue1 = r.search(
            GLUE13_BASE, "(|(objectClass=GlueCE)(objectClass=GlueSubCluster))", GLUE13_ATTRS
        )
        glue2 = r.search(
            GLUE2_BASE, glue2_filter or "(objectClass=GLUE2ApplicationEnvironment)", GLUE2_ATTRS
        )
    for entries, attribute in ((glue1, "mds-vo-name"), (glue2, "glue2domainid")):
        for e in entries:
            try:
                site = dn_site(e.dn, attribute, cache)
            except BadInput:
                site = ""
            if not site:
                site = next(
                    (
                        v[len(PPS_SITE_KEY) :]
                        for v in e.get(OTHER_INFO)
                        if v.startswith(PPS_SITE_KEY)
                    ),
                    "",
                )
            if not site:
                warnings.append(f"skipped {e.dn}: it names no site")
                continue
            by_site.setdefault(site, []).append(e)
    return by_site, warnings


def gip_entries(config: Any) -> tuple[dict[str, list[Any]], list[str]]:
    """``({site: entries}, warnings)`` from every site's own GIP output."""

    published, errors = collect_site_ldif(config.sites, None)
    by_site: dict[str, list[Any]] = {}
    warnings = [f"{name}: {err}" for name, err in sorted(errors.items())]
    for name, text in published.items():
        try:
            by_site[name] = parse_ldif(text, source=f"LDIF published by site {name}")
        except BadInput as e:
            warnings.append(str(e))
    return by_site, warnings


@cli.command("match")
@click.argument("job_file", metavar="JOB", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--lang",
    type=click.Choice(["jdl", "xrsl", "adl", "condor"]),
    default=None,
    help="The job's language. Default: from its suffix (.jdl, .xrsl, .adl, .sub), else its text.",
)
@click.option(
    "--infosys",
    "infosys_url",
    metavar="URL",
    default=None,
    help="The BDII to read, ldap://HOST:PORT. Default: [infosys] url of pps.toml, "
    "else each site's own GIP output.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=None,
    help="Seconds the BDII read may take. Default: [infosys] timeout, else 30.",
)
@click.option("--explain", is_flag=True, help="Say, per other CE, which clause failed.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@pass_context
def match(
    state: CliContext,
    job_file: Path,
    lang: str | None,
    infosys_url: str | None,
    timeout: float | None,
    explain: bool,
    as_json: bool,
) -> None:
    """List the sites where JOB (a JDL, xRSL, ADL or HTCondor submit file) would run now.

    The job is parsed by its language's engine (ClassAds for JDL and submit files, ARC's
    parser for xRSL) and evaluated against one resource per CE built from the information
    system: GLUE 1.3 CE and SubCluster attributes (RunTimeEnvironment, OS, architecture,
    memory, CPU time, outbound IP), GLUE 2.0 ApplicationEnvironments and their states.
    Exit 0 when some site matches, 1 when none does, 2 on bad input.

    \b
    Example:
      pps match job.jdl --infosys ldap://bdii.example.org:2170 --explain
    """
    from jdl_templates import matching as engine

    try:
        with open(job_file, "rb") as f:
            raw = f.read(MAX_JOB_BYTES + 1)
    except OSError as e:
        raise BadInputError(f"cannot read {job_file}: {e.strerror}") from None
    if len(raw) > MAX_JOB_BYTES:
        raise BadInputError(f"{job_file} is larger than {MAX_JOB_BYTES} bytes: not a job file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{job_file} is not UTF-8 text") from None
    lang = lang or engine.detect_lang(text, job_file.name)
    job = engine.parse_job(text, lang, str(job_file))
    config = state.optional_config()
    how = settings(config, infosys_url, timeout, None)
    if how.url:
        by_site, warnings = bdii_entries(
            how.url, how.timeout, how.max_values, engine.glue2_filter(job)
        )
        source = f"the BDII at {how.url}"
    elif config is None:
        raise BadInputError(
            "pps match needs a BDII (--infosys ldap://HOST:PORT, [infosys] url) or the "
            "inventory (pps.toml) to read the sites' own GIP output"
        )
    else:
        by_site, warnings = gip_entries(config)
        source = "the sites' GIP output"
    found = engine.resources(by_site)
    verdicts = engine.match_job(job, found, explain=explain)
    sites = sorted({v.site for v in verdicts if v.matches}, key=str.casefold)
    if as_json:
        emit_json({
            "lang": lang, "source": source, "sites": sites, "warnings": warnings,
            "ces": [{"site": v.site, "ce": v.ce, "matches": v.matches, "failed": list(v.failed)}
                    for v in verdicts],
        })  # fmt: skip
    else:
        for w in warnings:
            say(f"warning: {w}", err=True)
        if sites:
            table(("SITE", "CE"), [(v.site, v.ce) for v in verdicts if v.matches])
            click.echo(f"{len(sites)} of {len(by_site)} site(s) in {source} would run the job")
        else:
            click.echo(f"no site in {source} would run the job ({len(by_site)} read)")
        if explain:
            for v in verdicts:
                if not v.matches:
                    why = "; ".join(v.failed) or "the job's requirements are not true there"
                    say(f"{v.site} {v.ce}: fails {why}")
    if not sites:
        sys.exit(1)
