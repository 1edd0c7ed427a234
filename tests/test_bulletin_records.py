"""``pps bulletin build`` reads the release records (issue 14): on the demo grid, after its
staged rollout, the bulletin shows the stage and lifecycle state ``pps release list`` prints, the
early adopters and their reports, the awaiting site and what it must do, feedback and fixed
bugs (never an address), keeps embargoed releases out of every file, and writes nothing to the
state store."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser
import jsonschema
import pytest
from click.testing import CliRunner, Result

from bulletin.render import SCHEMA_PATH
from distributor.cli import cli

UI_SRC = "src/glite-UI-3.2.8-0"


def _cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.fixture(scope="module")
def demo_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run once (its rollout done: glite-UI closed-success, glite-WN rolling-out)."""
    out = tmp_path_factory.mktemp("bulletin-records") / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "distributor.cli", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.fixture
def grid(demo_grid: Path, tmp_path: Path) -> Path:
    """A copy of the demo grid a test may change."""
    copy = tmp_path / "demo"
    shutil.copytree(demo_grid, copy, symlinks=True)
    text = (copy / "pps.toml").read_text().replace(str(demo_grid), str(copy))
    (copy / "pps.toml").write_text(text)
    return copy


def build(config: Path, out: Path) -> dict:
    result = _cli(config, "bulletin", "build", "--out", str(out))
    assert result.exit_code == 0, result.output
    return json.loads((out / "map.json").read_text())


def test_stage_and_state_are_what_pps_release_list_prints(grid: Path, tmp_path: Path) -> None:
    config = grid / "pps.toml"
    listed = json.loads(_cli(config, "release", "list", "--json").stdout)
    data = build(config, tmp_path / "site")
    shown = {(c, v): (d["stage"], d["state"]) for c, vs in data["components"].items()
             for v, d in vs.items()}  # fmt: skip
    assert shown == {(r["component"], r["version"]): (r["stage"], r["state"]) for r in listed}
    assert shown[("glite-UI", "3.2.8-0")] == ("production", "closed-success")
    assert shown[("glite-WN", "3.3.0-1")] == ("staged-rollout", "rolling-out")
    index = (tmp_path / "site/index.html").read_text()
    assert '<td><span class="lbl">State: </span>closed-success</td>' in index
    assert '<td><span class="lbl">State: </span>rolling-out</td>' in index
    assert "and the release records (state store " in index
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))


def test_the_awaiting_site_says_what_it_must_do(grid: Path, tmp_path: Path) -> None:
    data = build(grid / "pps.toml", tmp_path / "site")
    cell = data["components"]["glite-WN"]["3.3.0-1"]["cells"]["BOREAL-T2"]
    assert cell["state"] == "awaiting local configuration"
    assert cell["detail"].startswith("create executable ")
    assert cell["detail"].endswith("/sites/BOREAL-T2/opt/pps/preview/hooks/configure")
    assert cell["seen"].endswith("Z")
    page = (tmp_path / "site/s/BOREAL-T2.html").read_text()
    assert "awaiting local configuration</span></td><td>create executable " in page
    # glite-UI's preview ended: every site was told to retire it, and says so
    ui = data["components"]["glite-UI"]["3.2.8-0"]["cells"]
    assert {c["state"] for s, c in ui.items() if s != "HALO-ARC"} == {"pending removal"}
    # the ARC-CE disabled its RTE and removed the script: A-REX publishes it nowhere
    assert ui["HALO-ARC"] == {**ui["HALO-ARC"], "state": "not installed",
                              "detail": "retired: the site was told the preview ended"}  # fmt: skip


def test_the_version_page_shows_adopters_reports_clocks_and_the_close(
    grid: Path, tmp_path: Path
) -> None:
    build(grid / "pps.toml", tmp_path / "site")
    page = (tmp_path / "site/v/glite-UI-3.2.8-0.html").read_text()
    assert "<p>Closed <strong>success</strong>: no issue at two early adopters.</p>" in page
    assert '<th scope="row">AURORA-LCG2</th>' in page and "jobs ran" in page
    assert '<th scope="row">DELTA-HEP</th>' in page and "0.5PD" in page
    assert "<p>No feedback received yet.</p>" in page
    assert '<svg class="chart" role="img"' in page
    feed = feedparser.parse((tmp_path / "site/feed.atom").read_bytes())
    assert not feed.bozo
    titles = [e.title for e in feed.entries]
    assert "glite-UI 3.2.8-0: closed: success (closed-success)" in titles
    assert "glite-UI 3.2.8-0: verified: staged rollout begins (verified)" in titles
    assert "glite-WN 3.3.0-1: accepted by an early adopter (rolling-out)" in titles
    ids = [e.id for e in feed.entries]
    build(grid / "pps.toml", tmp_path / "again")
    again = feedparser.parse((tmp_path / "again/feed.atom").read_bytes())
    assert [e.id for e in again.entries] == ids and len(set(ids)) == len(ids)


def test_feedback_and_bugs_are_shown_and_no_address_ever_is(grid: Path, tmp_path: Path) -> None:
    config = grid / "pps.toml"
    said = _cli(config, "feedback", "add", "glite-WN", "3.3.0-1", "--from",
                "alice@example.org", "--text", "<b>works</b> for our jobs")  # fmt: skip
    assert said.exit_code == 0, said.output
    created = _cli(
        config, "release", "create", "glite-CLI", "1.0", "--from", str(grid / UI_SRC),
        "--class", "bc-client", "--type", "minor",
        "--bug", "GGUS-42=<i>proxy</i> renewal fails <bob@example.org>",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    build(config, tmp_path / "site")
    wn = (tmp_path / "site/v/glite-WN-3.3.0-1.html").read_text()
    assert "&lt;b&gt;works&lt;/b&gt; for our jobs</li>" in wn
    assert "No feedback received yet." not in wn
    cli_page = (tmp_path / "site/v/glite-CLI-1.0.html").read_text()
    assert (
        '<tr><th scope="row">GGUS-42</th><td>&lt;i&gt;proxy&lt;/i&gt; renewal fails</td></tr>'
        in cli_page
    )
    for path in (tmp_path / "site").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "alice@example.org" not in text and "bob@example.org" not in text, path


def test_an_embargoed_release_is_in_no_file_and_the_store_is_not_written(
    grid: Path, tmp_path: Path
) -> None:
    config = grid / "pps.toml"
    created = _cli(
        config, "release", "create", "glite-SEC", "1.0.1", "--from", str(grid / UI_SRC),
        "--class", "bc-client", "--type", "emergency", "--embargo",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    store = next(grid.glob("*.sqlite"))
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    around = sorted(p.name for p in store.parent.iterdir())
    build(config, tmp_path / "site")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in store.parent.iterdir()) == around
    for path in (tmp_path / "site").rglob("*"):
        assert "glite-SEC" not in path.name
        if path.is_file():
            assert "glite-SEC" not in path.read_text(), path


def test_a_directory_that_is_no_bulletin_is_refused_in_one_line(grid: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "README").write_text("mine\n")
    result = _cli(grid / "pps.toml", "bulletin", "build", "--out", str(docs))
    assert result.exit_code == 2
    assert "holds files that no bulletin build wrote" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in docs.iterdir()) == ["README"]
