"""The probe under a real Nagios 4, configured by ``pps nagios-config``.

A throw-away nagios4 (Debian's nagios4-core) runs in a temp dir with one-second intervals, on
the objects ``pps nagios-config`` writes for a local site that has its own site file: one
service for a release whose local test passes, one whose test fails, the cleanup, and the
publication check against a real slapd BDII; and for a site without a site file, in pull and in
push mode, whose checks must reach OK too (the inventory's values, not a file that is not
there).  Whether a site has its own site file is asked through its transport: a local root, a
real sshd, a port where nobody answers.  What a site admin sees in Nagios is asserted from
``status.dat``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests import bdii_helpers, sshd_helpers
from tests.bdii_helpers import Slapd
from tests.grid import Grid
from tests.nagios_helpers import (
    NAGIOS,
    main_config,
    pull_mode,
    releases,
    running,
    site_file,
    verify,
    wait_for_checks,
)
from tests.realparts import require

slapd = bdii_helpers.slapd
slapd_factory = bdii_helpers.slapd_factory
ssh_testbed_factory = sshd_helpers.ssh_testbed_factory


def host_variables(text: str, name: str) -> dict[str, str]:
    """The directives of host *name*'s definition in *text*."""
    for block in text.split("define host {\n")[1:]:
        pairs = dict(line.strip().split(None, 1) for line in block.split("\n}")[0].splitlines())
        if pairs.get("host_name") == name:
            return pairs
    raise AssertionError(f"no host {name} in {text}")


def inventory_values(root: str, vos: tuple[str, ...] = ("dteam",), name: str = "alpha") -> str:
    return (
        f"--no-site-config --preview-root {root}/opt/pps/preview --info-dir "
        f"{root}/opt/glite/var/info --subcluster ce.{name}.test --profile-d {root}/etc/profile.d"
        + "".join(f" --vo {vo}" for vo in vos)
    )


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
    assert (
        " $_HOSTPPS_SITE$ --timeout 50 --component $ARG1$ --version $ARG2$ --repository $ARG3$\n"
        in text
    )
    for name in ("ALPHA", "DELTA"):  # each has its own site file: the host names it
        assert host_variables(text, name)["_PPS_SITE"] == (
            f"--site-config {grid.site_root(name)}/etc/pps/site.toml"
        )
    # push mode: no repository URL to clean up against, and the file says why
    assert "service_description  pps cleanup" not in text
    assert (
        "# rejection, 'pps remove') pushes to the site: that push rewrites the incoming\n" in text
    )
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
        f"command_line  {publication} $_HOSTPPS_PUBLICATION$ --timeout 30 "
        "--bdii ldap://bdii.example.org:2170\n"
    ) in text
    assert host_variables(text, "ALPHA")["_PPS_PUBLICATION"] == (
        f"--site-config {grid.site_root('ALPHA')}/etc/pps/site.toml"
    )
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
        (["--publication", "--bdii", "ldaps://bdii.example.org:2170"],
         "BDII URL 'ldaps://bdii.example.org:2170': check_preview_publication asks a BDII over "
         "ldap:// only (use ldap://HOST:PORT)"),
        (["--publication", "--bdii", "ldap://a:1;rm"],
         "BDII URL 'ldap://a:1;rm' is not valid: Port could not be cast to integer value as "
         "'1;rm' (use ldap://HOST:PORT)"),
        (["--publication", "--bdii", "ldap://a&b:2170"],
         "BDII URL 'ldap://a&b:2170' is not valid: 'a&b' is not a host name or IP address"),
        (["--publication", "--publication-probe", "check_preview_publication"],
         "publication probe 'check_preview_publication' must be an absolute path"),
        (["--publication-probe", "/usr/local/bin/check_preview_publication"],
         "a publication probe is only run by the publication service: add --publication"),
    ],
    ids=["bdii-without-publication", "ldaps", "command-injection", "host-injection", "relative",
         "probe-without-publication"],
)  # fmt: skip
def test_bad_publication_options_are_refused(grid: Grid, args: list[str], message: str):
    result = grid.invoke("nagios-config", *args)

    assert result.exit_code == 2
    assert result.output == f"Error: {message}\n"


def test_a_bdii_without_a_port_gets_the_ldap_default(grid: Grid):
    result = grid.invoke("nagios-config", "--site-file", "absent", "--publication", "--bdii",
                         "ldap://BDII.example.org")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert " --bdii ldap://bdii.example.org:389\n" in result.output


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
    cfg = main_config(tmp_path / "run", objects)
    check = verify(nagios, cfg)
    assert check.returncode == 0, check.stdout
    with running(nagios, cfg) as status:
        yield status


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


# ------------------------------------------------------------ what the site really has
def test_a_site_without_a_site_file_is_given_the_inventorys_values(grid: Grid):
    site_file(grid, "DELTA")

    result = grid.invoke("nagios-config", "--publication")

    assert result.exit_code == 0, result.output
    alpha, bravo = (str(grid.site_root(n)) for n in ("ALPHA", "BRAVO"))
    assert host_variables(result.output, "ALPHA")["_PPS_SITE"] == inventory_values(alpha)
    assert host_variables(result.output, "BRAVO")["_PPS_SITE"] == inventory_values(
        bravo, ("dteam", "vo.neugrid.eu"), "bravo"
    )
    assert host_variables(result.output, "ALPHA")["_PPS_PUBLICATION"] == (
        f"--no-site-config --preview-root {alpha}/opt/pps/preview --info-dir "
        f"{alpha}/opt/glite/var/info --subcluster ce.alpha.test --site ALPHA"
    )
    delta = host_variables(result.output, "DELTA")
    assert delta["_PPS_SITE"] == f"--site-config {grid.site_root('DELTA')}/etc/pps/site.toml"


def _run_checks(
    grid: Grid, nagios: str, tmp_path: Path, mode: str, *args: str
) -> dict[str, dict[str, str]]:
    """Nagios runs what 'pps nagios-config --site ALPHA ARGS' wrote until every service of
    ALPHA was checked; their servicestatus blocks."""
    releases(grid)
    if mode == "pull":
        pull_mode(grid)
    else:  # the incoming areas Nagios re-tests are the ones the pushes left
        pushed = {c: grid.invoke("push", c, "1.0", "--site", "ALPHA") for c in ("good", "bad")}
        assert pushed["good"].exit_code == 0, pushed["good"].output
    objects = tmp_path / "pps.cfg"
    result = grid.invoke("nagios-config", "--site", "ALPHA", *args, "--out", str(objects))
    assert result.exit_code == 0, result.output
    cfg = main_config(tmp_path / "run", objects)
    check = verify(nagios, cfg)
    assert check.returncode == 0, check.stdout
    names = {"pps good 1.0", "pps bad 1.0"} | ({"pps cleanup"} if mode == "pull" else set())
    names |= {"pps publication"} if "--publication" in args else set()
    with running(nagios, cfg) as status:
        return wait_for_checks(status, names)


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_nagios_shows_ok_for_a_site_without_a_site_file(
    grid: Grid, nagios: str, tmp_path: Path, slapd: Slapd, mode: str
):
    services = _run_checks(grid, nagios, tmp_path, mode, "--publication", "--bdii", slapd.url)

    good, bad = services["pps good 1.0"], services["pps bad 1.0"]
    assert good["current_state"] == "0", good["plugin_output"]
    assert good["plugin_output"] == (
        "PREVIEW_CLIENT OK - good 1.0 verified at ce.alpha.test: 1/1 tests passed, tagged for dteam"
    )
    assert bad["current_state"] == "2", bad["plugin_output"]
    if mode == "pull":
        cleanup = services["pps cleanup"]
        assert cleanup["current_state"] == "0", cleanup["plugin_output"]
    publication = services["pps publication"]
    assert publication["current_state"] == "0", publication["plugin_output"]
    # the inventory's site name: the publication check is told it (--site ALPHA)
    assert publication["plugin_output"].startswith(
        "PREVIEW_PUBLICATION OK - ALPHA ce.alpha.test in ldap://127.0.0.1:"
    ), publication["plugin_output"]
    assert "VO-dteam-PPS-good-1.0" in grid.tags("ALPHA", "dteam")


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_nagios_checks_a_site_with_its_own_site_file_by_that_file(
    grid: Grid, nagios: str, tmp_path: Path, mode: str
):
    # the site file says more than the inventory (which lists dteam only): the checks read it
    site_file(grid, "ALPHA", vos='["dteam", "ops"]')

    services = _run_checks(grid, nagios, tmp_path, mode)

    good, bad = services["pps good 1.0"], services["pps bad 1.0"]
    assert good["current_state"] == "0", good["plugin_output"]
    assert good["plugin_output"] == (
        "PREVIEW_CLIENT OK - good 1.0 verified at ce.alpha.test: 1/1 tests passed, tagged for "
        "dteam,ops"
    )
    assert bad["current_state"] == "2", bad["plugin_output"]
    assert "VO-ops-PPS-good-1.0" in grid.tags("ALPHA", "ops")


def _ssh_site(grid: Grid, port: int, root: Path, known_hosts: Path, identity: str = "") -> None:
    with grid.config.open("a") as f:
        f.write(f"""
[[sites]]
name = "ECHO"
partner = "none"
vos = ["dteam"]
transport = "ssh"
host = "127.0.0.1"
port = {port}
user = "root"
{f'identity = "{identity}"' if identity else ""}
known_hosts = "{known_hosts}"
connect_timeout = 5
subcluster = "ce.echo.test"
preview_root = "{root}/opt/pps/preview"
info_dir = "{root}/opt/glite/var/info"
profile_d = "{root}/etc/profile.d"
site_config = "{root}/etc/pps/site.toml"
""")


def test_a_site_that_cannot_be_asked_fails_with_one_line_unless_told(grid: Grid, tmp_path: Path):
    port = sshd_helpers.refused_port()
    known = tmp_path / "known_hosts"
    known.write_text("")
    _ssh_site(grid, port, Path("/srv/echo"), known)
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", "--site", "ECHO", "--out", str(objects))

    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: site ECHO: cannot tell whether it has its own site file /srv/echo/etc/pps/site.toml"
        f" (cannot connect to root@127.0.0.1:{port}: "
    ), result.output
    assert result.output.endswith(
        "): give --site-file present or --site-file absent to write its objects without looking\n"
    ), result.output
    assert result.output.count("\n") == 1
    assert not objects.exists()
    told = {m: grid.invoke("nagios-config", "--site", "ECHO", "--site-file", m)
            for m in ("absent", "present")}  # fmt: skip
    assert told["absent"].exit_code == 0, told["absent"].output
    assert host_variables(told["absent"].output, "ECHO")["_PPS_SITE"] == (
        inventory_values("/srv/echo", name="echo")
    )
    assert host_variables(told["present"].output, "ECHO")["_PPS_SITE"] == (
        "--site-config /srv/echo/etc/pps/site.toml"
    )
    assert host_variables(told["present"].output, "ECHO")["address"] == "127.0.0.1"


def test_a_local_site_whose_root_is_missing_fails_with_one_line(grid: Grid):
    shutil.rmtree(grid.site_root("ALPHA"))

    result = grid.invoke("nagios-config", "--site", "ALPHA")

    assert result.exit_code == 1
    assert result.output == (
        "Error: site ALPHA: cannot tell whether it has its own site file /etc/pps/site.toml (root "
        f"{grid.site_root('ALPHA')} is not a directory): give --site-file present or --site-file "
        "absent to write its objects without looking\n"
    )


def test_an_ssh_site_is_asked_whether_it_has_its_own_site_file(grid: Grid, ssh_testbed_factory):
    bed = ssh_testbed_factory(["ECHO"])
    echo = bed.site("ECHO")
    _ssh_site(grid, echo.port, echo.root, bed.known_hosts, str(bed.identity))

    without = grid.invoke("nagios-config", "--site", "ECHO")
    site_file_at = echo.root / "etc/pps/site.toml"
    site_file_at.parent.mkdir(parents=True)
    site_file_at.write_text('vos = ["dteam"]\n')
    with_file = grid.invoke("nagios-config", "--site", "ECHO")

    assert without.exit_code == 0, without.output
    assert host_variables(without.output, "ECHO")["_PPS_SITE"] == (
        inventory_values(str(echo.root), name="echo")
    )
    assert with_file.exit_code == 0, with_file.output
    assert host_variables(with_file.output, "ECHO")["_PPS_SITE"] == f"--site-config {site_file_at}"
