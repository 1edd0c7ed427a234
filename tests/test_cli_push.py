"""``pps push`` on local sites: the real probe runs at each site as a program."""

from __future__ import annotations

import json
import shutil

PASSING = """
[[tests]]
name = "tool-runs"
command = "tool | grep -q 1.0"
timeout = 20

[[tests]]
name = "production-profile-inherited"
command = 'test -n "$SITE_NAME"'
timeout = 20
"""

NBC = """
[[tests]]
name = "configured"
command = 'test -s "$PPS_PREVIEW_HOME/etc/site.conf"'
timeout = 20
"""


def _release(grid, component="tool", version="1.0", cls="bc-client", tests=PASSING, text="1.0"):
    src = grid.source(f"{component}-{version}", version_text=text, tests=tests)
    result = grid.invoke("release", "create", component, version, "--from", str(src),
                         "--class", cls, "--type", "revision")  # fmt: skip
    assert result.exit_code == 0, result.output


def _table(output: str) -> dict[str, str]:
    """SITE -> STATE from the push table."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("OK", "WARNING", "CRITICAL", "UNKNOWN"):
            rows[parts[0]] = parts[1]
    return rows


def test_bc_client_push_installs_tests_and_tags_at_every_site(grid):
    _release(grid)
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code == 0, result.output
    assert _table(result.output) == {s: "OK" for s in ("ALPHA", "BRAVO", "CHARLIE", "DELTA")}
    assert "4/4 site(s) OK" in result.output
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA", "dteam")
    assert "PPS-PREVIEW" in grid.tags("ALPHA", "dteam")
    assert "VO-vo.neugrid.eu-PPS-tool-1.0" in grid.tags("BRAVO", "vo.neugrid.eu")
    assert "VO-ops-PPS-tool-1.0" in grid.tags("DELTA", "ops")
    assert (grid.install_dir("ALPHA", "tool", "1.0") / "bin/tool").exists()


def test_push_prints_progress_per_site_and_records_outcomes(grid):
    _release(grid)
    result = grid.invoke("push", "tool", "1.0", "--json")
    data = json.loads(result.stdout)
    assert sorted(o["site"] for o in data["outcomes"]) == ["ALPHA", "BRAVO", "CHARLIE", "DELTA"]
    status = json.loads(grid.invoke("status", "tool", "1.0", "--json").output)
    assert {(o["site"], o["state"]) for o in status} == {
        ("ALPHA", "OK"), ("BRAVO", "OK"), ("CHARLIE", "OK"), ("DELTA", "OK"),
    }  # fmt: skip


def test_a_second_push_converges_and_stays_ok(grid):
    _release(grid)
    assert grid.invoke("push", "tool", "1.0").exit_code == 0
    inode = grid.install_dir("ALPHA", "tool", "1.0").stat().st_ino
    again = grid.invoke("push", "tool", "1.0", "--site", "ALPHA")
    assert again.exit_code == 0, again.output
    assert _table(again.output) == {"ALPHA": "OK"}
    assert grid.install_dir("ALPHA", "tool", "1.0").stat().st_ino == inode
    assert grid.tags("ALPHA", "dteam").count("VO-dteam-PPS-tool-1.0") == 1


def test_failing_local_test_withholds_the_tag_and_fails_the_push(grid):
    _release(grid, tests=PASSING.replace("grep -q 1.0", "grep -q 9.9"))
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code == 1
    assert set(_table(result.output).values()) == {"CRITICAL"}
    assert "tool-runs" in result.output
    assert "VO-dteam-PPS-tool-1.0" not in grid.tags("ALPHA", "dteam")


def test_nbc_client_goes_to_silver_sites_and_waits_for_the_configuration_hook(grid):
    _release(grid, component="wn", cls="nbc-client", tests=NBC)
    result = grid.invoke("push", "wn", "1.0")
    assert result.exit_code == 1, result.output  # not every site is OK yet
    assert _table(result.output) == {"BRAVO": "OK", "CHARLIE": "WARNING"}
    assert "  CHARLIE: WARNING: awaiting local configuration" in result.output
    assert "VO-dteam-PPS-wn-1.0" in grid.tags("BRAVO", "dteam")
    assert (grid.install_dir("BRAVO", "wn", "1.0") / "etc/site.conf").read_text() == "configured\n"
    assert "VO-dteam-PPS-wn-1.0" not in grid.tags("CHARLIE", "dteam")
    assert not grid.install_dir("ALPHA", "wn", "1.0").exists()


def test_a_dead_site_is_reported_and_does_not_hide_the_others(grid):
    _release(grid)
    shutil.rmtree(grid.site_root("CHARLIE"))
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code == 1
    assert _table(result.output) == {"ALPHA": "OK", "BRAVO": "OK", "CHARLIE": "UNKNOWN",
                                     "DELTA": "OK"}  # fmt: skip
    assert "CHARLIE: root" in result.output or "is not a directory" in result.output


def test_push_of_an_unknown_version_is_exit_2_naming_known_versions(grid):
    _release(grid)
    result = grid.invoke("push", "tool", "2.0")
    assert result.exit_code == 2
    assert "no release tool 2.0 in the repository (known versions of tool: 1.0)" in result.output


def test_push_to_a_site_that_does_not_take_the_class_is_refused(grid):
    _release(grid, component="wn", cls="nbc-client", tests=NBC)
    result = grid.invoke("push", "wn", "1.0", "--site", "ALPHA")
    assert result.exit_code == 2
    assert "site ALPHA (partner none) does not take nbc-client releases" in result.output
    assert not grid.install_dir("ALPHA", "wn", "1.0").exists()


def test_a_tarball_that_no_longer_matches_the_index_is_not_pushed(grid):
    _release(grid)
    tarball = grid.root / "repo/unverified/tool/1.0/tool-1.0.tar.gz"
    tarball.write_bytes(tarball.read_bytes()[:-10] + b"0123456789")
    result = grid.invoke("push", "tool", "1.0")
    assert result.exit_code == 1
    assert "does not match index.json" in result.output
    assert "not pushing it" in result.output
    assert not (grid.site_root("ALPHA") / "opt/pps/preview/.pps").exists()
    assert grid.tags("ALPHA", "dteam") == []


def test_a_surprise_at_one_site_becomes_its_outcome_and_the_push_goes_on(grid):
    from distributor.push.controller import push_release
    from distributor.push.targets import target_sites
    from distributor.store import Store
    from distributor.transport import open_transport
    from pps.inventory import load_config
    from pps.repository import Repository

    _release(grid)
    config = load_config(grid.config)
    repo = Repository(config.repository)
    release = repo.load().find("tool", "1.0")

    def factory(site):
        if site.name == "BRAVO":
            raise RuntimeError("disk on fire")
        return open_transport(site)

    with Store(config.state_path) as store:
        report = push_release(repo, release, target_sites(config, release), store,
                              transport_factory=factory)  # fmt: skip
    states = {o.site: (o.state, o.summary) for o in report.outcomes}
    assert states["BRAVO"] == ("UNKNOWN", "internal error: RuntimeError: disk on fire")
    assert {s for s, (state, _) in states.items() if state == "OK"} == {"ALPHA", "CHARLIE", "DELTA"}
