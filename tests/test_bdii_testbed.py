"""The BDII testbed (tests/bdii_helpers.py) proves itself: a real slapd with the GLUE schemas
answers, keeps what is added, refuses what its schema refuses, and Debian's bdii-update (through
the OpenLDAP 2.5 compatibility wrapper) loads a provider's entries into it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pps.glue import parse_ldif
from tests import bdii_helpers
from tests.bdii_helpers import COMPAT_DIR, BdiiUpdate, Slapd, normalize_dn, split_dn

slapd = bdii_helpers.slapd  # the fixtures, in this module
slapd_factory = bdii_helpers.slapd_factory

SUBCLUSTER = """\
dn: GlueSubClusterUniqueID=ce01.example.org,GlueClusterUniqueID=ce01.example.org,Mds-Vo-name=re
 source,o=grid
objectClass: GlueClusterTop
objectClass: GlueSubCluster
objectClass: GlueHostApplicationSoftware
GlueSubClusterUniqueID: ce01.example.org
GlueHostApplicationSoftwareRunTimeEnvironment: VO-dteam-PPS-glite-UI-3.2.8-0
"""


def test_slapd_answers_with_the_seeded_bdii_tree(slapd: Slapd) -> None:
    dns = {normalize_dn(e.dn) for e in parse_ldif(slapd.search("o=grid"))}
    assert "mds-vo-name=resource,o=grid" in dns
    glue = {normalize_dn(e.dn) for e in parse_ldif(slapd.search("o=glue"))}
    assert "glue2groupid=resource,o=glue" in glue
    assert slapd.url == f"ldap://127.0.0.1:{slapd.port}"


def test_a_subcluster_added_without_its_cluster_is_read_back_by_ldapsearch(slapd: Slapd) -> None:
    slapd.add(SUBCLUSTER)
    text = slapd.search("o=grid", "(GlueSubClusterUniqueID=ce01.example.org)")
    (entry,) = parse_ldif(text)
    assert entry.get("GlueHostApplicationSoftwareRunTimeEnvironment") == [
        "VO-dteam-PPS-glite-UI-3.2.8-0"
    ]
    # The missing cluster entry was made for it.
    assert slapd.exists("GlueClusterUniqueID=ce01.example.org,Mds-Vo-name=resource,o=grid")


def test_schema_checking_refuses_an_entry_without_a_mandatory_attribute(slapd: Slapd) -> None:
    result = slapd.add(
        "dn: GLUE2ApplicationEnvironmentID=x,GLUE2GroupID=resource,o=glue\n"
        "objectClass: GLUE2ApplicationEnvironment\n"
        "GLUE2ApplicationEnvironmentID: x\n",
        check=False,
    )
    assert result.returncode != 0
    assert "GLUE2ApplicationEnvironmentAppName" in result.stderr or "65" in result.stderr
    with pytest.raises(bdii_helpers.LdapError):
        slapd.add(
            "dn: GLUE2ApplicationEnvironmentID=y,GLUE2GroupID=resource,o=glue\n"
            "objectClass: GLUE2ApplicationEnvironment\n"
            "GLUE2ApplicationEnvironmentID: y\n"
        )


def test_dns_split_at_unescaped_commas_and_compare_without_case() -> None:
    assert split_dn(r"A=x\,y, B=z,o=grid") == [r"A=x\,y", "B=z", "o=grid"]
    assert normalize_dn("Mds-Vo-name=Resource , o=Grid") == "mds-vo-name=resource,o=grid"


def test_the_compat_wrapper_turns_host_and_port_into_a_url(slapd: Slapd) -> None:
    out = subprocess.run(
        [str(COMPAT_DIR / "ldapsearch"), "-x", "-LLL", "-h", "127.0.0.1", "-p", str(slapd.port)]
        + ["-b", "o=grid", "-s", "base"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "dn: o=grid" in out.stdout


TRIVIAL_PROVIDER = (
    "#!/bin/sh\ncat <<'EOF'\n"
    "dn: GlueClusterUniqueID=c1,Mds-Vo-name=resource,o=grid\n"
    "objectClass: GlueClusterTop\nobjectClass: GlueCluster\nGlueClusterUniqueID: c1\n\nEOF\n"
)


def test_bdii_update_runs_a_trivial_provider_once(slapd: Slapd, tmp_path: Path) -> None:
    bdii = BdiiUpdate(slapd, tmp_path / "bdii")
    bdii.add_provider("trivial", TRIVIAL_PROVIDER)
    merged = bdii.run_once()
    assert "dn: GlueClusterUniqueID=c1,Mds-Vo-name=resource,o=grid" in merged
    assert "dn: mds-vo-name=resource,o=grid" in merged  # the seed of its ldif dir


def test_bdii_update_daemon_loads_a_provider_into_slapd(slapd: Slapd, tmp_path: Path) -> None:
    bdii = BdiiUpdate(slapd, tmp_path / "bdii")
    bdii.add_provider("trivial", TRIVIAL_PROVIDER)
    bdii.start_daemon()
    try:
        bdii.wait_for(lambda: slapd.exists("GlueClusterUniqueID=c1,Mds-Vo-name=resource,o=grid"))
    finally:
        bdii.stop()


def test_without_the_compat_wrapper_debians_bdii_update_loads_nothing(
    slapd: Slapd, tmp_path: Path
) -> None:
    """The problem contrib/bdii/openldap25-compat solves, as it shows at a site."""
    bdii = BdiiUpdate(slapd, tmp_path / "bdii", compat=False)
    bdii.add_provider("trivial", TRIVIAL_PROVIDER)
    bdii.start_daemon()
    try:
        bdii.wait_for(lambda: bdii.log().count("Query to self failed") >= 2)
    finally:
        bdii.stop()
    assert "unrecognized option" in bdii.log()
    assert not slapd.exists("GlueClusterUniqueID=c1,Mds-Vo-name=resource,o=grid")


def test_the_compat_wrapper_rewrites_only_host_and_port_and_keeps_the_rest_in_order(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldapadd").write_text('#!/bin/sh\nfor a in "$@"; do printf "<%s>\\n" "$a"; done\n')
    (fake / "ldapadd").chmod(0o755)

    def args(*argv: str) -> list[str]:
        out = subprocess.run(
            [str(COMPAT_DIR / "ldapadd"), *argv],
            capture_output=True,
            text=True,
            timeout=30,
            env={"LDAP_BIN": str(fake), "PATH": "/usr/bin:/bin"},
            check=True,
        )
        return [line[1:-1] for line in out.stdout.splitlines()]

    assert args("-d", "256", "-x", "-c", "-h", "127.0.0.1", "-p", "2170", "-D", "o=grid") == [
        "-H", "ldap://127.0.0.1:2170", "-d", "256", "-x", "-c", "-D", "o=grid",
    ]  # fmt: skip
    assert args("-LLL", "-h", "bdii.example.org:2170", "-b", "o=a b") == [
        "-H", "ldap://bdii.example.org:2170", "-LLL", "-b", "o=a b",
    ]  # fmt: skip
    assert args("-hlocalhost", "-p2170", "-w", "") == ["-H", "ldap://localhost:2170", "-w", ""]
    assert args("-H", "ldap://x:1", "-x") == ["-H", "ldap://x:1", "-x"]
