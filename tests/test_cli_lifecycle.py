"""The release lifecycle through the CLI: states and transitions, the audit log, the stage moves
in the repository, rejections withdrawn at the sites, early adopters, and the store's migration."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.grid import Grid

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"


@pytest.fixture(autouse=True)
def _clock_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-02T09:00:00Z")  # a Monday
    monkeypatch.setenv("PPS_USER", "rm-alice")


def _create(grid: Grid, version: str = "1.0", *extra: str, component: str = "tool") -> None:
    src = grid.source(f"{component}-{version}", tests=PASSING)
    result = grid.invoke("release", "create", component, version, "--from", str(src),
                         "--class", "bc-client", "--type", "revision", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output


def _index(grid: Grid) -> dict:
    return json.loads((grid.root / "repo/index.json").read_text())


def _events(grid: Grid, version: str = "1.0") -> list[tuple[str, str, str, str]]:
    shown = json.loads(grid.ok("release", "show", "tool", version, "--json"))
    return [(e["kind"], e["state"], e["site"], e["who"]) for e in shown["events"]]


def _at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setenv("PPS_NOW", when)


def _push(grid: Grid, *sites: str, version: str = "1.0") -> None:
    """The release live at *sites* (an early adopter accepts only what is live at its site)."""
    for site in sites:
        result = grid.invoke("push", "tool", version, "--site", site)
        assert result.exit_code == 0, result.output


def test_a_release_walks_from_create_to_production_with_every_step_on_record(
    grid: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(grid)
    repo = grid.root / "repo"
    assert (repo / "unverified/tool/1.0/tool-1.0.tar.gz").is_file()
    serial = _index(grid)["serial"]
    _push(grid, "ALPHA", "BRAVO")

    _at(monkeypatch, "2026-03-02T15:00:00Z")
    verified = grid.invoke("release", "verify", "tool", "1.0")
    _at(monkeypatch, "2026-03-03T10:00:00Z")
    accepted = grid.invoke("release", "accept", "tool", "1.0", "--site", "ALPHA")
    also = grid.invoke("release", "accept", "tool", "1.0", "--site", "BRAVO")
    _at(monkeypatch, "2026-03-04T10:00:00Z")
    first = grid.invoke(
        "release",
        "report",
        "tool",
        "1.0",
        "--site",
        "ALPHA",
        "--outcome",
        "success",
        "--effort",
        "4PH",
        "--notes",
        "300 jobs",
    )
    second = grid.invoke(
        "release",
        "report",
        "tool",
        "1.0",
        "--site",
        "BRAVO",
        "--outcome",
        "warning",
        "--effort",
        "0.5PD",
        "--notes",
        "notes typo",
    )
    closed = grid.invoke("release", "close", "tool", "1.0", "--outcome", "success",
                         "--summary", "fine at 2 sites")  # fmt: skip

    assert verified.output == ("tool 1.0: unverified -> verified (files in staged-rollout/)\n")
    assert accepted.output == (
        "tool 1.0: ALPHA accepted (volunteer, the first): verified -> rolling-out\n"
    )
    assert also.output == "tool 1.0: BRAVO accepted (volunteer): rolling-out\n"
    assert first.output == "tool 1.0: ALPHA done (success, 4PH); still to report: BRAVO\n"
    assert second.output == (
        "tool 1.0: BRAVO done (warning, 0.5PD); every accepting site is done\n"
    )
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.splitlines()[0] == (
        "tool 1.0: rolling-out -> closed-success (files and release notes in production/tool/1.0/)"
    )
    assert closed.stdout.splitlines()[-1] == "2/2 site(s) told to retire tool 1.0"
    assert "VO-dteam-PPS-tool-1.0" not in grid.tags("ALPHA", "dteam")
    assert _events(grid) == [
        ("certified", "certified", "", "rm-alice"),
        ("unverified", "unverified", "", "rm-alice"),
        ("verify", "verified", "", "rm-alice"),
        ("accept", "rolling-out", "ALPHA", "rm-alice"),
        ("accept", "rolling-out", "BRAVO", "rm-alice"),
        ("report", "rolling-out", "ALPHA", "rm-alice"),
        ("report", "rolling-out", "BRAVO", "rm-alice"),
        ("close", "closed-success", "", "rm-alice"),
    ]
    (entry,) = _index(grid)["releases"]
    assert entry["stage"] == "production"
    assert entry["tarball"] == "production/tool/1.0/tool-1.0.tar.gz"
    assert _index(grid)["serial"] == serial + 2  # verify and close each wrote the index once
    assert sorted(p.name for p in (repo / "production/tool/1.0").iterdir()) == [
        "tool-1.0.manifest.json", "tool-1.0.release-notes.txt", "tool-1.0.tar.gz",
        "tool-1.0.tar.gz.sha256",
    ]  # fmt: skip
    assert not (repo / "unverified/tool").exists()
    assert not (repo / "staged-rollout/tool").exists()
    notes = (repo / "production/tool/1.0/tool-1.0.release-notes.txt").read_text()
    assert "  ALPHA: success, effort 4PH (4 PH); 300 jobs\n" in notes
    assert "  BRAVO: warning, effort 0.5PD (4 PH); notes typo\n" in notes
    assert "No feedback was received during the preview." in notes


def test_verify_moves_the_files_so_a_pull_mode_site_finds_what_the_index_names(
    grid: Grid,
) -> None:
    _create(grid)

    grid.ok("release", "verify", "tool", "1.0")

    (entry,) = _index(grid)["releases"]
    assert entry["stage"] == "staged-rollout"
    for key in ("tarball", "manifest"):
        assert (grid.root / "repo" / entry[key]).is_file(), entry[key]
    assert not (grid.root / "repo/unverified/tool/1.0").exists()


def test_a_push_in_staged_rollout_installs_from_the_moved_files(grid: Grid) -> None:
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")

    pushed = grid.invoke("push", "tool", "1.0", "--site", "ALPHA")

    assert pushed.exit_code == 0, pushed.output
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA", "dteam")


@pytest.mark.parametrize(
    ("steps", "command", "message"),
    [
        ([], ["accept", "tool", "1.0", "--site", "ALPHA"],
         "cannot accept (site ALPHA): tool 1.0 is unverified, not verified or rolling-out "
         "(next: 'pps release verify' (or verify --reject))"),
        ([], ["close", "tool", "1.0", "--outcome", "success", "--summary", "s"],
         "cannot close: tool 1.0 is unverified, not rolling-out (next: 'pps release verify' "
         "(or verify --reject))"),
        ([["verify", "tool", "1.0"]], ["verify", "tool", "1.0"],
         "cannot verify: tool 1.0 is verified, not unverified (next: an early adopter's "
         "'pps release accept')"),
        ([["verify", "tool", "1.0"]], ["close", "tool", "1.0", "--outcome", "success",
                                       "--summary", "s"],
         "tool 1.0 is verified but no early adopter accepted it: nothing to close "
         "(--force 'REASON' closes it anyway)"),
        ([["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"]],
         ["report", "tool", "1.0", "--site", "BRAVO", "--outcome", "success", "--effort", "1PH"],
         "site BRAVO did not accept tool 1.0: only accepting sites report (accepted: ALPHA)"),
        ([["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"]],
         ["accept", "tool", "1.0", "--site", "ALPHA"],
         "site ALPHA accepted tool 1.0 already (at 2026-03-02T09:00:00Z)"),
        ([["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"]],
         ["close", "tool", "1.0", "--outcome", "success", "--summary", "s"],
         "cannot close tool 1.0: ALPHA accepted and did not report yet (--force 'REASON' "
         "closes without them)"),
        ([["verify", "tool", "1.0"]], ["accept", "tool", "1.0", "--site", "NOWHERE"],
         "no site 'NOWHERE' in {config} (sites: ALPHA, BRAVO, CHARLIE, DELTA)"),
        ([], ["verify", "tool", "9.9"],
         "no release tool 9.9 in the repository (known versions of tool: 1.0)"),
        ([], ["verify", "tool", "1.0", "--at", "2026-03-03T00:00:00Z"],
         "--at 2026-03-03T00:00:00Z is in the future (now 2026-03-02T09:00:00Z)"),
        ([], ["verify", "tool", "1.0", "--at", "2026-03-01"],
         "--at 2026-03-01 is before the last recorded step (unverified at "
         "2026-03-02T09:00:00Z)"),
        ([], ["verify", "tool", "1.0", "--at", "yesterday"],
         "--at 'yesterday' is not an ISO 8601 date or time (2026-03-02 or "
         "2026-03-02T09:00:00Z)"),
        ([], ["verify", "tool", "1.0", "--reject"], "a rejection needs a reason: --why TEXT"),
        ([["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"]],
         ["report", "tool", "1.0", "--site", "ALPHA", "--outcome", "success", "--effort", "4"],
         "effort '4' is not a number and a unit: PH, PD, PW or PM (e.g. 4PH)"),
        ([["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"]],
         ["close", "tool", "1.0", "--outcome", "success", "--summary", "s", "--force", " "],
         "--force needs a reason (it is recorded): --force 'REASON'"),
    ],
    ids=["accept-unverified", "close-unverified", "verify-twice", "close-unaccepted",
         "report-not-accepted", "accept-twice", "close-open-sites", "unknown-site",
         "no-such-release", "future-date", "date-before-last-step", "bad-date",
         "reject-without-reason", "effort-without-unit", "force-without-reason"],
)  # fmt: skip
def test_an_illegal_step_is_one_line_exit_2_and_changes_nothing(
    grid: Grid, steps: list[list[str]], command: list[str], message: str
) -> None:
    _create(grid)
    _push(grid, "ALPHA")
    for step in steps:
        grid.ok("release", *step)
    before = (_index(grid), _events(grid))

    result = grid.invoke("release", *command)

    assert result.exit_code == 2
    assert result.output == f"Error: {message.format(config=grid.config)}\n"
    assert (_index(grid), _events(grid)) == before


def test_a_site_that_does_not_take_the_update_class_cannot_accept(grid: Grid) -> None:
    src = grid.source("wn-1.0", tests=PASSING)
    grid.ok("release", "create", "wn", "1.0", "--from", str(src), "--class", "nbc-client",
        "--type", "minor")  # fmt: skip
    grid.ok("release", "verify", "wn", "1.0")

    result = grid.invoke("release", "accept", "wn", "1.0", "--site", "ALPHA")

    assert result.exit_code == 2
    assert result.output == (
        "Error: site ALPHA (partner none) does not take nbc-client releases: it cannot roll "
        "wn 1.0 out\n"
    )


def test_a_committed_early_adopter_is_recorded_as_such(grid: Grid) -> None:
    text = grid.config.read_text().replace(
        'name = "BRAVO"\n', 'name = "BRAVO"\nearly_adopter = ["tool"]\n'
    )
    grid.config.write_text(text)
    _create(grid)
    _push(grid, "BRAVO")
    grid.ok("release", "verify", "tool", "1.0")

    result = grid.invoke("release", "accept", "tool", "1.0", "--site", "BRAVO")
    shown = grid.invoke("release", "show", "tool", "1.0")

    assert result.output == (
        "tool 1.0: BRAVO accepted (committed early adopter, the first): verified -> rolling-out\n"
    )
    lines = shown.output.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("EARLY ADOPTER"))
    assert lines[header + 1].split() == ["BRAVO", "yes", "2026-03-02T09:00:00Z", "-", "-", "-"]


def test_close_with_force_records_the_reason_and_the_sites_left_open(grid: Grid) -> None:
    _create(grid)
    _push(grid, "ALPHA")
    grid.ok("release", "verify", "tool", "1.0")
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")

    result = grid.invoke("release", "close", "tool", "1.0", "--outcome", "warning",
                         "--summary", "ok so far", "--force", "ALPHA is in downtime")  # fmt: skip

    assert result.exit_code == 0, result.output
    close = json.loads(grid.ok("release", "show", "tool", "1.0", "--json"))["events"][-1]
    assert (close["kind"], close["state"], close["why"]) == (
        "close", "closed-warning", "ok so far (forced: ALPHA is in downtime)",
    )  # fmt: skip
    assert close["data"]["forced"] == "ALPHA is in downtime"
    assert close["data"]["open_sites"] == ["ALPHA"]
    assert (
        "closed with --force (ALPHA is in downtime); not reported: ALPHA"
        in (grid.root / "repo/production/tool/1.0/tool-1.0.release-notes.txt").read_text()
    )


def test_a_rejection_at_verification_removes_the_files_and_withdraws_the_tags(
    grid: Grid,
) -> None:
    _create(grid)
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA", "dteam")

    result = grid.invoke("release", "verify", "tool", "1.0", "--reject",
                         "--why", "release notes missing")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "tool 1.0: unverified -> rejected (withdrawn, files removed)"
    )
    assert "ALPHA  OK" in result.output  # told: the one site it was pushed to
    assert "1/1 site(s) told to retire tool 1.0" in result.output
    assert "VO-dteam-PPS-tool-1.0" not in grid.tags("ALPHA", "dteam")
    (entry,) = _index(grid)["releases"]
    assert entry["withdrawn"] is True
    assert not (grid.root / "repo/unverified/tool").exists()
    assert _events(grid)[-1] == ("reject", "rejected", "", "rm-alice")
    again = grid.invoke("release", "verify", "tool", "1.0")
    assert again.output == (
        "Error: cannot verify: tool 1.0 is rejected, not unverified (next: nothing: the "
        "release is closed)\n"
    )


def test_closing_with_reject_withdraws_the_release_at_the_sites(grid: Grid) -> None:
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")
    grid.ok("release", "report", "tool", "1.0", "--site", "ALPHA", "--outcome", "reject",
        "--effort", "1PD", "--notes", "breaks job submission")  # fmt: skip

    result = grid.invoke("release", "close", "tool", "1.0", "--outcome", "reject",
                         "--summary", "breaks job submission")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "tool 1.0: rolling-out -> closed-reject (withdrawn, files removed)"
    )
    assert "VO-dteam-PPS-tool-1.0" not in grid.tags("ALPHA", "dteam")
    assert not (grid.root / "repo/staged-rollout/tool").exists()
    assert _index(grid)["releases"][0]["withdrawn"] is True


def test_a_dry_run_writes_nothing(grid: Grid) -> None:
    _create(grid)
    before = (_index(grid), _events(grid))

    result = grid.invoke("release", "verify", "tool", "1.0", "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "dry run: tool 1.0: unverified -> verified (files in staged-rollout/); nothing "
        "written, no mail sent"
    )
    assert (_index(grid), _events(grid)) == before
    assert (grid.root / "repo/unverified/tool/1.0/tool-1.0.tar.gz").is_file()


def test_a_tarball_that_no_longer_matches_the_index_is_not_verified(grid: Grid) -> None:
    _create(grid)
    (grid.root / "repo/unverified/tool/1.0/tool-1.0.tar.gz").write_bytes(b"tampered")

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 1
    assert "does not match index.json" in result.output
    assert _events(grid)[-1][0] == "unverified"


def test_the_audit_log_refuses_to_be_rewritten(grid: Grid) -> None:
    _create(grid)
    db = sqlite3.connect(grid.root / "pps-state.sqlite")

    for statement in ("UPDATE event SET who='mallory'", "DELETE FROM event"):
        with pytest.raises(sqlite3.IntegrityError, match="the audit log is append-only"):
            db.execute(statement)
    assert [r[0] for r in db.execute("SELECT DISTINCT who FROM event")] == ["rm-alice"]


def test_a_release_made_before_the_lifecycle_starts_unverified_at_its_creation(
    grid: Grid,
) -> None:
    from distributor.repository.releases import create_release
    from pps.repository import Repository

    create_release(Repository(grid.root / "repo"), "tool", "1.0", source=grid.source("t"),
                   update_class="bc-client", release_type="minor")  # fmt: skip

    listed = grid.invoke("release", "list")
    verified = grid.invoke("release", "verify", "tool", "1.0")

    assert listed.output.splitlines()[1].split()[:6] == [
        "tool", "1.0", "unverified", "bc-client", "minor", "unverified",
    ]  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert [e[0] for e in _events(grid)] == ["certified", "unverified", "verify"]


def test_a_store_of_the_landed_pps_is_migrated_with_its_outcomes_kept(grid: Grid) -> None:
    """A schema-2 store (what the landed pps writes), with a push in it."""
    store = grid.root / "pps-state.sqlite"
    db = sqlite3.connect(store)
    db.executescript(
        """
        CREATE TABLE push (id INTEGER PRIMARY KEY AUTOINCREMENT, component TEXT NOT NULL,
            version TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
            pid INTEGER NOT NULL DEFAULT 0, pid_start INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE outcome (id INTEGER PRIMARY KEY AUTOINCREMENT, push_id INTEGER NOT NULL,
            site TEXT NOT NULL, component TEXT NOT NULL, version TEXT NOT NULL,
            state TEXT NOT NULL, summary TEXT NOT NULL, seconds REAL NOT NULL, at TEXT NOT NULL,
            output TEXT NOT NULL DEFAULT '');
        CREATE INDEX outcome_release ON outcome(component, version, site);
        INSERT INTO push VALUES (1, 'tool', '1.0', '2026-01-01T00:00:00Z',
            '2026-01-01T00:01:00Z', 0, 0);
        INSERT INTO outcome VALUES (1, 1, 'ALPHA', 'tool', '1.0', 'OK', 'verified', 1.5,
            '2026-01-01T00:00:30Z', '');
        PRAGMA user_version=2;
        """
    )
    db.commit()
    db.close()
    _create(grid)

    status = grid.invoke("status", "tool", "1.0", "--json")
    verified = grid.invoke("release", "verify", "tool", "1.0")

    assert status.exit_code == 0, status.output
    alpha = next(o for o in json.loads(status.output) if o["site"] == "ALPHA")
    assert (alpha["state"], alpha["at"]) == ("OK", "2026-01-01T00:00:30Z")
    assert verified.exit_code == 0, verified.output
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    assert [r[0] for r in db.execute("SELECT kind FROM event ORDER BY id")] == [
        "certified", "unverified", "verify",
    ]  # fmt: skip


def test_a_store_written_by_a_newer_pps_is_refused_and_left_as_it_is(grid: Grid) -> None:
    _create(grid)
    store = grid.root / "pps-state.sqlite"
    db = sqlite3.connect(store)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    before = store.read_bytes()

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 2
    assert result.output == (
        f"Error: state store {store} was written by a newer pps (schema 99, this pps knows 4): "
        "upgrade pps; the store is left as it is\n"
    )
    assert store.read_bytes() == before
    assert _index(grid)["releases"][0]["stage"] == "unverified"


def _pps(grid: Grid, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_two_processes_moving_the_same_release_at_once_never_lose_a_step(grid: Grid) -> None:
    rounds = 6
    for n in range(rounds):
        _create(grid, f"1.{n}")
        _push(grid, "ALPHA", "BRAVO", version=f"1.{n}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in range(rounds):
            v = f"1.{n}"
            verify = ["release", "verify", "tool", v]
            verifies = list(pool.map(lambda args: _pps(grid, *args), [verify, verify]))
            accepts = list(pool.map(lambda args: _pps(grid, *args), [
                ["release", "accept", "tool", v, "--site", site] for site in ("ALPHA", "BRAVO")
            ]))  # fmt: skip

            assert sorted(r.returncode for r in verifies) == [0, 2], [r.stderr for r in verifies]
            loser = next(r for r in verifies if r.returncode == 2)
            assert f"cannot verify: tool {v} is verified" in loser.stderr
            assert [r.returncode for r in accepts] == [0, 0], [r.stderr for r in accepts]
            kinds = [(e[0], e[2]) for e in _events(grid, v)]
            assert kinds[:3] == [("certified", ""), ("unverified", ""), ("verify", "")]
            assert sorted(kinds[3:]) == [("accept", "ALPHA"), ("accept", "BRAVO")]
            shown = json.loads(grid.ok("release", "show", "tool", v, "--json"))
            firsts = [e["data"]["first"] for e in shown["events"] if e["kind"] == "accept"]
            assert firsts == [True, False]
            assert shown["state"] == "rolling-out"
    index = _index(grid)
    assert {r["stage"] for r in index["releases"]} == {"staged-rollout"}
    for r in index["releases"]:
        assert Path(grid.root / "repo" / r["tarball"]).is_file()
