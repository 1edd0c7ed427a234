"""A throw-away Nagios 4 (Debian's nagios4-core) for the tests, in a temp dir.

:func:`main_config` writes a ``nagios.cfg`` with one-second intervals around one object file,
:func:`verify` runs ``nagios4 -v`` on it, :func:`running` starts Nagios in the foreground (a
context manager: SIGTERM to its pid at exit), :func:`wait_for_checks` polls ``status.dat`` until
the named services have been checked, and :func:`parse_status` reads their ``servicestatus``
blocks, keyed by ``service_description``.  For the local grid (:mod:`tests.grid`):
:func:`releases` (``good 1.0`` passes its test, ``bad 1.0`` fails it), :func:`site_file` (a site
file of the site's own), :func:`pull_mode` (``[repository] url``).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.grid import Grid, write

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


def main_config(run: Path, objects: Path, illegal_macro_output_chars: str = "`~$&|'\"<>") -> Path:
    """A nagios.cfg for *objects*; ``illegal_macro_output_chars=""`` leaves the option out, as
    Nagios's own default does (then custom variable macros reach the command line untouched)."""
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
        """)
        + (
            f"illegal_macro_output_chars={illegal_macro_output_chars}\n"
            if illegal_macro_output_chars
            else ""
        )
    )
    return cfg


def verify(nagios: str, cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nagios, "-v", str(cfg)], capture_output=True, text=True)


@contextmanager
def running(nagios: str, cfg: Path) -> Iterator[Path]:
    """Nagios running *cfg* in the foreground; yields its status.dat."""
    run = cfg.parent
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


def wait_for_checks(
    status: Path,
    names: set[str],
    timeout: float = 90,
    done: Callable[[dict[str, str]], bool] = lambda s: s.get("has_been_checked") == "1",
) -> dict[str, dict[str, str]]:
    """The services of status.dat once every one of *names* is *done* (checked, by default)."""
    deadline = time.monotonic() + timeout
    services: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        if status.exists():
            try:
                services = parse_status(status)
            except FileNotFoundError:  # replaced between exists() and the read
                continue
            if all(n in services and done(services[n]) for n in names):
                return services
        time.sleep(0.3)
    pytest.fail(f"Nagios did not check {sorted(names)} within {timeout}s: {services}")


def site_file(grid: Grid, name: str, vos: str = '["dteam"]') -> Path:
    root = grid.site_root(name)
    return write(
        root / "etc/pps/site.toml",
        f"""\
        vos = {vos}
        subcluster = "ce.{name.lower()}.test"
        preview_root = "{root}/opt/pps/preview"
        info_dir = "{root}/opt/glite/var/info"
        profile_d = "{root}/etc/profile.d"
        """,
    )


def pull_mode(grid: Grid, url: str = "") -> None:
    """The repository gets a URL (by default its directory): the services read it on their own."""
    text = grid.config.read_text()
    url = url or str(grid.root / "repo")
    line = f"url = {json.dumps(url)}\n"  # a TOML basic string: JSON's escapes are TOML's
    grid.config.write_text(text.replace('path = "repo"\n', f'path = "repo"\n{line}', 1))


def releases(grid: Grid, which: tuple[str, ...] = ("good", "bad")) -> None:
    for component, wanted in (("good", "1.0"), ("bad", "9.9")):
        if component not in which:
            continue
        src = grid.source(component)
        result = grid.invoke(
            "release", "create", component, "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision", "--test", f"runs=tool | grep -q {wanted}",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
