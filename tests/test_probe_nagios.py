"""check_preview_client under a real Nagios 4: scheduled, run, and its state and output kept.

A throw-away nagios4 (Debian's nagios4-core) runs in a temp dir with one-second intervals; two
services run the probe against a local repository, one for a release whose local test passes and
one whose test fails.  What a site admin sees in Nagios is asserted from ``status.dat``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from distributor.releases import create_release
from pps.manifest import LocalTest
from pps.repository import Repository
from tests.realparts import require

NAGIOS = "/usr/sbin/nagios4"


def probe_command() -> str:
    script = Path(sys.executable).with_name("check_preview_client")
    return str(script) if script.exists() else f"{sys.executable} -m probes.check_preview_client"


def parse_status(path: Path) -> dict[str, dict[str, str]]:
    """servicestatus blocks of status.dat, keyed by service_description."""
    services: dict[str, dict[str, str]] = {}
    block: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line == "servicestatus {":
            block = {}
        elif line == "}" and block is not None:
            services[block.get("service_description", "")] = block
            block = None
        elif block is not None and "=" in line:
            key, _, value = line.partition("=")
            block[key] = value
    return services


def service(component: str) -> str:
    """A service running the probe for *component* 1.0 once (the interval is an hour)."""
    return textwrap.dedent(f"""\
        define service {{
            host_name site
            service_description preview-{component}
            check_command check_preview_client!{component}
            max_check_attempts 1
            check_interval 3600
            retry_interval 3600
            check_period 24x7
            contacts nobody
            notification_period 24x7
        }}
        """)


@pytest.fixture
def nagios_site(tmp_path: Path):
    nagios = require(NAGIOS, "nagios4-core")
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin/tool").write_text("#!/bin/sh\necho tool 1.0\n")
    (src / "bin/tool").chmod(0o755)
    repo = Repository(tmp_path / "repo")
    for component, command in (("good", "tool | grep -q 1.0"), ("bad", "tool | grep -q 9.9")):
        create_release(repo, component, "1.0", source=src, update_class="bc-client",
                       release_type="revision", tests=[LocalTest("runs", command)])  # fmt: skip
    site = tmp_path / "site"
    (site / "profile.d").mkdir(parents=True)
    run = tmp_path / "nagios"
    (run / "checkresults").mkdir(parents=True)
    args = (
        f"--version 1.0 --repository {repo.root} --preview-root {site}/preview "
        f"--info-dir {site}/info --subcluster ce.nagios.test --vo dteam "
        f"--profile-d {site}/profile.d --timeout 60"
    )
    (run / "objects.cfg").write_text(
        textwrap.dedent(f"""\
        define timeperiod {{
            timeperiod_name 24x7
            alias 24x7
            sunday 00:00-24:00
            monday 00:00-24:00
            tuesday 00:00-24:00
            wednesday 00:00-24:00
            thursday 00:00-24:00
            friday 00:00-24:00
            saturday 00:00-24:00
        }}
        define command {{
            command_name check_preview_client
            command_line {probe_command()} --component $ARG1$ {args}
        }}
        define contact {{
            contact_name nobody
            host_notifications_enabled 0
            service_notifications_enabled 0
            host_notification_period 24x7
            service_notification_period 24x7
            host_notification_options n
            service_notification_options n
            host_notification_commands check_preview_client
            service_notification_commands check_preview_client
        }}
        define host {{
            host_name site
            address 127.0.0.1
            max_check_attempts 1
            check_period 24x7
            active_checks_enabled 0
            contacts nobody
            notification_period 24x7
        }}
        """)
        + "".join(service(c) for c in ("good", "bad"))
    )
    cfg = run / "nagios.cfg"
    cfg.write_text(
        textwrap.dedent(f"""\
        log_file={run}/nagios.log
        cfg_file={run}/objects.cfg
        object_cache_file={run}/objects.cache
        precached_object_file={run}/objects.precache
        status_file={run}/status.dat
        status_update_interval=1
        command_file={run}/nagios.cmd
        check_external_commands=1
        lock_file={run}/nagios.lock
        temp_file={run}/nagios.tmp
        temp_path={run}
        check_result_path={run}/checkresults
        query_socket={run}/nagios.qh
        state_retention_file={run}/retention.dat
        retain_state_information=0
        nagios_user=root
        nagios_group=root
        interval_length=1
        max_service_check_spread=1
        service_inter_check_delay_method=n
        check_workers=1
        check_for_updates=0
        enable_notifications=0
        use_syslog=0
        log_rotation_method=n
        """)
    )
    check = subprocess.run([nagios, "-v", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    proc = subprocess.Popen([nagios, str(cfg)], cwd=run, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield run / "status.dat", site
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_checks(status: Path, names: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    services: dict = {}
    while time.monotonic() < deadline:
        if status.exists():
            services = parse_status(status)
            if all(services.get(n, {}).get("has_been_checked") == "1" for n in names):
                return services
        time.sleep(0.3)
    pytest.fail(f"Nagios did not check {sorted(names)} within {timeout}s: {services}")


def test_nagios_runs_the_probe_and_shows_ok_for_a_passing_release_and_critical_for_a_failing_one(
    nagios_site,
):
    status, site = nagios_site
    services = wait_for_checks(status, {"preview-good", "preview-bad"})
    good, bad = services["preview-good"], services["preview-bad"]
    assert good["current_state"] == "0", good["plugin_output"]
    assert good["plugin_output"] == (
        "PREVIEW_CLIENT OK - good 1.0 verified at ce.nagios.test: 1/1 tests passed, "
        "tagged for dteam"
    )
    assert "tests_passed=1" in good["performance_data"]
    assert bad["current_state"] == "2", bad["plugin_output"]
    assert bad["plugin_output"].startswith("PREVIEW_CLIENT CRITICAL - bad 1.0 broken at")
    assert "test runs failed" in bad["plugin_output"]
    tags = (site / "info/ce.nagios.test/dteam/dteam.list").read_text().split()
    assert "VO-dteam-PPS-good-1.0" in tags
    assert "VO-dteam-PPS-bad-1.0" not in tags
