"""``pps job`` through the CLI, after a real push to local sites (their GIP output read back)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import htcondor2
import pytest
from click.testing import CliRunner

import distributor.cli.job  # noqa: F401  (registers 'pps job' until the lazy table names it)
from distributor.cli import cli
from jdl_templates import classads
from jdl_templates.jobs import WRAPPER, wrapper_text
from tests.test_cli_push import _release


@pytest.fixture
def pushed(grid):
    _release(grid)
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code in (0, 1), result.output
    return grid


def test_job_where_the_version_is_live_has_no_warning(pushed) -> None:
    result = pushed.invoke("job", "tool", "1.0", "--vo", "dteam", "--lang", "condor")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    sub = htcondor2.Submit(result.output)
    assert sub["executable"] == WRAPPER
    assert 'stringListIMember("VO-dteam-PPS-tool-1.0", TARGET.PPS_RTE)' in sub["requirements"]


def test_a_vo_no_site_serves_is_a_warning_and_strict_refuses(pushed, tmp_path: Path) -> None:
    result = pushed.invoke("job", "tool", "1.0", "--vo", "atlas")
    assert result.exit_code == 0
    assert "warning: no site publishes tool 1.0 for atlas (VO-atlas-PPS-tool-1.0)" in result.output
    classads.parse_jdl(result.output.split("\n", 1)[1])
    out = tmp_path / "job.jdl"
    result = pushed.invoke("job", "tool", "1.0", "--vo", "atlas", "--strict", "-o", str(out))
    assert result.exit_code == 1
    assert "error: no site publishes tool 1.0 for atlas" in result.output
    assert "refused (--strict): nothing written" in result.output
    assert not out.exists() and not (tmp_path / WRAPPER).exists()


def test_a_version_not_pushed_anywhere_is_a_warning(grid) -> None:
    _release(grid)
    result = grid.invoke("job", "tool", "1.0", "--vo", "dteam", "--strict")
    assert result.exit_code == 1
    assert "no site publishes tool 1.0 for dteam" in result.output


def test_a_withdrawn_version_is_a_warning(pushed) -> None:
    result = pushed.invoke("remove", "tool", "1.0", "--yes")
    assert result.exit_code in (0, 1), result.output
    result = pushed.invoke("job", "tool", "1.0", "--vo", "dteam", "--no-check")
    assert result.exit_code == 0
    assert "warning: tool 1.0 is withdrawn: sites retire it" in result.output


def test_out_writes_the_job_and_the_wrapper(pushed, tmp_path: Path) -> None:
    out = tmp_path / "job.xrsl"
    result = pushed.invoke("job", "tool", "1.0", "--vo", "dteam", "--lang", "xrsl", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert '(runtimeenvironment="ENV/PPS/TOOL-1.0")' in out.read_text()
    wrapper = tmp_path / WRAPPER
    assert wrapper.read_text() == wrapper_text()
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o755


def test_unknown_release_is_exit_2(pushed) -> None:
    result = pushed.invoke("job", "tool", "7.0", "--vo", "dteam")
    assert result.exit_code == 2
    assert "no release tool 7.0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vo", 'dteam")||true||("'], "VO name"),
        (["--vo", "dteam", "--arguments", "'unbalanced"], "cannot be split"),
        (["--vo", "dteam", "--requirement", "true; X = 1"], "requirement"),
        (["--vo", "dteam", "--with", "nope"], "COMPONENT/VERSION"),
        (["--vo", "dteam", "--lang", "condor", "--arguments", "$(x)"], "HTCondor macro"),
        (["--vo", "dteam", "--template", "nope"], "no jdl template 'nope'"),
        ([], "give COMPONENT VERSION and --vo VO"),
    ],
)
def test_bad_input_is_exit_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["job", "glite-UI", "3.2.8-0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == []


def test_without_configuration_renders_and_says_it_could_not_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["job", "glite-UI", "3.2.8-0", "--vo", "vo.neugrid.eu"])
    assert result.exit_code == 0, result.output
    assert "warning: cannot check where the job can run" in result.output
    result = CliRunner().invoke(
        cli, ["job", "glite-UI", "3.2.8-0", "--vo", "vo.neugrid.eu", "--strict"]
    )
    assert result.exit_code == 1


def test_list_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["job", "--list-templates"])
    assert result.exit_code == 0
    rows = [line.split()[:2] for line in result.output.splitlines()[1:]]
    assert ["jdl", "parametric"] in rows and ["xrsl", "multi"] in rows
    assert ["condor", "testsite"] in rows
    result = CliRunner().invoke(cli, ["job", "--list-templates", "--lang", "xrsl", "--json"])
    assert [t["name"] for t in json.loads(result.output)] == ["job", "multi", "testsite"]


FAILING = """
[[tests]]
name = "always-fails"
command = "false"
timeout = 20
"""


def test_a_version_broken_at_every_site_is_a_warning(grid) -> None:
    _release(grid, tests=FAILING)
    assert grid.invoke("push", "tool", "1.0").exit_code == 1
    result = grid.invoke("job", "tool", "1.0", "--vo", "dteam")
    assert result.exit_code == 0
    assert "warning: tool 1.0 is broken at every site that has it (" in result.output
    result = grid.invoke("job", "tool", "1.0", "--vo", "dteam", "--strict", "--json")
    assert result.exit_code == 1
