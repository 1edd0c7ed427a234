"""Lifecycle and sites agree after every step (issue 17): a step that ends a preview reaches every
site it was pushed to, push-mode sites included, or names those it could not tell; a withdrawn
or never-pushed release moves no further than the real world allows and no mail claims more than
the store and the sites' outcomes say; a read-only command writes nothing; and the site admin's
day: a local site's missing root is seen by a dry run, 'pps remove' without a terminal says to
pass --yes.

Real local sites (the probe runs there as a program), a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import smtp_helpers, test_push_ssh
from tests.grid import Grid
from tests.probe_helpers import installed_probe
from tests.smtp_helpers import SMTPServer, notify_section

smtp_server = smtp_helpers.smtp_server
ssh_testbed_factory = test_push_ssh.ssh_testbed_factory
ssh_grid = test_push_ssh.ssh_grid

PASSING = "[[tests]]\nname = 'tool-runs'\ncommand = 'tool | grep -q 1.0'\ntimeout = 20\n"
FAILING = PASSING.replace("grep -q 1.0", "grep -q 9.9")
BUG = "58342=job submit hangs on proxy renewal <alice@example.org>"
TAG = "VO-dteam-PPS-tool-1.0"
ALL = ("ALPHA", "BRAVO", "CHARLIE", "DELTA")


@pytest.fixture(autouse=True)
def _clock_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPS_NOW", "2026-03-02T09:00:00Z")
    monkeypatch.setenv("PPS_USER", "rm-alice")


def _create(grid: Grid, *extra: str, tests: str = PASSING, version: str = "1.0") -> None:
    src = grid.source(f"tool-{version}", tests=tests)
    grid.ok("release", "create", "tool", version, "--from", str(src), "--class", "bc-client",
            "--type", "revision", *extra)  # fmt: skip


def _vos(site: str) -> list[str]:
    return {"ALPHA": ["dteam"], "BRAVO": ["dteam", "vo.neugrid.eu"], "CHARLIE": ["dteam"],
            "DELTA": ["ops"]}[site]  # fmt: skip


def _has_tag(grid: Grid, site: str) -> bool:
    return any(f"VO-{vo}-PPS-tool-1.0" in grid.tags(site, vo) for vo in _vos(site))


def _incoming(grid: Grid, site: str) -> dict:
    path = grid.site_root(site) / "opt/pps/preview/.pps/incoming/tool-1.0/index.json"
    return json.loads(path.read_text())


def _status(grid: Grid) -> dict[str, str]:
    shown = json.loads(grid.ok("status", "tool", "1.0", "--json"))
    return {o["site"]: o["state"] for o in shown}


def _nagios_run(grid: Grid, site: str) -> subprocess.CompletedProcess[str]:
    """The site's Nagios re-testing what the push left in its incoming area (push-only)."""
    root = grid.site_root(site)
    args = ["--no-site-config", "--component", "tool", "--version", "1.0",
            "--repository", str(root / "opt/pps/preview/.pps/incoming/tool-1.0"),
            "--preview-root", str(root / "opt/pps/preview"),
            "--info-dir", str(root / "opt/glite/var/info"),
            "--subcluster", f"ce.{site.lower()}.test",
            "--profile-d", str(root / "etc/profile.d"), "--timeout", "50"]  # fmt: skip
    for vo in _vos(site):
        args += ["--vo", vo]
    return subprocess.run([*installed_probe(), *args], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def _rolling_out(grid: Grid, sites: tuple[str, ...] = ALL) -> None:
    _create(grid)
    for site in sites:
        assert grid.invoke("push", "tool", "1.0", "--site", site).exit_code == 0
    grid.ok("release", "verify", "tool", "1.0")
    grid.ok("release", "accept", "tool", "1.0", "--site", sites[0])
    grid.ok("release", "report", "tool", "1.0", "--site", sites[0], "--outcome", "success",
            "--effort", "1PH")  # fmt: skip


# --------------------------------------------------------------------------- 1. every site told


def _end(grid: Grid, how: str) -> object:
    if how == "verify-reject":
        _create(grid)
        for site in ALL:
            assert grid.invoke("push", "tool", "1.0", "--site", site).exit_code == 0
        return grid.invoke("release", "verify", "tool", "1.0", "--reject", "--why", "broken")
    if how == "remove":
        _create(grid)
        for site in ALL:
            assert grid.invoke("push", "tool", "1.0", "--site", site).exit_code == 0
        return grid.invoke("remove", "tool", "1.0", "--yes")
    _rolling_out(grid)
    return grid.invoke("release", "close", "tool", "1.0", "--outcome", how, "--summary", "done")


@pytest.mark.parametrize("how", ["success", "warning", "reject", "verify-reject", "remove"])
def test_every_step_that_ends_a_preview_retires_it_at_every_push_mode_site(
    grid: Grid, how: str
) -> None:
    result = _end(grid, how)

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    for site in ALL:
        assert not _has_tag(grid, site), site
        told = _incoming(grid, site)["releases"][0]
        assert told["withdrawn"] or told["stage"] == "production", (site, told)
        nagios = _nagios_run(grid, site)  # the site's own Nagios, on what the push left there
        assert nagios.returncode == 0, nagios.stdout
        assert "is not a preview any more" in nagios.stdout, nagios.stdout
        assert not _has_tag(grid, site), site
    assert set(_status(grid).values()) == {"OK"}
    assert "already OK" not in grid.invoke("push", "tool", "1.0").output


def test_a_close_names_the_sites_it_could_not_tell_and_status_shows_them(grid: Grid) -> None:
    _rolling_out(grid)
    hidden = grid.site_root("CHARLIE").with_name("CHARLIE.away")
    grid.site_root("CHARLIE").rename(hidden)  # the site cannot be reached now

    closed = grid.invoke("release", "close", "tool", "1.0", "--outcome", "warning",
                         "--summary", "fine")  # fmt: skip
    status = _status(grid)
    hidden.rename(grid.site_root("CHARLIE"))
    told = grid.invoke("push", "tool", "1.0")

    assert closed.exit_code == 1, closed.output
    assert closed.output.splitlines()[0] == (
        "tool 1.0: rolling-out -> closed-warning (files and release notes in production/tool/1.0/)"
    )
    assert closed.output.splitlines()[-1] == (
        "Error: the close is recorded, but 1 site(s) were not told to retire tool 1.0: CHARLIE; "
        "'pps push tool 1.0' tells them"
    )
    assert json.loads(grid.ok("release", "show", "tool", "1.0", "--json"))["state"] == (
        "closed-warning"
    )
    assert status == {"ALPHA": "OK", "BRAVO": "OK", "CHARLIE": "NOT TOLD", "DELTA": "OK"}
    assert told.exit_code == 0, told.output
    assert "retire" in told.output
    assert not _has_tag(grid, "CHARLIE")
    assert set(_status(grid).values()) == {"OK"}


def test_a_release_closed_without_telling_the_sites_is_shown_not_told_and_a_push_retires_it(
    grid: Grid,
) -> None:
    """What pps did before (and what a program using the library may still do): the close
    landed, no site was told.  A plain push must not answer 'already OK'."""
    from distributor.lifecycle.rollout import Rollout
    from distributor.store import Store
    from pps.inventory import load_config
    from pps.repository import Repository

    _rolling_out(grid, ("ALPHA", "BRAVO"))
    config = load_config(grid.config)
    assert config.state_path is not None
    with Store(config.state_path) as store:
        Rollout(Repository(config.repository), store, config).close(
            "tool", "1.0", outcome="warning", summary="fine")  # fmt: skip
    assert _has_tag(grid, "ALPHA")

    status = grid.ok("status", "tool", "1.0")
    everything = grid.ok("status")
    dry = grid.invoke("push", "tool", "1.0", "--dry-run")
    pushed = grid.invoke("push", "tool", "1.0")

    alpha = next(ln for ln in status.splitlines() if " ALPHA " in ln)
    assert "NOT TOLD" in alpha
    assert "'pps push tool 1.0' tells it" in alpha
    assert "NOT TOLD" in everything
    assert dry.exit_code == 0, dry.output
    assert {ln.split()[0]: ln for ln in dry.output.splitlines()[1:]}["ALPHA"].split()[3] == (
        "retire"
    )
    assert pushed.exit_code == 0, pushed.output
    assert "already OK" not in pushed.output
    assert "2/2 site(s) told to retire tool 1.0" in pushed.output
    assert not _has_tag(grid, "ALPHA") and not _has_tag(grid, "BRAVO")
    assert _status(grid) == {"ALPHA": "OK", "BRAVO": "OK", "CHARLIE": "NEVER PUSHED",
                             "DELTA": "NEVER PUSHED"}  # fmt: skip
    again = grid.invoke("push", "tool", "1.0")
    assert again.output == (
        "every site tool 1.0 was pushed to has retired it (closed-warning; --force tells them "
        "again)\n"
    )


def test_a_store_of_the_previous_schema_is_migrated_and_its_pushes_read_as_installs(
    grid: Grid,
) -> None:
    """A schema-3 store (the pps before this one): its outcomes are kept, and a closed release
    whose sites it pushed is shown NOT TOLD until a push tells them."""
    _create(grid)
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    store = grid.root / "pps-state.sqlite"
    db = sqlite3.connect(store)
    columns = [r[1] for r in db.execute("PRAGMA table_info(push)")]
    db.close()
    assert "retire" in columns  # this pps's schema; make it the previous one
    _downgrade_to_v3(store)
    before = store.read_bytes()

    shown = _status(grid)  # read-only: migrates in memory, leaves the file alone
    assert store.read_bytes() == before
    grid.ok("release", "verify", "tool", "1.0", "--reject", "--why", "broken")

    assert shown["ALPHA"] == "OK"
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    assert db.execute("SELECT COUNT(*) FROM outcome WHERE site='ALPHA'").fetchone()[0] == 2
    assert not _has_tag(grid, "ALPHA")
    assert _status(grid)["ALPHA"] == "OK"


def _downgrade_to_v3(store: Path) -> None:
    db = sqlite3.connect(store)
    db.executescript(
        """
        CREATE TABLE push3 (id INTEGER PRIMARY KEY AUTOINCREMENT, component TEXT NOT NULL,
            version TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
            pid INTEGER NOT NULL DEFAULT 0, pid_start INTEGER NOT NULL DEFAULT 0);
        INSERT INTO push3 SELECT id, component, version, started, finished, pid, pid_start
            FROM push;
        DROP TABLE push;
        ALTER TABLE push3 RENAME TO push;
        ALTER TABLE outcome DROP COLUMN live;
        PRAGMA user_version=3;
        """
    )
    db.commit()
    db.close()


# --------------------------------------------------------------------------- 2. preconditions


def test_a_withdrawn_release_says_so_and_moves_no_further(grid: Grid) -> None:
    _create(grid)
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    grid.ok("remove", "tool", "1.0", "--yes", "--site", "ALPHA")

    listed = grid.ok("release", "list")
    shown = grid.ok("release", "show", "tool", "1.0")
    verify = grid.invoke("release", "verify", "tool", "1.0")
    reject = grid.invoke("release", "verify", "tool", "1.0", "--reject", "--why", "x")

    row = listed.splitlines()[1].split()
    assert row[5:] == ["withdrawn", "-"], listed
    assert shown.splitlines()[0].startswith("tool 1.0: withdrawn (")
    assert verify.exit_code == 2
    assert verify.output == (
        "Error: cannot verify: tool 1.0 is withdrawn, not unverified (next: nothing: the "
        "release is withdrawn)\n"
    )
    assert reject.exit_code == 2
    kinds = [e["kind"] for e in json.loads(grid.ok("release", "show", "tool", "1.0",
                                                   "--json"))["events"]]  # fmt: skip
    assert kinds == ["certified", "unverified", "remove"]


def test_a_release_withdrawn_before_the_lifecycle_knew_of_it_is_withdrawn_too(
    grid: Grid,
) -> None:
    """The index says withdrawn, the audit log has no step for it (an older pps's remove)."""
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    index_path = grid.root / "repo/index.json"
    index = json.loads(index_path.read_text())
    index["releases"][0]["withdrawn"] = True
    index_path.write_text(json.dumps(index))

    listed = grid.ok("release", "list")
    accept = grid.invoke("release", "accept", "tool", "1.0", "--site", "ALPHA")

    assert listed.splitlines()[1].split()[5:] == ["withdrawn", "-"], listed
    assert accept.exit_code == 2
    assert "tool 1.0 is withdrawn" in accept.output


def test_a_site_accepts_only_a_release_that_is_live_there(grid: Grid) -> None:
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    never = grid.invoke("release", "accept", "tool", "1.0", "--site", "ALPHA")
    away = grid.site_root("ALPHA").with_name("ALPHA.away")
    grid.site_root("ALPHA").rename(away)  # the push cannot reach it: UNKNOWN
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 1
    away.rename(grid.site_root("ALPHA"))
    failed = grid.invoke("release", "accept", "tool", "1.0", "--site", "ALPHA")
    assert grid.invoke("push", "tool", "1.0", "--site", "BRAVO").exit_code == 0
    live = grid.invoke("release", "accept", "tool", "1.0", "--site", "BRAVO")

    assert never.exit_code == 2
    assert never.output == (
        "Error: site ALPHA cannot accept tool 1.0: it is not live there (never pushed); "
        "'pps push tool 1.0 --site ALPHA' first\n"
    )
    assert failed.exit_code == 2
    assert failed.output.startswith(
        "Error: site ALPHA cannot accept tool 1.0: it is not live there (UNKNOWN at "
        "2026-03-02T09:00:00Z: "
    )
    assert len(failed.output.splitlines()) == 1
    assert live.exit_code == 0, live.output
    assert json.loads(grid.ok("release", "show", "tool", "1.0", "--json"))["state"] == (
        "rolling-out"
    )


def test_verify_of_a_release_pushed_nowhere_says_it_is_live_nowhere(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    _create(grid, "--bug", BUG)

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    broadcast, personal = smtp_server.received
    for mail in (broadcast, personal):
        assert "installed in preview" not in mail.body
        assert "Requirements" not in mail.body
        assert "ALPHA" not in mail.body
        assert "It is not live at any site yet (2026-03-02T09:00:00Z)" in mail.body


def test_verify_names_only_the_live_sites_and_the_tags_their_vos_publish(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    _create(grid, "--bug", BUG)
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    assert grid.invoke("push", "tool", "1.0", "--site", "DELTA").exit_code == 0
    away = grid.site_root("CHARLIE").with_name("CHARLIE.away")
    grid.site_root("CHARLIE").rename(away)  # the push cannot reach it: UNKNOWN, not live
    assert grid.invoke("push", "tool", "1.0", "--site", "CHARLIE").exit_code == 1
    away.rename(grid.site_root("CHARLIE"))

    result = grid.invoke("release", "verify", "tool", "1.0")

    assert result.exit_code == 0, result.output
    for mail in smtp_server.received:
        body = mail.body
        assert ("Live at 2026-03-02T09:00:00Z (installed beside production, its local tests "
                "passed): ALPHA, DELTA\n") in body  # fmt: skip
        requirements = [ln.strip() for ln in body.splitlines() if "Requirements" in ln]
        assert requirements == [
            'Requirements = Member("VO-dteam-PPS-tool-1.0", '
            "other.GlueHostApplicationSoftwareRunTimeEnvironment);",
            'Requirements = Member("VO-ops-PPS-tool-1.0", '
            "other.GlueHostApplicationSoftwareRunTimeEnvironment);",
        ]
        assert "CHARLIE" not in body and "BRAVO" not in body
        assert "vo.neugrid.eu" not in body


def test_the_held_preview_mail_of_an_embargoed_release_is_dropped_once_the_preview_ended(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    _create(grid, "--embargo")
    assert grid.invoke("push", "tool", "1.0", "--site", "ALPHA").exit_code == 0
    grid.ok("release", "verify", "tool", "1.0")
    grid.ok("release", "accept", "tool", "1.0", "--site", "ALPHA")
    grid.ok("release", "report", "tool", "1.0", "--site", "ALPHA", "--outcome", "success",
            "--effort", "1PH")  # fmt: skip
    grid.ok("release", "close", "tool", "1.0", "--outcome", "success", "--summary", "fine")

    lifted = grid.invoke("release", "unembargo", "tool", "1.0", "--why", "advisory out")

    assert lifted.exit_code == 0, lifted.output
    subjects = [m.message["Subject"] for m in smtp_server.received]
    assert subjects == ["[pps] tool 1.0 is released to production (success)"]
    assert "mail: 1 held mail(s) dropped: tool 1.0 is no longer in preview" in lifted.output
    queued = json.loads(grid.ok("notify", "queue", "--all", "--json"))
    assert [(m["kind"], m["status"]) for m in queued] == [("broadcast", "dropped"),
                                                         ("announce", "sent")]  # fmt: skip


def test_a_pilot_reminder_is_refused_for_a_withdrawn_release(grid: Grid) -> None:
    src = grid.source("wms-1.0", tests=PASSING)
    grid.ok("release", "create", "wms", "1.0", "--from", str(src), "--class", "bc-server",
            "--type", "minor")  # fmt: skip
    grid.ok("pilot", "start", "wms", "1.0", "--site", "DELTA", "--days", "7")
    grid.ok("remove", "wms", "1.0", "--yes")

    result = grid.invoke("pilot", "remind", "wms", "1.0")

    assert result.exit_code == 2
    assert result.output == (
        "Error: cannot pilot-remind: wms 1.0 is withdrawn (next: nothing: the release is "
        "withdrawn)\n"
    )


# --------------------------------------------------------------------------- 3. read-only


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


READ_ONLY = [
    ["status"],
    ["status", "tool"],
    ["status", "tool", "1.0"],
    ["sites"],
    ["release", "list"],
    ["release", "list", "--overdue"],
    ["release", "show", "tool", "1.0"],
    ["release", "notes", "tool", "1.0"],
    ["notify", "queue"],
    ["notify", "retry", "--dry-run"],
    ["metrics"],
    ["feedback", "list", "tool", "1.0"],
    ["pilot", "list"],
    ["push", "tool", "1.0", "--dry-run"],
    ["release", "verify", "tool", "1.0", "--dry-run"],
    ["release", "verify", "tool", "1.0", "--reject", "--why", "x", "--dry-run"],
]


@pytest.mark.parametrize("store", ["no-store", "a-store"])
def test_a_read_only_command_writes_nothing(grid: Grid, store: str) -> None:
    _create(grid)
    path = grid.root / "pps-state.sqlite"
    if store == "no-store":
        path.unlink()
    before = _snapshot(grid.root)

    results = {" ".join(args): grid.invoke(*args) for args in READ_ONLY}

    for command, result in results.items():
        assert result.exit_code == 0, (command, result.output)
    assert _snapshot(grid.root) == before
    assert sorted(p.name for p in grid.root.iterdir() if p.name.startswith("pps-state")) == (
        [] if store == "no-store" else ["pps-state.sqlite"]
    )


def test_read_only_commands_in_a_directory_without_a_repository_create_nothing(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from distributor.cli import cli

    config = tmp_path / "pps.toml"
    config.write_text('[repository]\npath = "repo"\n')
    commands = (["status"], ["release", "list"], ["notify", "queue"], ["metrics"],
                ["pilot", "list"], ["release", "show", "a", "1"], ["status", "a", "1"])  # fmt: skip
    for args in commands:
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code in (0, 2), (args, result.output)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["pps.toml"], args


# --------------------------------------------------------------------------- 4. site admin's day


def test_a_dry_run_says_which_local_sites_would_fail_because_their_root_is_missing(
    grid: Grid,
) -> None:
    _create(grid)
    grid.site_root("BRAVO").rename(grid.root / "elsewhere")

    dry = grid.invoke("push", "tool", "1.0", "--dry-run")
    as_json = json.loads(grid.invoke("push", "tool", "1.0", "--dry-run", "--json").output)

    assert dry.exit_code == 1, dry.output
    rows = {ln.split()[0]: ln for ln in dry.output.splitlines()[1:] if ln.strip()}
    assert rows["ALPHA"].split()[3:] == ["yes"]
    assert f"would fail: root {grid.site_root('BRAVO')} does not exist" in rows["BRAVO"]
    assert dry.output.splitlines()[-1] == (
        f"1 site(s) would fail: BRAVO (root missing: create it, or fix 'root' in {grid.config})"
    )
    bravo = next(t for t in as_json["targets"] if t["site"] == "BRAVO")
    assert bravo["problem"] == f"root {grid.site_root('BRAVO')} does not exist"
    assert not (grid.root / "pps-state.sqlite-wal").exists()


def test_remove_without_a_terminal_and_without_yes_says_to_pass_yes(grid: Grid) -> None:
    _create(grid)

    result = subprocess.run(
        [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), "remove",
         "tool", "1.0"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr == (
        "Error: pps remove asks before it withdraws tool 1.0 and there is no terminal to ask "
        "on: pass --yes\n"
    )
    assert "Aborted" not in result.stdout + result.stderr
    assert json.loads((grid.root / "repo/index.json").read_text())["releases"][0][
        "withdrawn"] is False  # fmt: skip


def test_remove_on_a_terminal_asks_and_no_withdraws_nothing(grid: Grid) -> None:
    _create(grid)
    pid, fd = pty.fork()
    if pid == 0:  # the child: pps on a terminal
        os.execv(sys.executable, [sys.executable, "-m", "distributor.cli", "--config",
                                  str(grid.config), "remove", "tool", "1.0"])  # fmt: skip
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            seen += os.read(fd, 4096)
    os.write(fd, b"n\n")
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)

    assert b"withdraw tool 1.0 from preview at 4 site(s)? [y/N]" in seen
    assert b"nothing withdrawn" in seen
    assert os.waitstatus_to_exitcode(status) == 1
    assert json.loads((grid.root / "repo/index.json").read_text())["releases"][0][
        "withdrawn"] is False  # fmt: skip


# --------------------------------------------------------------------------- a site's words


@pytest.fixture(scope="module")
def _verified(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    from tests.grid import make_grid

    grid = make_grid(tmp_path_factory.mktemp("verified"))
    _create(grid)
    grid.ok("release", "verify", "tool", "1.0")
    return grid


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(summary=st.text(max_size=200), state=st.sampled_from(["CRITICAL", "UNKNOWN", "WARNING"]))
def test_a_refused_accept_shows_what_the_site_said_on_one_printable_line(
    _verified: Grid, summary: str, state: str
) -> None:
    """The refusal quotes the site's last status line, which is the site's text: whatever it
    holds, the error stays one line of printable characters."""
    from distributor.lifecycle.rollout import Rollout
    from distributor.store import Outcome, Store
    from pps.errors import BadInput
    from pps.inventory import load_config
    from pps.repository import Repository

    config = load_config(_verified.config)
    assert config.state_path is not None
    with Store(config.state_path) as store:
        with store.push("tool", "1.0") as push_id:
            store.record(push_id, Outcome("ALPHA", "tool", "1.0", state, summary, 0.1))
        with pytest.raises(BadInput) as refused:
            Rollout(Repository(config.repository), store, config).accept("tool", "1.0", "ALPHA")
    message = str(refused.value)
    assert message.startswith("site ALPHA cannot accept tool 1.0: it is not live there")
    assert message.isprintable(), message


def test_a_close_retires_the_preview_at_an_ssh_site_too(ssh_grid: Any) -> None:
    """A push-only site behind a real sshd: the close reaches it over SSH and replaces what
    its incoming area holds."""
    grid = ssh_grid(["ALPHA"])
    grid.release()
    assert grid.invoke("push", "tool", "1.0").exit_code == 0
    assert TAG in grid.tags("ALPHA")
    for step in (["verify", "tool", "1.0"], ["accept", "tool", "1.0", "--site", "ALPHA"],
                 ["report", "tool", "1.0", "--site", "ALPHA", "--outcome", "warning",
                  "--effort", "1PH"]):  # fmt: skip
        assert grid.invoke("release", *step).exit_code == 0

    closed = grid.invoke("release", "close", "tool", "1.0", "--outcome", "warning",
                         "--summary", "fine")  # fmt: skip

    assert closed.exit_code == 0, closed.output
    assert "1/1 site(s) told to retire tool 1.0" in closed.output
    assert TAG not in grid.tags("ALPHA")
    incoming = grid.site_root("ALPHA") / "opt/pps/preview/.pps/incoming/tool-1.0/index.json"
    assert json.loads(incoming.read_text())["releases"][0]["stage"] == "production"


def _opt_out(grid: Grid, site: str) -> None:
    """*site* writes its own site file, opting out of tool 1.0 (``skip``)."""
    root = grid.site_root(site)
    vos = ", ".join(f'"{v}"' for v in _vos(site))
    (root / "etc/pps").mkdir(parents=True, exist_ok=True)
    (root / "etc/pps/site.toml").write_text(
        f'site = "{site}"\nvos = [{vos}]\nsubcluster = "ce.{site.lower()}.test"\n'
        f'preview_root = "{root}/opt/pps/preview"\ninfo_dir = "{root}/opt/glite/var/info"\n'
        f'profile_d = "{root}/etc/profile.d"\nskip = ["tool 1.0"]\n'
    )


def test_a_site_that_opts_out_of_a_version_is_ok_but_not_live(
    grid: Grid, smtp_server: SMTPServer
) -> None:
    """The site's probe says OK (nothing is wrong there), yet the version is not live there: it
    cannot accept it, the mails do not name it, and the metrics do not count it delivered."""
    grid.config.write_text(grid.config.read_text() + notify_section(smtp_server.port))
    _create(grid, "--bug", BUG)
    _opt_out(grid, "ALPHA")
    pushed = grid.invoke("push", "tool", "1.0", "--site", "ALPHA", "--site", "BRAVO")
    grid.ok("release", "verify", "tool", "1.0")
    accept = grid.invoke("release", "accept", "tool", "1.0", "--site", "ALPHA")

    assert pushed.exit_code == 0, pushed.output
    assert not _has_tag(grid, "ALPHA") and _has_tag(grid, "BRAVO")
    status = {o["site"]: o for o in json.loads(grid.ok("status", "tool", "1.0", "--json"))}
    assert (status["ALPHA"]["state"], status["ALPHA"]["live"]) == ("OK", False)
    assert (status["BRAVO"]["state"], status["BRAVO"]["live"]) == ("OK", True)
    assert accept.exit_code == 2
    assert "site ALPHA cannot accept tool 1.0: it is not live there (OK at " in accept.output
    assert "skipped (this site opts out of it" in accept.output
    for mail in smtp_server.received:
        assert "(installed beside production, its local tests passed): BRAVO\n" in mail.body
        assert "ALPHA" not in mail.body
