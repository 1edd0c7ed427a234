"""``pps match`` against a real slapd with the GLUE schemas: sites that differ by tag (and its
letter case), OS, memory, CPU time and GLUE 2.0 state; JDL, HTCondor and xRSL jobs from the
templates, decided by their real engines; ``--explain`` names the failed clause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import distributor.cli.match  # noqa: F401  (registers 'pps match' until the lazy table names it)
from distributor.cli import cli
from jdl_templates import matching as engine
from jdl_templates.jobs import render_job
from pps.glue import (
    GLUE13_SUFFIX,
    PublishedTag,
    SubClusterInfo,
    glue2_app_env_entry,
    glue13_subcluster_entry,
)
from pps.names import PREVIEW_CAPABILITY, version_tag
from tests import bdii_helpers
from tests.bdii_helpers import Slapd

slapd = bdii_helpers.slapd

TAG = version_tag("dteam", "glite-UI", "3.2.8-0")
#: site -> (GLUE 1.3 tag spelling or None, GLUE 2.0 state or None, OS, RAM MB, MaxCPUTime min)
SITES = {
    "ALPHA": (TAG, "installedverified", "ScientificSL", 4096, 2880),
    "BRAVO": (TAG.lower(), None, "ScientificSL", 1024, 2880),
    "CHARLIE": (version_tag("dteam", "glite-UI", "3.2.7-0"), None, "ScientificSL", 4096, 2880),
    "DELTA": (TAG, "installedbroken", "ScientificSL", 4096, 2880),
    "ECHO": (TAG.upper(), None, "Ubuntu", 8192, 60),
}


def site_ldif(site: str, tag: str | None, state: str | None, os: str, ram: int, cpu: int) -> str:
    ce = f"ce.{site.lower()}.example.org"
    g1 = f"Mds-Vo-name={site},Mds-Vo-name=local,o=grid"
    res = f"Mds-Vo-name=resource,{g1}"
    g2 = f"GLUE2DomainID={site},GLUE2GroupID=grid,o=glue"
    g2res = f"GLUE2GroupID=resource,{g2}"
    tags = [PublishedTag(t) for t in (tag, PREVIEW_CAPABILITY) if t]
    info = SubClusterInfo(os_name=os, ram_size=ram, outbound_ip=True)
    sub = glue13_subcluster_entry(cluster=ce, subcluster=ce, tags=tags, info=info)
    records = [
        f"dn: {g1}\nobjectClass: MDS\nMds-Vo-name: {site}\n",
        f"dn: {res}\nobjectClass: MDS\nMds-Vo-name: resource\n",
        f"dn: GlueClusterUniqueID={ce},{res}\nobjectClass: GlueClusterTop\n"
        f"objectClass: GlueCluster\nGlueClusterUniqueID: {ce}\n",
        sub.replace(GLUE13_SUFFIX, res),
        f"dn: GlueCEUniqueID={ce}:8443/cream-pbs-dteam,{res}\nobjectClass: GlueCETop\n"
        "objectClass: GlueCE\nobjectClass: GlueCEPolicy\nobjectClass: GlueCEState\n"
        "objectClass: GlueCEAccessControlBase\nobjectClass: GlueKey\n"
        f"GlueCEUniqueID: {ce}:8443/cream-pbs-dteam\nGlueCEPolicyMaxCPUTime: {cpu}\n"
        "GlueCEStateEstimatedResponseTime: 10\nGlueCEAccessControlBaseRule: VO:dteam\n"
        f"GlueForeignKey: GlueClusterUniqueID={ce}\nGlueCEInfoHostName: {ce}\n",
        f"dn: {g2}\nobjectClass: GLUE2Domain\nobjectClass: GLUE2AdminDomain\n"
        f"GLUE2DomainID: {site}\n",
        f"dn: {g2res}\nobjectClass: GLUE2Group\nGLUE2GroupID: resource\n",
    ]
    if tag and state:
        records.append(
            glue2_app_env_entry(
                site=site, subcluster=ce, tag=PublishedTag(tag, state, "3.2.8-0"),
                manager_id=f"{ce}_Manager", created="2026-12-07T10:00:00Z", validity=3600,
                parent=g2res,
            )
        )  # fmt: skip
    return "\n".join(r.strip("\n") + "\n" for r in records)


FOXTROT = """\
dn: GLUE2DomainID=FOXTROT,GLUE2GroupID=grid,o=glue
objectClass: GLUE2Domain
objectClass: GLUE2AdminDomain
GLUE2DomainID: FOXTROT

dn: GLUE2GroupID=resource,GLUE2DomainID=FOXTROT,GLUE2GroupID=grid,o=glue
objectClass: GLUE2Group
GLUE2GroupID: resource

dn: GLUE2ApplicationEnvironmentID=urn:arc:rte:1,GLUE2GroupID=resource,GLUE2DomainID=FOXTROT,GLUE2GroupID=grid,o=glue
objectClass: GLUE2Entity
objectClass: GLUE2ApplicationEnvironment
GLUE2ApplicationEnvironmentID: urn:arc:rte:1
GLUE2ApplicationEnvironmentAppName: ENV/PPS/GLITE-UI
GLUE2ApplicationEnvironmentAppVersion: 3.2.8-0
GLUE2ApplicationEnvironmentState: installednotverified
GLUE2ApplicationEnvironmentComputingManagerForeignKey: arc.foxtrot_Manager
"""  # noqa: E501


@pytest.fixture
def bdii(slapd: Slapd) -> Slapd:
    slapd.add("\n".join(site_ldif(s, *v) for s, v in SITES.items()) + "\n" + FOXTROT)
    return slapd


def run_match(tmp_path: Path, url: str, name: str, text: str, *extra: str):
    job = tmp_path / name
    job.write_text(text)
    return CliRunner().invoke(
        cli, ["--config", str(tmp_path / "none.toml"), "match", str(job), "--infosys", url, *extra]
    )


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(cwd: Path, *args: str):
    return CliRunner().invoke(cli, list(args))


def matched(result) -> list[str]:
    return json.loads(result.output)["sites"]


JOB = {"lang": "jdl", "vo": "dteam", "previews": [("glite-UI", "3.2.8-0")]}


@pytest.mark.parametrize(("lang", "name"), [("jdl", "j.jdl"), ("condor", "j.sub")])
def test_only_sites_with_the_live_tag_in_any_case_match(
    bdii: Slapd, no_config: Path, lang: str, name: str
) -> None:
    (no_config / name).write_text(render_job(lang, vo="dteam", previews=[("glite-UI", "3.2.8-0")]))
    result = invoke(no_config, "match", name, "--infosys", bdii.url, "--json")
    assert result.exit_code == 0, result.output
    # DELTA lists it in GLUE 1.3 but GLUE 2.0 says broken; CHARLIE has another version.
    assert matched(result) == ["ALPHA", "BRAVO", "ECHO"]


def test_extra_requirements_on_memory_and_os_are_decided_per_site(
    bdii: Slapd, no_config: Path
) -> None:
    text = render_job(
        "jdl", vo="dteam", previews=[("glite-UI", "3.2.8-0")],
        requirement_expr='other.GlueHostMainMemoryRAMSize >= 2048 && '
        'other.GlueHostOperatingSystemName == "ScientificSL"',
    )  # fmt: skip
    (no_config / "j.jdl").write_text(text)
    result = invoke(no_config, "match", "j.jdl", "--infosys", bdii.url, "--json")
    assert matched(result) == ["ALPHA"]
    result = invoke(no_config, "match", "j.jdl", "--infosys", bdii.url, "--explain")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["SITE", "CE"]
    assert "1 of 5 site(s) in the BDII at" in result.output  # FOXTROT: GLUE 2.0 only
    bravo = next(x for x in lines if x.startswith("BRAVO "))
    assert "other.GlueHostMainMemoryRAMSize >= 2048" in bravo
    assert "Member(" not in bravo  # its tag clause held
    charlie = next(x for x in lines if x.startswith("CHARLIE "))
    assert f'Member("{TAG}"' in charlie
    echo = next(x for x in lines if x.startswith("ECHO "))
    assert "ScientificSL" in echo and "RAMSize" not in echo


def test_condor_memory_requirement_uses_the_machine_ad(bdii: Slapd, no_config: Path) -> None:
    text = render_job(
        "condor", vo="dteam", previews=[("glite-UI", "3.2.8-0")],
        requirement_expr="TARGET.Memory >= 2048",
    )  # fmt: skip
    (no_config / "j.sub").write_text(text)
    result = invoke(no_config, "match", "j.sub", "--infosys", bdii.url, "--json")
    assert matched(result) == ["ALPHA", "ECHO"]


@pytest.mark.parametrize(("lang", "name"), [("xrsl", "j.xrsl"), ("adl", "j.adl")])
def test_xrsl_and_adl_match_arc_rte_names(
    bdii: Slapd, no_config: Path, lang: str, name: str
) -> None:
    text = render_job(lang, vo="dteam", previews=[("glite-UI", "3.2.8-0")])
    (no_config / name).write_text(text)
    result = invoke(no_config, "match", name, "--infosys", bdii.url, "--json")
    assert result.exit_code == 0, result.output
    # FOXTROT publishes the ARC RTE in GLUE 2.0 only (as A-REX does).
    assert matched(result) == ["ALPHA", "BRAVO", "ECHO", "FOXTROT"]


def test_xrsl_cpu_time_is_checked_against_the_ces_limit(bdii: Slapd, no_config: Path) -> None:
    long = render_job("xrsl", vo="dteam", previews=[("glite-UI", "3.2.8-0")],
                      requirement_expr='(cputime="600")')  # fmt: skip
    (no_config / "long.xrsl").write_text(long)
    result = invoke(no_config, "match", "long.xrsl", "--infosys", bdii.url, "--explain")
    assert "ECHO ce.echo.example.org:8443/cream-pbs-dteam: fails cputime=600 min" in result.output


def test_no_site_is_exit_1(bdii: Slapd, no_config: Path) -> None:
    (no_config / "j.jdl").write_text(
        render_job("jdl", vo="atlas", previews=[("glite-UI", "3.2.8-0")])
    )
    result = invoke(no_config, "match", "j.jdl", "--infosys", bdii.url)
    assert result.exit_code == 1
    assert "no site in the BDII at" in result.output


def test_the_engine_agrees_with_classad2_on_every_ce(bdii: Slapd) -> None:
    """Each verdict is classad2's own symmetricMatch of the job and that CE's ad."""
    from distributor.cli.match import bdii_entries
    from jdl_templates.classads import match as classad_match

    by_site, warnings = bdii_entries(bdii.url, 30, 100_000)
    assert warnings == []
    found = engine.resources(by_site)
    assert sorted({r.site for r in found}) == sorted([*SITES, "FOXTROT"])
    text = render_job("jdl", vo="dteam", previews=[("glite-UI", "3.2.8-0")], capability=True)
    verdicts = engine.match_job(engine.parse_job(text, "jdl"), found)
    for r, v in zip(found, verdicts):
        assert v.matches is classad_match(text, r.glue), r


@pytest.mark.parametrize(
    ("text", "message"),
    [("A = ;\n", "is not a valid ClassAd"), ("\xff", "not UTF-8")],
)
def test_a_bad_job_file_is_exit_2(no_config: Path, text: str, message: str) -> None:
    (no_config / "bad.jdl").write_bytes(text.encode("latin-1"))
    result = invoke(no_config, "match", "bad.jdl", "--infosys", "ldap://127.0.0.1:9")
    assert result.exit_code == 2
    assert message in result.output


def test_split_conjuncts_respects_strings_and_parentheses() -> None:
    assert engine.split_conjuncts('(a && b) && "x && y" == c && (d)') == [
        "a",
        "b",
        '"x && y" == c',
        "d",
    ]
    assert engine.split_conjuncts("(a || b) && c") == ["a || b", "c"]
    assert engine.split_conjuncts("(a) || (b)") == ["(a) || (b)"]


@pytest.mark.parametrize(
    ("name", "text", "lang"),
    [
        ("x.jdl", "", "jdl"),
        ("x", "&(executable=a)", "xrsl"),
        ("x", '(* c *)\n&(executable="a")', "xrsl"),
        ("x", "executable = a\nqueue\n", "condor"),
        ("x", 'Executable = "a";\n', "jdl"),
        ("x.sub", "", "condor"),
        ("x", '<?xml version="1.0"?>\n<ActivityDescription/>', "adl"),
    ],
)
def test_detect_lang(name: str, text: str, lang: str) -> None:
    assert engine.detect_lang(text, name) == lang


def test_on_the_embedded_default_it_reads_the_sites_gip_output(grid, tmp_path: Path) -> None:
    from tests.test_cli_push import _release

    _release(grid)
    (grid.site_root("DELTA") / "etc/profile.d/grid.sh").write_text("unset SITE_NAME\n")
    assert grid.invoke("push", "tool", "1.0").exit_code == 1  # DELTA's tests fail
    job = tmp_path / "tool.sub"
    job.write_text(render_job("condor", vo="dteam", previews=[("tool", "1.0")]))
    result = grid.invoke("match", str(job), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"] == "the sites' GIP output"
    assert data["sites"] == ["ALPHA", "BRAVO", "CHARLIE"]
