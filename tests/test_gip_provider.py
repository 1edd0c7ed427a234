"""pps-gip-provider: the tags files, state records and site file of a site as GLUE 1.3 + 2.0
LDIF, in provider mode (full entries) and plugin mode (RTE values for bdii-update to merge)."""

from __future__ import annotations

import calendar
import subprocess
import time
from pathlib import Path

import pytest

from pps.glue import (
    RTE_ATTR,
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    Entry,
    PublishedTag,
    SubClusterInfo,
    parse_ldif,
    published_tags,
)
from probes._records import LocalTestResult, VersionRecord, write_record
from probes._siteconfig import GLUE_KEYS, SiteConfigError, check_values
from probes._tagsfile import add_tags, legacy_tags_file
from probes.gip_provider import main
from tests.bdii_helpers import gip_command
from tests.probe_helpers import run_module

SC = "ce01.example.org"
SHA = "a" * 64


def provider_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--site", "INFN-PISA",
        "--subcluster", SC,
        "--info-dir", str(tmp_path / "info"),
        "--preview-root", str(tmp_path / "preview"),
        *extra,
    ]  # fmt: skip


def record(tmp_path: Path, version: str, status: str, vos: tuple[str, ...], **fields: str) -> None:
    test = LocalTestResult("runs", status == "verified", 0 if status == "verified" else 1, 0.1)
    write_record(
        tmp_path / "preview" / ".pps" / "state" / "glite-UI" / f"{version}.json",
        VersionRecord("glite-UI", version, SHA, status, vos=vos, tests=(test,), **fields),
    )


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(provider_args(tmp_path, *extra))
    out, err = capsys.readouterr()
    return code, out, err


def test_live_tags_are_published_in_glue13_and_glue2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = tmp_path / "info"
    add_tags(info, SC, "dteam", ["VO-dteam-PPS-glite-UI-3.2.8-0", "PPS-PREVIEW", "VO-dteam-X"])
    add_tags(info, SC, "ops", ["VO-ops-PPS-glite-UI-3.2.8-0", "pps-preview"])
    record(tmp_path, "3.2.8-0", "verified", ("dteam", "ops"))

    code, out, err = run(tmp_path, capsys)

    assert (code, err) == (0, "")
    entries = parse_ldif(out)
    sc = [e for e in entries if e.has_class("GlueSubCluster")]
    assert [e.dn for e in sc] == [
        f"GlueSubClusterUniqueID={SC},GlueClusterUniqueID={SC},Mds-Vo-name=resource,o=grid"
    ]
    assert sc[0].get(RTE_ATTR) == [
        "PPS-PREVIEW",
        "VO-dteam-PPS-glite-UI-3.2.8-0",
        "VO-dteam-X",
        "VO-ops-PPS-glite-UI-3.2.8-0",
    ]
    versions = {
        e.first("GLUE2ApplicationEnvironmentAppName"): (
            e.first("GLUE2ApplicationEnvironmentState"),
            e.first("GLUE2ApplicationEnvironmentAppVersion"),
        )
        for e in entries
        if e.has_class("GLUE2ApplicationEnvironment")
    }
    assert versions == {
        "PPS-PREVIEW": (STATE_VERIFIED, ""),
        "VO-dteam-PPS-glite-UI-3.2.8-0": (STATE_VERIFIED, "3.2.8-0"),
        "VO-dteam-X": (STATE_VERIFIED, ""),
        "VO-ops-PPS-glite-UI-3.2.8-0": (STATE_VERIFIED, "3.2.8-0"),
    }
    assert all(t.live for t in published_tags(entries).values())


def test_broken_version_appears_only_in_glue2_as_installedbroken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])
    record(tmp_path, "3.2.9-0", "broken", ("dteam",))
    record(tmp_path, "3.2.10-0", "awaiting-configuration", ("dteam",))

    code, out, _ = run(tmp_path, capsys)

    assert code == 0
    entries = parse_ldif(out)
    rte = [v for e in entries for v in e.get(RTE_ATTR)]
    assert rte == ["PPS-PREVIEW"]
    tags = published_tags(entries)
    assert tags["vo-dteam-pps-glite-ui-3.2.9-0"] == PublishedTag(
        "VO-dteam-PPS-glite-UI-3.2.9-0", STATE_BROKEN, "3.2.9-0"
    )
    assert sorted(tags) == ["pps-preview", "vo-dteam-pps-glite-ui-3.2.9-0"]


def test_broken_record_wins_over_a_stale_tags_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["VO-dteam-PPS-glite-UI-3.2.9-0"])
    record(tmp_path, "3.2.9-0", "broken", ("dteam",))

    _, out, _ = run(tmp_path, capsys)

    entries = parse_ldif(out)
    assert [v for e in entries for v in e.get(RTE_ATTR)] == []
    assert published_tags(entries)["vo-dteam-pps-glite-ui-3.2.9-0"].state == STATE_BROKEN


def test_legacy_tags_files_and_cluster_are_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = legacy_tags_file(tmp_path / "info", "atlas")
    legacy.parent.mkdir(parents=True)
    legacy.write_text("# old layout\nVO-atlas-offline-17.0\n")

    code, out, _ = run(tmp_path, capsys, "--cluster", "ce01-cluster")

    assert code == 0
    sc = parse_ldif(out)[0]
    assert sc.dn.startswith(f"GlueSubClusterUniqueID={SC},GlueClusterUniqueID=ce01-cluster,")
    assert sc.get(RTE_ATTR) == ["VO-atlas-offline-17.0"]


def test_missing_info_dir_publishes_an_entry_without_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(tmp_path, capsys)

    assert (code, err) == (0, "")
    entries = parse_ldif(out)
    assert len(entries) == 1
    assert entries[0].get(RTE_ATTR) == []


def test_unreadable_state_record_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "preview" / ".pps" / "state" / "glite-UI" / "1.0.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{")
    record(tmp_path, "3.2.9-0", "broken", ("dteam",))

    code, out, err = run(tmp_path, capsys)

    assert code == 0
    assert err.startswith(f"pps-gip-provider: warning: skipping {bad}: {bad} is not valid JSON")
    assert "vo-dteam-pps-glite-ui-3.2.9-0" in published_tags(parse_ldif(out))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--site", "bad site"],
            "pps-gip-provider: error: site name 'bad site' is not valid: use only letters, "
            "digits, '.', '_' and '-'\n",
        ),
        (
            ["--subcluster", "../x"],
            "pps-gip-provider: error: subcluster '../x' is not valid: use letters, digits, '.', "
            "'_' and '-' (a host name such as ce01.example.org)\n",
        ),
        (
            ["--bogus"],
            "pps-gip-provider: error: unrecognized arguments: --bogus (see --help)\n",
        ),
    ],
    ids=["site", "subcluster", "unknown-option"],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(tmp_path, capsys, *args)

    assert (code, out, err) == (1, "", message)


def test_runs_as_a_module(tmp_path: Path) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])

    proc = run_module("probes.gip_provider", provider_args(tmp_path))

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "# pps preview tags of site INFN-PISA\ndn: GlueSubClusterUniqueID"
    )
    assert f"{RTE_ATTR}: PPS-PREVIEW\n" in proc.stdout


# -- states -------------------------------------------------------------------------------------


def _apps(text: str) -> dict[str, Entry]:
    return {
        e.first("GLUE2ApplicationEnvironmentAppName"): e
        for e in parse_ldif(text)
        if e.has_class("GLUE2ApplicationEnvironment")
    }


def test_a_tagged_version_whose_tests_did_not_complete_is_installednotverified_and_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["VO-dteam-PPS-glite-UI-3.2.8-0"])
    record(tmp_path, "3.2.8-0", "untested", ("dteam",), installed_at="2010-05-20T09:30:00Z")
    # An untested version without its tag (a new tarball being fetched) is not published.
    record(tmp_path, "3.2.9-0", "untested", ("dteam",))

    _, out, _ = run(tmp_path, capsys)

    tags = published_tags(parse_ldif(out))
    assert sorted(tags) == ["vo-dteam-pps-glite-ui-3.2.8-0"]
    assert tags["vo-dteam-pps-glite-ui-3.2.8-0"].state == STATE_NOT_VERIFIED
    assert [v for e in parse_ldif(out) for v in e.get(RTE_ATTR)] == [
        "VO-dteam-PPS-glite-UI-3.2.8-0"
    ]
    app = _apps(out)["VO-dteam-PPS-glite-UI-3.2.8-0"]
    assert "InstalledAt=2010-05-20T09:30:00Z" in app.get("GLUE2EntityOtherInfo")


def test_a_retired_version_is_pending_removal_until_its_grace_period_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(tmp_path, "3.2.7-0", "retired", ("dteam",), retired_at="2010-06-01T12:00:00Z")
    site_file = tmp_path / "site.toml"
    site_file.write_text('site = "INFN-PISA"\nretire_grace = 7200\n')

    _, out, _ = run(tmp_path, capsys, "--site-config", str(site_file))

    app = _apps(out)["VO-dteam-PPS-glite-UI-3.2.7-0"]
    assert app.first("GLUE2ApplicationEnvironmentState") == STATE_PENDING_REMOVAL
    assert app.get("GLUE2ApplicationEnvironmentRemovalDate") == ["2010-06-01T14:00:00Z"]


def test_glue2_creation_time_is_when_the_information_was_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])
    before = int(time.time())

    _, out, _ = run(tmp_path, capsys)

    app = _apps(out)["PPS-PREVIEW"]
    created = app.first("GLUE2EntityCreationTime")
    stamp = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    assert before - 1 <= stamp <= time.time() + 1
    assert app.first("GLUE2EntityValidity") == "3600"


def test_a_tag_containing_dn_colon_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW", "X-dn:o=evil"])

    code, out, err = run(tmp_path, capsys)

    assert code == 0
    assert "dn:o=evil" not in out
    assert "skipping 'X-dn:o=evil'" in err
    assert sorted(published_tags(parse_ldif(out))) == ["pps-preview"]


# -- modes --------------------------------------------------------------------------------------


def test_provider_mode_publishes_the_full_subcluster_and_glue2_only_leaves_glue13_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])

    _, full, _ = run(tmp_path, capsys, "--mode", "provider")
    _, only2, _ = run(tmp_path, capsys, "--glue2-only")
    _, with_cluster, _ = run(tmp_path, capsys, "--publish-cluster")

    sc = parse_ldif(full)[0]
    assert sc.has_class("GlueHostMainMemory") and sc.first("GlueHostArchitectureSMPSize") == "1"
    assert [e.dn.split(",", 1)[1] for e in parse_ldif(only2)] == ["GLUE2GroupID=resource,o=glue"]
    assert parse_ldif(with_cluster)[0].dn == f"GlueClusterUniqueID={SC},Mds-Vo-name=resource,o=grid"


def test_plugin_mode_prints_only_a_change_record_adding_the_live_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW", "VO-dteam-PPS-glite-UI-3.2.8-0"])
    record(tmp_path, "3.2.9-0", "broken", ("dteam",))

    code, out, err = run(tmp_path, capsys, "--mode", "plugin", "--cluster", "cl01")

    assert (code, err) == (0, "")
    unfolded = out.replace("\n ", "")
    assert unfolded.splitlines() == [
        "# pps preview tags of site INFN-PISA (bdii-update plugin)",
        f"dn: GlueSubClusterUniqueID={SC},GlueClusterUniqueID=cl01,Mds-Vo-name=resource,o=grid",
        "changetype: modify",
        f"add: {RTE_ATTR}",
        f"{RTE_ATTR}: PPS-PREVIEW",
        f"{RTE_ATTR}: VO-dteam-PPS-glite-UI-3.2.8-0",
        "-",
    ]


@pytest.mark.parametrize(
    "args",
    [["--mode", "plugin", "--glue2-only"], ["--mode", "plugin", "--publish-cluster"]],
    ids=["glue2-only", "publish-cluster"],
)
def test_provider_only_options_are_refused_in_plugin_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(tmp_path, capsys, *args)

    assert (code, out) == (1, "")
    assert err == (
        "pps-gip-provider: error: --glue2-only and --publish-cluster are for --mode provider\n"
    )


def test_both_modes_run_as_the_installed_program(tmp_path: Path) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])

    provider = subprocess.run(
        [*gip_command(), *provider_args(tmp_path)], capture_output=True, text=True, timeout=60
    )
    plugin = subprocess.run(
        [*gip_command(), "--mode", "plugin", *provider_args(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (provider.returncode, provider.stderr) == (0, "")
    assert (plugin.returncode, plugin.stderr) == (0, "")
    assert published_tags(parse_ldif(provider.stdout))["pps-preview"].state == STATE_VERIFIED
    assert "\nchangetype: modify\n" in plugin.stdout
    assert f"\n{RTE_ATTR}: PPS-PREVIEW\n" in plugin.stdout


# -- the site file ------------------------------------------------------------------------------

SITE_FILE = """\
site = "INFN-PISA"
vos = ["dteam"]
subcluster = "ce01.example.org"
cluster = "cluster01.example.org"
info_dir = "{info}"
preview_root = "{preview}"

[glue]
manager_id = "ce01.example.org_Manager"
validity = 600
physical_cpus = 64
logical_cpus = 256
smp_size = 4
os_name = "ScientificSL"
os_release = "5.5"
os_version = "Boron"
ram_size = 16384
inbound_ip = true
wn_tmp_dir = "/scratch"
"""


def _site_file(tmp_path: Path, text: str = SITE_FILE) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text.format(info=tmp_path / "info", preview=tmp_path / "preview"))
    return path


def test_the_site_file_gives_the_subcluster_its_values_and_the_flags_override_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_tags(tmp_path / "info", SC, "dteam", ["PPS-PREVIEW"])
    site_file = _site_file(tmp_path)

    code, out, err = capsys_main(capsys, "--site-config", str(site_file))
    _, flagged, _ = capsys_main(capsys, "--site-config", str(site_file), "--cluster", "other")

    assert (code, err) == (0, "")
    entries = parse_ldif(out)
    sc = entries[0]
    assert sc.dn == (
        f"GlueSubClusterUniqueID={SC},GlueClusterUniqueID=cluster01.example.org,"
        "Mds-Vo-name=resource,o=grid"
    )
    assert {
        a: sc.first(a)
        for a in (
            "GlueSubClusterPhysicalCPUs",
            "GlueSubClusterLogicalCPUs",
            "GlueHostArchitectureSMPSize",
            "GlueHostOperatingSystemName",
            "GlueHostOperatingSystemRelease",
            "GlueHostOperatingSystemVersion",
            "GlueHostMainMemoryRAMSize",
            "GlueHostNetworkAdapterInboundIP",
            "GlueSubClusterWNTmpDir",
            "GlueSubClusterTmpDir",  # not in the file: the default
        )
    } == {
        "GlueSubClusterPhysicalCPUs": "64",
        "GlueSubClusterLogicalCPUs": "256",
        "GlueHostArchitectureSMPSize": "4",
        "GlueHostOperatingSystemName": "ScientificSL",
        "GlueHostOperatingSystemRelease": "5.5",
        "GlueHostOperatingSystemVersion": "Boron",
        "GlueHostMainMemoryRAMSize": "16384",
        "GlueHostNetworkAdapterInboundIP": "TRUE",
        "GlueSubClusterWNTmpDir": "/scratch",
        "GlueSubClusterTmpDir": "/tmp",
    }
    app = _apps(out)["PPS-PREVIEW"]
    assert app.first("GLUE2ApplicationEnvironmentComputingManagerForeignKey") == (
        "ce01.example.org_Manager"
    )
    assert app.first("GLUE2EntityValidity") == "600"
    assert ",GlueClusterUniqueID=other," in parse_ldif(flagged)[0].dn


def capsys_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("glue", "message"),
    [
        ('ram_size = "16GB"', "'glue.ram_size' must be a whole number >= 0, got '16GB'"),
        ("inbound_ip = 1", "'glue.inbound_ip' must be true or false, got 1"),
        ("validity = 0", "'glue.validity' must be a whole number >= 1, got 0"),
        ("logical_cpus = 4294967296", "'glue.logical_cpus' must be at most 2147483647"),
        ('os_name = "Débian"', "'glue.os_name' must be printable ASCII"),
        ('os_name = "x dn: y"', "'glue.os_name' must not contain 'dn:'"),
        ('tmp_dir = "tmp"', "'glue.tmp_dir' must be an absolute path, got 'tmp'"),
        ('glue2_parent = "GLUE2GroupID=resource"', "'glue.glue2_parent' must be a DN under o=glue"),
        ("ram = 1", "unknown key 'glue.ram' (known: benchmark_sf00, benchmark_si00, "),
    ],
    ids=["int", "bool", "validity", "int32", "ascii", "dn", "path", "parent", "unknown"],
)
def test_a_bad_glue_value_in_the_site_file_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], glue: str, message: str
) -> None:
    site_file = _site_file(tmp_path, f'site = "X"\nsubcluster = "{SC}"\n[glue]\n{glue}\n')

    code, out, err = capsys_main(capsys, "--site-config", str(site_file))

    assert (code, out) == (1, "")
    assert err.startswith(f"pps-gip-provider: error: site file {site_file}: {message}")
    assert err.count("\n") == 1


def test_the_probe_reads_the_same_glue_table_and_its_keys_are_the_providers() -> None:
    checked = check_values({"glue": {"ram_size": 2048, "publish_cluster": True}})
    assert checked == {"glue": {"ram_size": 2048, "publish_cluster": True}}
    with pytest.raises(SiteConfigError, match="'glue' must be a table"):
        check_values({"glue": 3})
    provider_keys = {"manager_id", "validity", "glue2_parent", "publish_cluster"}
    assert GLUE_KEYS == set(SubClusterInfo.keys()) | provider_keys


def test_without_a_site_file_site_and_subcluster_are_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = capsys_main(capsys, "--no-site-config", "--subcluster", SC)

    assert (code, out) == (1, "")
    assert err == "pps-gip-provider: error: --site is needed (--no-site-config)\n"
    code, _, err = capsys_main(capsys, "--site-config", str(_site_file(tmp_path, 'site = "X"\n')))
    assert code == 1
    assert err.startswith("pps-gip-provider: error: --subcluster is needed (the site file ")
