"""``pps bulletin build`` and ``pps jdl`` through the CLI, after a real push."""

from __future__ import annotations

import jdl_templates
from tests.test_cli_push import PASSING, _release


def test_bulletin_shows_the_version_live_where_its_tests_passed(grid, tmp_path):
    _release(grid)
    (grid.site_root("DELTA") / "etc/profile.d/grid.sh").write_text("unset SITE_NAME\n")
    assert grid.invoke("push", "tool", "1.0").exit_code == 1
    out = tmp_path / "bulletin"
    result = grid.invoke("bulletin", "build", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "index.html").exists()
    entry = grid.map_json(out)["components"]["tool"]["1.0"]
    assert entry["sites"] == ["ALPHA", "BRAVO", "CHARLIE"]
    assert entry["vos"]["dteam"]["tag"] == "VO-dteam-PPS-tool-1.0"
    assert entry["vos"]["dteam"]["jdl"] == (
        'Requirements = Member("VO-dteam-PPS-tool-1.0", '
        "other.GlueHostApplicationSoftwareRunTimeEnvironment);"
    )


def test_bulletin_marks_an_unreachable_site(grid, tmp_path):
    _release(grid, tests=PASSING)
    grid.invoke("push", "tool", "1.0")
    grid.site_root("BRAVO").rename(tmp_path / "gone")
    out = tmp_path / "bulletin"
    result = grid.invoke("bulletin", "build", "--out", str(out))
    assert result.exit_code == 0
    assert "BRAVO" in result.output
    data = grid.map_json(out)
    assert data["sites"]["BRAVO"]["error"]
    assert "BRAVO" not in data["components"]["tool"]["1.0"]["sites"]


def test_jdl_selects_the_version_and_parses_as_a_classad(grid):
    _release(grid)
    result = grid.invoke("jdl", "tool", "1.0", "--vo", "dteam")
    assert result.exit_code == 0, result.output
    assert (
        'Requirements = Member("VO-dteam-PPS-tool-1.0", '
        "other.GlueHostApplicationSoftwareRunTimeEnvironment);" in result.output
    )
    ad = jdl_templates.parse_jdl(result.output)
    assert str(ad["VirtualOrganisation"]).strip('"') == "dteam"


def test_jdl_for_an_unknown_release_is_exit_2(grid):
    _release(grid)
    result = grid.invoke("jdl", "tool", "7.0", "--vo", "dteam")
    assert result.exit_code == 2
    assert "no release tool 7.0" in result.output


def test_jdl_refuses_a_vo_outside_the_grammar(grid):
    _release(grid)
    result = grid.invoke("jdl", "tool", "1.0", "--vo", 'dteam")||true||("')
    assert result.exit_code == 2
    assert "VO name" in result.output


def test_jdl_without_any_configuration_renders_unchecked(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from distributor.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["jdl", "glite-UI", "3.2.8-0", "--vo", "vo.neugrid.eu"])
    assert result.exit_code == 0, result.output
    assert 'Member("VO-vo.neugrid.eu-PPS-glite-UI-3.2.8-0"' in result.output


def test_jdl_with_a_named_config_that_is_missing_is_an_error(tmp_path):
    from click.testing import CliRunner

    from distributor.cli import cli

    missing = tmp_path / "nope.toml"
    result = CliRunner().invoke(cli, ["--config", str(missing), "jdl", "a", "1", "--vo", "dteam"])
    assert result.exit_code == 2
    assert "nope.toml does not exist" in result.output
