"""``pps push`` over SSH to real OpenSSH servers: the sites, their faults, and the operator's
tools for host keys.  Every site is a real ``sshd`` on 127.0.0.1 (tests/sshd_helpers.py); the
probe runs there from the one-file probe the push uploads, with the system's python3."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from distributor.cli import cli
from tests import sshd_helpers
from tests.realparts import require
from tests.sshd_helpers import SshTestbed, refused_port, silent_port

ssh_testbed_factory = sshd_helpers.ssh_testbed_factory

PASSING = """
[[tests]]
name = "tool-runs"
command = "tool | grep -q 1.0"
timeout = 20
"""


class SshGrid:
    """A pps.toml whose sites are the testbed's servers (plus extra ssh sites by port)."""

    def __init__(self, root: Path, bed: SshTestbed, python: str) -> None:
        self.root = root
        self.bed = bed
        self.python = python
        self.config = root / "pps.toml"
        self.extra: dict[str, int] = {}
        #: A site's own ``python`` (e.g. a hostile stand-in), else *python*.
        self.pythons: dict[str, str] = {}
        root.mkdir(parents=True, exist_ok=True)

    def site_root(self, name: str) -> Path:
        return self.bed.site(name).root if name not in self.extra else self.root / name

    def write(self, timeout: float = 5.0, *, identity: bool = True) -> None:
        lines = ['[repository]\npath = "repo"\n']
        names = [s.name for s in self.bed.sites] + list(self.extra)
        for name in names:
            port = self.extra.get(name) or self.bed.site(name).port
            root = self.site_root(name)
            (root / "etc/profile.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/profile.d/grid.sh").write_text(f'export SITE_NAME="{name}"\n')
            (root / "opt/glite/var/info").mkdir(parents=True, exist_ok=True)
            lines.append(textwrap.dedent(f"""\
                [[sites]]
                name = "{name}"
                partner = "none"
                vos = ["dteam"]
                transport = "ssh"
                host = "127.0.0.1"
                port = {port}
                user = "root"
                {f'identity = "{self.bed.identity}"' if identity else ""}
                known_hosts = "{self.bed.known_hosts}"
                python = "{self.pythons.get(name, self.python)}"
                connect_timeout = {timeout}
                subcluster = "ce.{name.lower()}.test"
                preview_root = "{root}/opt/pps/preview"
                info_dir = "{root}/opt/glite/var/info"
                profile_d = "{root}/etc/profile.d"
                site_config = "{root}/etc/pps/site.toml"
                """))  # fmt: skip
        self.config.write_text("\n".join(lines))
        if not (self.root / "repo").exists():
            assert self.invoke("repo", "init").exit_code == 0

    def invoke(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args], input=input)

    def tags(self, name: str) -> list[str]:
        path = self.site_root(name) / f"opt/glite/var/info/ce.{name.lower()}.test/dteam/dteam.list"
        return path.read_text().split() if path.exists() else []

    def release(self, tests: str = PASSING, version: str = "1.0", payload: int = 0) -> None:
        src = self.root / "src" / version
        (src / "bin").mkdir(parents=True, exist_ok=True)
        (src / "bin/tool").write_text('#!/bin/sh\necho "tool 1.0"\n')
        (src / "bin/tool").chmod(0o755)
        (src / "pps-tests.toml").write_text(tests)
        if payload:
            (src / "share").mkdir(exist_ok=True)
            (src / "share/payload").write_bytes(os.urandom(payload))
        result = self.invoke("release", "create", "tool", version, "--from", str(src),
                             "--class", "bc-client", "--type", "revision")  # fmt: skip
        assert result.exit_code == 0, result.output


def _states(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("OK", "WARNING", "CRITICAL", "UNKNOWN", "INTERRUPTED"):
            rows[parts[0]] = parts[1]
    return rows


@pytest.fixture
def ssh_grid(ssh_testbed_factory, tmp_path):
    python = require("/usr/bin/python3", "python3")

    def make(names: list[str]) -> SshGrid:
        bed = ssh_testbed_factory(names)
        grid = SshGrid(tmp_path / "grid", bed, python)
        grid.write()
        return grid

    return make


def test_a_push_over_ssh_installs_tests_and_tags_at_every_site(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA", "BRAVO", "CHARLIE"])
    grid.release()

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 0, result.output
    assert _states(result.output) == {"ALPHA": "OK", "BRAVO": "OK", "CHARLIE": "OK"}
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("BRAVO")
    probe = list((grid.site_root("ALPHA") / "opt/pps/preview/.pps/bin").glob("*.pyz"))
    assert len(probe) == 1
    inode = probe[0].stat().st_ino

    again = grid.invoke("push", "tool", "1.0", "--force")

    assert again.exit_code == 0, again.output
    assert probe[0].stat().st_ino == inode  # the probe, unchanged, was not uploaded again


def test_dead_silent_and_refusing_sites_fail_alone_with_their_reason(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    with silent_port() as silent:
        grid.extra = {"DOWN": refused_port(), "MUTE": silent}
        grid.write(timeout=2)
        grid.release()

        started = time.monotonic()
        result = grid.invoke("push", "tool", "1.0")

    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert _states(result.output) == {"ALPHA": "OK", "DOWN": "UNKNOWN", "MUTE": "UNKNOWN"}
    assert "DOWN: UNKNOWN: site DOWN: cannot connect to root@127.0.0.1:" in result.output
    assert "connection refused" in result.output
    assert "MUTE: UNKNOWN: site MUTE:" in result.output and "timed out" in result.output.lower()


def test_an_unknown_host_key_fails_the_site_until_the_operator_trusts_it(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release()
    grid.bed.forget("ALPHA")

    refused = grid.invoke("push", "tool", "1.0")
    untouched = grid.tags("ALPHA")
    asked = grid.invoke("site", "trust", "ALPHA", input="n\n")
    trusted = grid.invoke("site", "trust", "ALPHA", "--yes")
    pushed = grid.invoke("push", "tool", "1.0")

    assert refused.exit_code == 1
    assert "the host key of 127.0.0.1:" in refused.output
    assert "is unknown" in refused.output and "pps site trust ALPHA" in refused.output
    assert untouched == []
    assert asked.exit_code == 1 and "not trusted: nothing changed" in asked.output
    assert trusted.exit_code == 0, trusted.output
    assert "presents ssh-ed25519 SHA256:" in trusted.output
    assert pushed.exit_code == 0, pushed.output


def test_a_changed_host_key_fails_the_site_with_both_fingerprints(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA", "BRAVO"])
    grid.release()
    grid.bed.new_host_key("ALPHA")

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 1
    assert _states(result.output) == {"ALPHA": "UNKNOWN", "BRAVO": "OK"}
    assert "CHANGED" in result.output and "refusing it" in result.output
    assert grid.tags("ALPHA") == []


def test_a_wrong_user_key_fails_the_site_with_the_reason(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release()
    grid.bed.site("ALPHA").authorized_keys.write_text("")

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 1
    assert "site ALPHA: authentication as root@127.0.0.1:" in result.output


def test_a_probe_that_hangs_fails_its_site_and_not_the_others(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA", "BRAVO"])
    hang = 'if [ "$SITE_NAME" = ALPHA ]; then sleep 120; fi'
    grid.release(tests=f"[[tests]]\nname = 'maybe-hangs'\ncommand = '{hang}'\ntimeout = 600\n")

    started = time.monotonic()
    result = grid.invoke("push", "tool", "1.0", "--timeout", "4")

    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert _states(result.output) == {"ALPHA": "UNKNOWN", "BRAVO": "OK"}
    assert "Timeout: check execution aborted after 4s" in result.output


def test_a_cut_upload_is_resumed_by_the_next_push(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release(payload=24 << 20)
    part_dir = grid.site_root("ALPHA") / "opt/pps/preview/.pps/incoming/tool-1.0"
    results: list[Result] = []
    pushing = threading.Thread(target=lambda: results.append(grid.invoke("push", "tool", "1.0")))
    pushing.start()
    deadline = time.monotonic() + 30
    while not list(part_dir.rglob("*.tar.gz.part")):
        assert time.monotonic() < deadline, "the upload did not start"
        time.sleep(0.001)
    grid.bed.site("ALPHA").end_sessions()  # the network is cut mid-transfer
    pushing.join(timeout=60)
    (part,) = part_dir.rglob("*.tar.gz.part")
    cut_at = part.stat().st_size

    again = grid.invoke("push", "tool", "1.0", "--json")

    assert results[0].exit_code == 1
    assert _states(results[0].output) == {"ALPHA": "UNKNOWN"}
    assert again.exit_code == 0, again.output
    (outcome,) = json.loads(again.stdout)["outcomes"]
    size = next((grid.root / "repo").rglob("*.tar.gz")).stat().st_size
    assert 0 < cut_at < size
    assert f"tarball: resumed at byte {cut_at} of {size}" in outcome["output"]
    assert not part.exists()
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA")


@pytest.mark.parametrize(
    ("size", "state", "reason"),
    [
        ("2m", "CRITICAL", "not enough free space in"),  # the probe fits, the release does not
        ("64k", "UNKNOWN", "site ALPHA: no space left for"),  # not even the probe fits
    ],
    ids=["release-too-large", "probe-too-large"],
)
def test_a_full_remote_disk_fails_the_site_with_the_reason(ssh_grid, size, state, reason) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release(payload=8 << 20)
    preview = grid.site_root("ALPHA") / "opt/pps/preview"
    preview.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(preview)], capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        result = grid.invoke("push", "tool", "1.0")
        left = sorted(p.name for p in preview.rglob("*") if p.is_file())
    finally:
        subprocess.run(["umount", "-l", str(preview)], check=False)

    assert result.exit_code == 1, (result.output, left)
    assert _states(result.output) == {"ALPHA": state}
    assert reason in result.output
    assert grid.tags("ALPHA") == []
    assert not [name for name in left if name.endswith((".part", ".tar.gz"))]


def test_ctrl_c_stops_the_remote_probes_which_release_their_locks(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA", "BRAVO"])
    flag_dir = grid.root / "flags"
    flag_dir.mkdir(mode=0o777)
    flag_dir.chmod(0o777)
    grid.release(tests=f"[[tests]]\nname = 'hangs'\ncommand = 'touch {flag_dir}/$SITE_NAME; "
                       "sleep 300'\ntimeout = 600\n")  # fmt: skip
    push = subprocess.Popen(
        [sys.executable, "-m", "distributor.cli", "--config", str(grid.config), "push", "tool",
         "1.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list(flag_dir.iterdir())) < 2:
        assert time.monotonic() < deadline, "the probes did not start their tests"
        time.sleep(0.05)

    started = time.monotonic()
    push.send_signal(signal.SIGINT)
    out, err = push.communicate(timeout=30)

    assert time.monotonic() - started < 10
    assert push.returncode == 130, out + err
    assert "Traceback" not in err
    assert _states(out) == {"ALPHA": "INTERRUPTED", "BRAVO": "INTERRUPTED"}
    assert "interrupted by SIGTERM" in out  # what each remote probe said
    from pps.fsutil import locked

    for name in ("ALPHA", "BRAVO"):
        with locked(grid.site_root(name) / "opt/pps/preview/.pps/lock"):  # released
            pass
    status = json.loads(grid.invoke("status", "tool", "1.0", "--json").output)
    assert {o["site"]: o["state"] for o in status} == {"ALPHA": "INTERRUPTED",
                                                       "BRAVO": "INTERRUPTED"}  # fmt: skip


def test_a_site_file_that_differs_from_the_inventory_wins_with_a_warning(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release()
    root = grid.site_root("ALPHA")
    (root / "etc/pps").mkdir(parents=True)
    (root / "etc/pps/site.toml").write_text(textwrap.dedent(f"""\
        vos = ["ops"]
        subcluster = "ce.alpha.test"
        preview_root = "{root}/opt/pps/preview"
        info_dir = "{root}/opt/glite/var/info"
        profile_d = "{root}/etc/profile.d"
        """))  # fmt: skip

    result = grid.invoke("push", "tool", "1.0")

    assert result.exit_code == 0, result.output
    assert "ALPHA: warning: site file says vos = ['ops'], the inventory ['dteam']" in (
        result.stderr
    )
    tags = root / "opt/glite/var/info/ce.alpha.test/ops/ops.list"
    assert "VO-ops-PPS-tool-1.0" in tags.read_text()
    assert grid.tags("ALPHA") == []


def test_remove_over_ssh_withdraws_and_removes(ssh_grid) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release()
    assert grid.invoke("push", "tool", "1.0").exit_code == 0

    result = grid.invoke("remove", "tool", "1.0", "--now", "--yes")

    assert result.exit_code == 0, result.output
    assert grid.tags("ALPHA") == ["PPS-PREVIEW"]
    assert not (grid.site_root("ALPHA") / "opt/pps/preview/tool/1.0").exists()


def test_the_gip_provider_runs_at_ssh_sites_for_the_bulletin(ssh_grid, tmp_path) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.release()
    assert grid.invoke("push", "tool", "1.0").exit_code == 0

    result = grid.invoke("bulletin", "build", "--out", str(tmp_path / "bulletin"), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["site_errors"] == {}
    data = json.loads((tmp_path / "bulletin" / "map.json").read_text())
    assert data["components"]["tool"]["1.0"]["sites"] == ["ALPHA"]
    shutil.rmtree(tmp_path / "bulletin")


def test_a_damaged_leftover_is_not_resumed_the_push_sends_everything(ssh_grid) -> None:
    """A cut stream is resumed from what the site kept only when the push's own first bytes
    hash the same: a damaged leftover is dropped and the whole tarball goes."""
    grid = ssh_grid(["ALPHA"])
    grid.release()
    tarball = next((grid.root / "repo").rglob("*.tar.gz"))
    rel = tarball.relative_to(grid.root / "repo")
    part = grid.site_root("ALPHA") / "opt/pps/preview/.pps/incoming/tool-1.0" / f"{rel}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * (tarball.stat().st_size // 2))  # a damaged first half

    result = grid.invoke("push", "tool", "1.0", "--json")

    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)["outcomes"]
    assert f"tarball: streamed, {tarball.stat().st_size} bytes (the site's" in outcome["output"]
    assert "did not match: dropped" in outcome["output"]
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA")
    assert not part.exists()
    kept = part.with_name(tarball.name)
    assert kept.read_bytes() == tarball.read_bytes()  # the site's copy, for its Nagios


def test_without_an_identity_the_operators_ssh_agent_authenticates(ssh_grid, monkeypatch) -> None:
    grid = ssh_grid(["ALPHA"])
    grid.write(identity=False)
    grid.release()
    agent = require("/usr/bin/ssh-agent", "openssh-client")
    started = subprocess.run([agent, "-s"], capture_output=True, text=True, check=True)
    env = dict(line.split(";", 1)[0].split("=", 1) for line in started.stdout.splitlines()
               if line.startswith(("SSH_AUTH_SOCK=", "SSH_AGENT_PID=")))  # fmt: skip
    try:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        refused = grid.invoke("push", "tool", "1.0")  # an empty agent: no key to offer
        subprocess.run(["ssh-add", "-q", str(grid.bed.identity)], check=True,
                       env={**os.environ, **env})  # fmt: skip
        pushed = grid.invoke("push", "tool", "1.0")
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)

    assert refused.exit_code == 1
    assert "site ALPHA: authentication as root@127.0.0.1:" in refused.output
    assert "no key in the SSH agent (SSH_AUTH_SOCK)" in refused.output
    assert pushed.exit_code == 0, pushed.output
    assert "VO-dteam-PPS-tool-1.0" in grid.tags("ALPHA")
