"""The sshd testbed (tests/sshd_helpers.py) proves itself with the real OpenSSH client and
paramiko: logins against pinned host keys, a changed and an unknown host key, a stopped
server, sftp, sessions that outlive their listener, and the two fault ports."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paramiko
import pytest

from tests import sshd_helpers
from tests.realparts import require
from tests.sshd_helpers import SshSite, SshTestbed, refused_port, silent_port, start_testbed

ssh_testbed_factory = sshd_helpers.ssh_testbed_factory  # the fixture, in this module

Factory = Callable[[Sequence[str]], SshTestbed]


@pytest.fixture
def ssh() -> str:
    return require("ssh", "openssh-client")


def run_ssh(ssh: str, testbed: SshTestbed, site: SshSite, command: str = "echo ok"):
    return subprocess.run(
        [ssh, *testbed.ssh_options(), "-p", str(site.port), f"{testbed.user}@127.0.0.1", command],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip


def paramiko_client(testbed: SshTestbed, site: SshSite) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(testbed.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1", site.port, username="root", key_filename=str(testbed.identity),
        look_for_keys=False, allow_agent=False, timeout=5,
    )  # fmt: skip
    return client


def paramiko_run(client: paramiko.SSHClient, command: str) -> str:
    stdin, stdout, stderr = client.exec_command(command, timeout=10)
    stdin.close()  # an open stdin file raises from __del__ once the client is closed
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0
    stdout.close()
    stderr.close()
    return out


def test_three_sites_answer_the_openssh_client_against_pinned_host_keys(
    ssh_testbed_factory: Factory, ssh: str
):
    testbed = ssh_testbed_factory(["ALPHA", "BRAVO", "CHARLIE"])

    procs = [
        subprocess.Popen(
            [ssh, *testbed.ssh_options(), "-p", str(s.port), "root@127.0.0.1", "echo ok"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for s in testbed.sites
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=20)
        assert (proc.returncode, out) == (0, "ok\n"), err

    assert [s.name for s in testbed.sites] == ["ALPHA", "BRAVO", "CHARLIE"]
    assert len({s.port for s in testbed.sites}) == 3
    assert testbed.known_hosts.read_text() == "".join(
        f"[127.0.0.1]:{s.port} {s.host_key_pub}\n" for s in testbed.sites
    )
    assert stat.S_IMODE(testbed.identity.stat().st_mode) == 0o600
    for site in testbed.sites:
        assert site.host_key_pub.startswith("ssh-ed25519 AAAA")
        assert site.known_hosts_line() == f"[127.0.0.1]:{site.port} {site.host_key_pub}"
        assert stat.S_IMODE(site.root.stat().st_mode) == 0o755
        assert list(site.root.iterdir()) == []
        assert site.log() == ""  # LogLevel ERROR, and readiness never connected
    assert testbed.site("BRAVO") is testbed.sites[1]


def test_a_changed_host_key_is_refused_and_accepted_once_remembered(
    ssh_testbed_factory: Factory, ssh: str
):
    testbed = ssh_testbed_factory(["ALPHA"])
    site = testbed.site("ALPHA")
    port, old_key, known = site.port, site.host_key_pub, testbed.known_hosts.read_text()

    testbed.new_host_key("ALPHA")

    assert (site.port, testbed.known_hosts.read_text()) == (port, known)
    assert site.host_key_pub != old_key
    result = run_ssh(ssh, testbed, site)
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    testbed.remember("ALPHA")
    assert run_ssh(ssh, testbed, site).stdout == "ok\n"


def test_a_forgotten_host_key_fails_host_key_verification(ssh_testbed_factory: Factory, ssh: str):
    testbed = ssh_testbed_factory(["ALPHA", "BRAVO"])

    testbed.forget("ALPHA")

    assert testbed.known_hosts.read_text() == testbed.site("BRAVO").known_hosts_line() + "\n"
    result = run_ssh(ssh, testbed, testbed.site("ALPHA"))
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr
    assert run_ssh(ssh, testbed, testbed.site("BRAVO")).stdout == "ok\n"


def test_a_stopped_site_refuses_connections_and_starts_again(
    ssh_testbed_factory: Factory, ssh: str
):
    testbed = ssh_testbed_factory(["ALPHA"])
    site = testbed.site("ALPHA")

    site.stop()

    assert not site.running
    result = run_ssh(ssh, testbed, site)
    assert result.returncode == 255
    assert "Connection refused" in result.stderr
    site.start()
    assert run_ssh(ssh, testbed, site).stdout == "ok\n"
    site.stop(kill=True)
    assert "Connection refused" in run_ssh(ssh, testbed, site).stderr
    site.start()
    assert run_ssh(ssh, testbed, site).stdout == "ok\n"


def test_sftp_puts_a_file_into_the_site_root(ssh_testbed_factory: Factory, tmp_path: Path):
    sftp = require("sftp", "openssh-client")
    testbed = ssh_testbed_factory(["ALPHA"])
    site = testbed.site("ALPHA")
    local = tmp_path / "payload.txt"
    local.write_text("preview tarball stand-in\n")
    batch = tmp_path / "batch"
    batch.write_text(f"put {local} {site.root}/incoming.txt\n")

    result = subprocess.run(
        [sftp, *testbed.ssh_options(), "-b", str(batch), "-P", str(site.port), "root@127.0.0.1"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (site.root / "incoming.txt").read_text() == "preview tarball stand-in\n"


def test_paramiko_logs_in_with_the_known_hosts_and_identity(ssh_testbed_factory: Factory):
    testbed = ssh_testbed_factory(["ALPHA", "BRAVO"])

    client = paramiko_client(testbed, testbed.site("BRAVO"))
    try:
        assert paramiko_run(client, "echo ok") == "ok\n"
    finally:
        client.close()

    testbed.forget("ALPHA")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        paramiko_client(testbed, testbed.site("ALPHA")).close()
    testbed.remember("ALPHA")
    testbed.new_host_key("ALPHA")
    with pytest.raises(paramiko.BadHostKeyException):
        paramiko_client(testbed, testbed.site("ALPHA")).close()


def test_an_open_session_outlives_its_listener_until_its_sessions_end(
    ssh_testbed_factory: Factory,
):
    testbed = ssh_testbed_factory(["ALPHA"])
    site = testbed.site("ALPHA")
    client = paramiko_client(testbed, site)
    try:
        site.stop()
        assert paramiko_run(client, "echo still") == "still\n"

        site.end_sessions()

        transport = client.get_transport()
        assert transport is not None
        deadline = time.monotonic() + 5
        while transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not transport.is_active()
    finally:
        client.close()


def test_the_fault_ports(ssh: str, tmp_path: Path):
    port = refused_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    with silent_port() as silent:
        with socket.create_connection(("127.0.0.1", silent), timeout=2) as conn:
            conn.settimeout(0.3)
            conn.sendall(b"SSH-2.0-test\r\n")
            with pytest.raises(socket.timeout):
                conn.recv(1)
        result = subprocess.run(
            [ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=1",
             "-p", str(silent), "root@127.0.0.1", "true"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert result.returncode == 255
        assert "timed out" in result.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", silent), timeout=2).close()


def test_stop_all_leaves_no_process_behind(ssh: str, tmp_path: Path):
    require("/usr/sbin/sshd", "openssh-server")
    if os.geteuid() != 0:
        pytest.skip("the sshd testbed runs as root")
    testbed = start_testbed(tmp_path / "tb", ["ALPHA", "BRAVO"])
    try:
        alpha = testbed.site("ALPHA")
        session = subprocess.Popen(
            [ssh, *testbed.ssh_options(), "-p", str(alpha.port), "root@127.0.0.1",
             "echo $$; exec sleep 60"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert session.stdout is not None
        remote = int(session.stdout.readline())  # the site is this machine: a pid of ours
        listeners = [s.pid for s in testbed.sites]
        alpha.stop()  # the session lives on, orphaned
        assert Path(f"/proc/{remote}/cmdline").read_bytes() == b"sleep\x0060\x00"
    finally:
        testbed.stop_all()

    assert session.wait(timeout=10) == 255  # its server side was killed
    session.stdout.close()
    assert [s.running for s in testbed.sites] == [False, False]
    for pid in (remote, *listeners):
        assert pid is not None
        state = Path(f"/proc/{pid}/stat")
        assert not state.exists() or state.read_text().split(") ")[1].startswith("Z")
    left = subprocess.run(["pgrep", "-f", f"sshd -D -e -f {tmp_path}"], capture_output=True)
    assert left.stdout == b""


def test_a_port_taken_before_sshd_binds_it_is_retried_on_another(
    ssh_testbed_factory: Factory, monkeypatch: pytest.MonkeyPatch
):
    picks: list[list[int]] = []
    real = sshd_helpers._free_ports
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]

        def first_pick_taken(count: int) -> list[int]:
            ports = real(count)
            if not picks:
                ports[0] = taken
            picks.append(ports)
            return ports

        monkeypatch.setattr(sshd_helpers, "_free_ports", first_pick_taken)
        testbed = ssh_testbed_factory(["ALPHA", "BRAVO"])

        alpha = testbed.site("ALPHA")
        assert len(picks) == 2 and alpha.port not in (taken, testbed.site("BRAVO").port)
        assert alpha.running and alpha.log() == ""
        alpha.stop()
        alpha.port = taken  # a restart on a port someone took meanwhile is an error
        with pytest.raises(sshd_helpers.PortClash):
            alpha.start()
