"""pps-gip-provider: the tags files and state records of a site as GLUE 1.3 + 2.0 LDIF."""

from __future__ import annotations

from pathlib import Path

import pytest

from pps.glue import (
    RTE_ATTR,
    STATE_BROKEN,
    STATE_VERIFIED,
    PublishedTag,
    parse_ldif,
    published_tags,
)
from probes._state import LocalTestResult, StateRecord, write_state
from probes._tagsfile import add_tags, legacy_tags_file
from probes.gip_provider import main
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


def record(tmp_path: Path, version: str, status: str, vos: tuple[str, ...]) -> None:
    test = LocalTestResult("runs", status == "verified", 0 if status == "verified" else 1, 0.1)
    write_state(
        tmp_path / "preview" / ".pps" / "state" / "glite-UI" / f"{version}.json",
        StateRecord("glite-UI", version, SHA, status, vos=vos, tests=(test,)),
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
