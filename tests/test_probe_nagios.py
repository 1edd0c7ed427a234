"""The probe under a real Nagios 4, configured by ``pps nagios-config``.

A throw-away nagios4 (Debian's nagios4-core) runs in a temp dir with one-second intervals, on
the objects ``pps nagios-config`` writes for a local site that has its own site file: one
service for a release whose local test passes, one whose test fails, the cleanup, and the
publication check against a real slapd BDII.  What a site admin sees in Nagios is asserted from
``status.dat``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import bdii_helpers
from tests.bdii_helpers import Slapd
from tests.grid import Grid, write
from tests.realparts import require

slapd = bdii_helpers.slapd
slapd_factory = bdii_helpers.slapd_factory

NAGIOS = "/usr/sbin/nagios4"


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


def main_config(run: Path, objects: Path) -> Path:
    (run / "checkresults").mkdir(parents=True, exist_ok=True)
    cfg = run / "nagios.cfg"
    cfg.write_text(
        textwrap.dedent(f"""\
        log_file={run}/nagios.log
        cfg_file={objects}
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
        illegal_macro_output_chars=`~$&|'"<>
        """)
    )
    return cfg


def verify(nagios: str, cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nagios, "-v", str(cfg)], capture_output=True, text=True)


def site_file(grid: Grid, name: str, vos: str = '["dteam"]') -> None:
    root = grid.site_root(name)
    write(
        root / "etc/pps/site.toml",
        f"""\
        vos = {vos}
        subcluster = "ce.{name.lower()}.test"
        preview_root = "{root}/opt/pps/preview"
        info_dir = "{root}/opt/glite/var/info"
        profile_d = "{root}/etc/profile.d"
        """,
    )


def pull_mode(grid: Grid) -> None:
    """The repository gets a URL (here a directory): the services read it on their own."""
    text = grid.config.read_text()
    repo = grid.root / "repo"
    grid.config.write_text(text.replace('path = "repo"\n', f'path = "repo"\nurl = "{repo}"\n', 1))


def releases(grid: Grid) -> None:
    for component, wanted in (("good", "1.0"), ("bad", "9.9")):
        src = grid.source(component)
        result = grid.invoke(
            "release", "create", component, "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision", "--test", f"runs=tool | grep -q {wanted}",
        )  # fmt: skip
        assert result.exit_code == 0, result.output


@pytest.fixture
def nagios() -> str:
    return require(NAGIOS, "nagios4-core")


def test_the_generated_objects_are_accepted_by_nagios_alone(grid: Grid, nagios: str, tmp_path):
    releases(grid)
    for name in ("ALPHA", "DELTA"):
        site_file(grid, name)
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", "--out", str(objects))

    assert result.exit_code == 0, result.output
    text = objects.read_text()
    assert "service_description  pps good 1.0" in text
    assert "--site-config $_HOSTSITE_CONFIG$ --timeout 50" in text
    assert f"_SITE_CONFIG  {grid.site_root('ALPHA')}/etc/pps/site.toml" in text
    assert (
        "service_description  pps cleanup" not in text
    )  # push mode: no repository URL to clean up against
    check = verify(nagios, main_config(tmp_path / "run", objects))
    assert check.returncode == 0, check.stdout
    assert "Total Errors:   0" in check.stdout
    assert "Total Warnings: 0" in check.stdout


def test_the_publication_service_is_accepted_by_nagios_alone(grid: Grid, nagios: str, tmp_path):
    releases(grid)
    site_file(grid, "ALPHA")
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", "--site", "ALPHA", "--publication", "--bdii",
                         "ldap://bdii.example.org:2170", "--out", str(objects))  # fmt: skip

    assert result.exit_code == 0, result.output
    text = objects.read_text()
    publication = Path(sys.executable).with_name("check_preview_publication")
    assert (
        f"command_line  {publication} --site-config $_HOSTSITE_CONFIG$ --timeout 30 "
        "--bdii ldap://bdii.example.org:2170\n"
    ) in text
    assert "service_description  pps publication\n" in text
    assert "check_command        pps-check-preview-publication\n" in text
    check = verify(nagios, main_config(tmp_path / "run", objects))
    assert check.returncode == 0, check.stdout
    assert "Total Errors:   0" in check.stdout
    assert "Total Warnings: 0" in check.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bdii", "ldap://localhost:2170"],
         "a BDII is only asked by the publication service: add --publication"),
        (["--publication", "--bdii", "ldap://localhost"],
         "bdii 'ldap://localhost' is not ldap://HOST:PORT (a site BDII: ldap://localhost:2170)"),
        (["--publication", "--bdii", "ldap://a:1;rm"],
         "bdii 'ldap://a:1;rm' is not ldap://HOST:PORT (a site BDII: ldap://localhost:2170)"),
        (["--publication", "--publication-probe", "check_preview_publication"],
         "publication probe 'check_preview_publication' must be an absolute path"),
        (["--publication-probe", "/usr/local/bin/check_preview_publication"],
         "a publication probe is only run by the publication service: add --publication"),
    ],
    ids=["bdii-without-publication", "no-port", "command-injection", "relative",
         "probe-without-publication"],
)  # fmt: skip
def test_bad_publication_options_are_refused(grid: Grid, args: list[str], message: str):
    result = grid.invoke("nagios-config", *args)

    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


def test_a_probe_path_nagios_could_not_run_is_refused(grid: Grid):
    result = grid.invoke("nagios-config", "--probe", "check_preview_client")

    assert result.exit_code == 2
    assert result.output == (
        "Error: probe 'check_preview_client' must be an absolute path (Nagios has no PATH): "
        "give --probe\n"
    )


@pytest.fixture
def running_nagios(grid: Grid, nagios: str, tmp_path: Path, slapd: Slapd):
    releases(grid)
    site_file(grid, "ALPHA")
    pull_mode(grid)
    objects = tmp_path / "pps.cfg"
    result = grid.invoke("nagios-config", "--site", "ALPHA", "--publication", "--bdii",
                         slapd.url, "--out", str(objects))  # fmt: skip
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    cfg = main_config(run, objects)
    check = verify(nagios, cfg)
    assert check.returncode == 0, check.stdout
    proc = subprocess.Popen([nagios, str(cfg)], cwd=run, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield run / "status.dat"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_checks(status: Path, names: set[str], timeout: float = 90) -> dict:
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
    grid: Grid, running_nagios: Path
):
    names = {"pps good 1.0", "pps bad 1.0", "pps cleanup", "pps publication"}
    services = wait_for_checks(running_nagios, names)

    good, bad, cleanup = services["pps good 1.0"], services["pps bad 1.0"], services["pps cleanup"]
    assert good["current_state"] == "0", good["plugin_output"]
    assert good["plugin_output"] == (
        "PREVIEW_CLIENT OK - good 1.0 verified at ce.alpha.test: 1/1 tests passed, tagged for dteam"
    )
    assert "tests_passed=1" in good["performance_data"]
    assert bad["current_state"] == "2", bad["plugin_output"]
    assert bad["plugin_output"].startswith("PREVIEW_CLIENT CRITICAL - bad 1.0 broken at")
    assert "test runs failed" in bad["plugin_output"]
    assert cleanup["current_state"] == "0", cleanup["plugin_output"]
    assert cleanup["plugin_output"].startswith("PREVIEW_CLIENT OK - cleanup: nothing to retire")
    publication = services["pps publication"]
    assert publication["current_state"] == "0", publication["plugin_output"]
    # before or after the probe tagged good 1.0: either nothing verified yet, or a tag that may
    # take a BDII cycle (nothing loads this slapd: the grace period holds)
    assert publication["plugin_output"].startswith("PREVIEW_PUBLICATION OK - ce.alpha.test in "
                                                   "ldap://127.0.0.1:")  # fmt: skip
    assert "verified=" in publication["performance_data"]
    assert "VO-dteam-PPS-good-1.0" in grid.tags("ALPHA", "dteam")
    assert "VO-dteam-PPS-bad-1.0" not in grid.tags("ALPHA", "dteam")


def test_a_probe_timeout_nagios_would_cut_short_is_refused(grid: Grid):
    result = grid.invoke("nagios-config", "--probe-timeout", "600")

    assert result.exit_code == 2
    assert result.output == (
        "Error: probe timeout 600 s must stay below Nagios's service_check_timeout (60 s): raise "
        "that in nagios.cfg first, and say so with --nagios-check-timeout\n"
    )
    assert grid.invoke("nagios-config", "--probe-timeout", "600",
                       "--nagios-check-timeout", "660").exit_code == 0  # fmt: skip
