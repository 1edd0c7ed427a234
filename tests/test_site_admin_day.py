"""The site admin's day: the probe as a site installs, runs, reads, upgrades and removes it.

Run as an account that is not root (here ``nobody``, running the one-file probe with the
system's python3, as a site that tries it out would), every permission the probe lacks is one
UNKNOWN line that names the path and says what to do; following that advice makes the run OK.
A site opts out of one version in its site file (``skip``), push and Nagios alike; the
configuration hook's output is kept in the state record like a test's; a test's output is kept
also when the probe is stopped while it runs; ``--uninstall`` takes every pps tag and tree off
the site; the probe's own default ``--timeout`` fits Nagios.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributor.nagios import DEFAULT_PROBE_TIMEOUT as NAGIOS_PROBE_TIMEOUT
from distributor.transport.bundle import build_probe_bundle
from pps.errors import BadInput
from probes._siteconfig import check_values
from tests.grid import Grid
from tests.probe_helpers import (
    COMPONENT,
    SUBCLUSTER,
    VERSION,
    Site,
    add_release,
    installed_probe,
    make_manifest,
    make_site,
    probe_args,
    run_probe,
    status_line,
)
from tests.realparts import require

SYSTEM_PYTHON = "/usr/bin/python3"
TAG = f"VO-dteam-PPS-{COMPONENT}-{VERSION}"
ROOT = Path(__file__).resolve().parent.parent


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the probe as another account")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-file probe, readable by every account (a site copies it to /usr/local/bin)."""
    where = tmp_path_factory.mktemp("bundle")
    where.chmod(0o755)
    path = where / "check_preview_client.pyz"
    build_probe_bundle(path)
    return path


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def as_nobody(bundle: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The one-file probe run by ``nobody`` with the system's python3, as from a shell."""
    python = require(SYSTEM_PYTHON, "python3")
    return subprocess.run(
        [python, str(bundle), *args],
        user="nobody", group="nogroup", extra_groups=[], cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return lines[0]


def installed_as_root(tmp_path: Path) -> Site:
    """A site where root installed and tagged the fake client (every directory root's)."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    first = run_probe(site, tmp_path / "repo")
    assert first.returncode == 0, first.stdout
    return site


# -- running the probe as an account that is not root


def _no_preview_root(tmp_path: Path) -> tuple[Site, Path]:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    return site, site.root / "opt"  # the first directory nobody may create


def _root_owned_lock(tmp_path: Path) -> tuple[Site, Path]:
    site = installed_as_root(tmp_path)
    return site, site.preview_root / ".pps" / "lock"


def _root_owned_state(tmp_path: Path) -> tuple[Site, Path]:
    site = installed_as_root(tmp_path)
    chown_tree(site.preview_root, "nobody")
    state = site.preview_root / ".pps" / "state"
    chown_tree(state, "root")
    return site, state / COMPONENT


def _root_owned_cache(tmp_path: Path) -> tuple[Site, Path]:
    """A release that waits for the site's hook: the probe fetches it into its cache first."""
    add_release(tmp_path / "repo", make_manifest(update_class="nbc-client"))
    site = make_site(tmp_path)
    site.preview_root.mkdir(parents=True)
    (site.preview_root / ".pps" / "cache").mkdir(parents=True)
    chown_tree(site.preview_root, "nobody")
    os.chown(site.preview_root / ".pps" / "cache", 0, 0)
    return site, site.preview_root / ".pps" / "cache"


def _root_owned_info_dir(tmp_path: Path) -> tuple[Site, Path]:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.preview_root.mkdir(parents=True)
    chown_tree(site.preview_root, "nobody")
    site.info_dir.mkdir(parents=True)
    return site, site.info_dir / SUBCLUSTER


CASES = {
    "preview root": _no_preview_root,
    "lock": _root_owned_lock,
    "state dir": _root_owned_state,
    "cache": _root_owned_cache,
    "tags file": _root_owned_info_dir,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_permission_the_probe_lacks_is_one_unknown_line_naming_the_path_and_the_way_out(
    tmp_path: Path, bundle: Path, case: str
) -> None:
    needs_root()
    site, path = CASES[case](tmp_path)
    tags_before = site.tags_text("dteam")

    proc = as_nobody(bundle, probe_args(site, tmp_path / "repo"))

    line = one_line(proc)
    assert proc.returncode == 3, line
    assert line.startswith("PREVIEW_CLIENT UNKNOWN - permission denied: the probe runs as nobody")
    where = rf"who may not (write|create|create files in) {re.escape(str(path))}(/[^ :]+)?"
    where += r"( \(it belongs to uid \d+, gid \d+\))?: "
    assert re.search(where, line), line
    assert "run the probe as root" in line
    if case == "tags file":
        assert f"let nobody write {site.info_dir}" in line
    else:
        assert f"chown -R nobody:nogroup {site.preview_root}" in line
        assert "set preview_root" in line
    assert site.tags_text("dteam") == tags_before


def _root_only_site_file(tmp_path: Path) -> tuple[Site, str]:
    site = _nobodys_site(tmp_path)
    site.site_file.chmod(0o600)
    where = site.site_file
    return site, f"read the site file {where}: run the probe as root, or let nobody read it " \
        f"(chmod o+r {where})"  # fmt: skip


def _root_only_site_file_dir(tmp_path: Path) -> tuple[Site, str]:
    site = _nobodys_site(tmp_path)
    site.site_file.parent.chmod(0o700)
    where = site.site_file.parent
    return site, f"enter {where} (on the way to the site file {site.site_file}): run the probe " \
        f"as root, or let nobody enter it (chmod o+x {where})"  # fmt: skip


def _root_only_repository(tmp_path: Path) -> tuple[Site, str]:
    site = _nobodys_site(tmp_path)
    repo = tmp_path / "repo"
    repo.chmod(0o700)
    return site, f"enter {repo} (on the way to the repository file {repo}/index.json): run the " \
        f"probe as root, or let nobody enter it (chmod o+x {repo})"  # fmt: skip


def _root_only_tarball(tmp_path: Path) -> tuple[Site, str]:
    site = _nobodys_site(tmp_path)
    (tarball,) = (tmp_path / "repo").rglob("*.tar.gz")
    tarball.chmod(0o600)
    return site, f"read the repository file {tarball}: run the probe as root, or let nobody " \
        f"read it (chmod o+r {tarball})"  # fmt: skip


def _root_owned_tags_file(tmp_path: Path) -> tuple[Site, str]:
    """Root ran the probe first; now nobody's run must withdraw a tag from root's tags file."""
    site = installed_as_root(tmp_path)
    chown_tree(site.preview_root, "nobody")
    chown_tree(site.info_dir, "nobody")
    os.chown(site.tags_file("dteam"), 0, 0)
    add_release(tmp_path / "repo", make_manifest([("fails", "false")]), replace=True)
    where, cell = site.tags_file("dteam"), site.info_dir / SUBCLUSTER
    return site, f"write {where} (it belongs to uid 0, gid 0): run the probe as root (it " \
        f"writes the tags files under {site.info_dir}), or let nobody write {cell} " \
        f"(chown -R nobody:nogroup {cell})"  # fmt: skip


def _nobodys_site(tmp_path: Path) -> Site:
    """A site whose preview root and info dir are nobody's, its site file root's (0644)."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file()
    for where in (site.preview_root, site.info_dir):
        where.mkdir(parents=True)
        chown_tree(where, "nobody")
    return site


READ_CASES = {
    "site file": _root_only_site_file,
    "site file's directory": _root_only_site_file_dir,
    "repository": _root_only_repository,
    "tarball": _root_only_tarball,
    "root's tags file": _root_owned_tags_file,
}


@pytest.mark.parametrize("case", sorted(READ_CASES))
def test_a_file_the_probes_account_may_not_use_is_named_with_the_way_out(
    tmp_path: Path, bundle: Path, case: str
) -> None:
    needs_root()
    site, says = READ_CASES[case](tmp_path)
    tags_before = site.tags_text("dteam")

    proc = as_nobody(bundle, probe_args(site, tmp_path / "repo"))

    line = one_line(proc)
    assert proc.returncode == 3, line
    assert line.startswith(
        "PREVIEW_CLIENT UNKNOWN - permission denied: the probe runs as nobody (uid 65534), who "
        f"may not {says}"
    ), line
    assert site.tags_text("dteam") == tags_before
    assert not site.install_dir().exists() or case == "root's tags file"


def test_a_hook_the_probes_account_may_not_run_is_named_with_the_way_out(
    tmp_path: Path, bundle: Path
) -> None:
    needs_root()
    site = _hooked(tmp_path, "#!/bin/sh\nexit 0\n")
    site.hook.chmod(0o700)
    chown_tree(site.preview_root, "nobody")
    os.chown(site.hook, 0, 0)
    site.info_dir.mkdir(parents=True)
    chown_tree(site.info_dir, "nobody")

    proc = as_nobody(bundle, probe_args(site, tmp_path / "repo"))

    assert proc.returncode == 1, proc.stdout
    assert one_line(proc).startswith(
        "PREVIEW_CLIENT WARNING - awaiting local configuration: permission denied: the probe "
        "runs as nobody (uid "
        f"65534), who may not run {site.hook}: run the probe as root, or let nobody run it "
        f"(chmod a+rx {site.hook}) |"
    ), proc.stdout
    assert not site.install_dir().exists()


def test_a_hook_that_is_not_executable_says_so(tmp_path: Path) -> None:
    site = _hooked(tmp_path, "#!/bin/sh\nexit 0\n")
    site.hook.chmod(0o644)

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 1, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT WARNING - awaiting local configuration: {site.hook} is not executable "
        f"(chmod +x {site.hook}) |"
    ), proc.stdout


def test_following_the_advice_lets_an_account_that_is_not_root_run_the_probe(
    tmp_path: Path, bundle: Path
) -> None:
    """The directories are root's; the probe runs as nobody: each refusal says what to do, the
    test does exactly that (the command in the line's parentheses), and the run is OK."""
    needs_root()
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.info_dir.mkdir(parents=True)
    followed = []
    for _ in range(4):
        proc = as_nobody(bundle, probe_args(site, tmp_path / "repo"))
        if proc.returncode != 3:
            break
        followed.append(advice(proc))
        subprocess.run(["sh", "-c", followed[-1]], check=True)

    assert proc.returncode == 0, proc.stdout
    assert followed == [
        f"mkdir -p {site.preview_root} && chown -R nobody:nogroup {site.preview_root}",
        f"chown -R nobody:nogroup {site.info_dir}",
    ]
    assert status_line(proc).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed"
    )
    assert TAG in (site.tags_text("dteam") or "")


def advice(proc: subprocess.CompletedProcess[str]) -> str:
    """The command a permission line tells the admin to run (in its parentheses)."""
    command = re.search(r"\((mkdir -p \S+ && )?chown -R nobody:nogroup \S+\)", one_line(proc))
    assert command, proc.stdout
    return command.group(0)[1:-1]


def test_a_site_that_ran_the_probe_as_root_can_follow_the_advice_to_another_account(
    tmp_path: Path, bundle: Path
) -> None:
    """Root installed and tagged a version; a new tarball of it comes, and the probe now runs
    as nobody: it says what to hand over, one step at a time, and then the run is OK."""
    needs_root()
    site = installed_as_root(tmp_path)
    new_files = {"bin/fake-client": b"#!/bin/sh\necho new\n", "etc/setup.sh": b""}
    add_release(tmp_path / "repo", make_manifest(), new_files, replace=True)
    followed = []
    for _ in range(4):
        proc = as_nobody(bundle, probe_args(site, tmp_path / "repo"))
        if proc.returncode != 3:
            break
        followed.append(advice(proc))
        subprocess.run(["sh", "-c", followed[-1]], check=True)

    assert proc.returncode == 0, proc.stdout
    assert followed == [
        f"chown -R nobody:nogroup {site.preview_root}",
        f"chown -R nobody:nogroup {site.info_dir / SUBCLUSTER}",
    ]
    assert TAG in (site.tags_text("dteam") or "")


# -- publishing: bdii-update runs the one-file probe's GIP provider through wrapper scripts

#: The README's wrapper scripts (with the site file named: a test has none at the default place).
WRAPPERS = {
    ("provider", "pps-gip-provider"): "",
    ("plugin", "pps-gip-plugin"): " --mode plugin",
    ("provider", "pps-gip-glue2"): " --glue2-only",
}


def _ce_subcluster() -> str:
    dn = f"GlueSubClusterUniqueID={SUBCLUSTER},GlueClusterUniqueID={SUBCLUSTER}"
    return (
        f"dn: GlueClusterUniqueID={SUBCLUSTER},Mds-Vo-name=resource,o=grid\n"
        f"objectClass: GlueClusterTop\nobjectClass: GlueCluster\n"
        f"GlueClusterUniqueID: {SUBCLUSTER}\n\n"
        f"dn: {dn},Mds-Vo-name=resource,o=grid\nobjectClass: GlueClusterTop\n"
        "objectClass: GlueSubCluster\nobjectClass: GlueHostApplicationSoftware\n"
        f"GlueSubClusterUniqueID: {SUBCLUSTER}\nGlueSubClusterName: the CE's own\n"
        "GlueHostApplicationSoftwareRunTimeEnvironment: LCG-2\n\n"
    )


@pytest.mark.parametrize("mode", ["provider", "plugin"])
def test_bdii_update_publishes_the_one_file_probe_through_the_readmes_wrapper_scripts(
    tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from pps.glue import RTE_ATTR, parse_ldif
    from tests.bdii_helpers import BdiiUpdate, Slapd

    site = installed_as_root(tmp_path)
    site.write_site_file(site="TEST-SITE")
    bin_dir = tmp_path / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    subprocess.run(["install", "-m", "0755", str(bundle), str(bin_dir)], check=True)
    (bin_dir / "pps-gip-provider").symlink_to("check_preview_client.pyz")
    monkeypatch.setenv("PPS_BUNDLE_CACHE", str(tmp_path / "bundle-cache"))
    server = Slapd(tmp_path / "slapd")
    server.start()
    try:
        bdii = BdiiUpdate(server, tmp_path / "bdii")
        if mode == "plugin":
            (bdii.ldif_dir / "static-file-Cluster.ldif").write_text(_ce_subcluster())
        for (where, name), args in WRAPPERS.items():
            if (mode == "provider") == (name == "pps-gip-provider"):
                script = f"#!/bin/sh\nexec {bin_dir}/pps-gip-provider{args} --site-config "
                (bdii.dir / where / name).write_text(script + f"{site.site_file}\n")
                (bdii.dir / where / name).chmod(0o755)
        merged = parse_ldif(bdii.run_once().replace("\ndn: ", "\n\ndn: "))
    finally:
        server.stop()

    (subcluster,) = [e for e in merged if e.dn.startswith(f"GlueSubClusterUniqueID={SUBCLUSTER}")]
    own = ["LCG-2"] if mode == "plugin" else []
    assert subcluster.get(RTE_ATTR) == [*own, "PPS-PREVIEW", TAG, TAG.replace("dteam", "ops")]
    app_envs = [e for e in merged if e.dn.startswith("GLUE2ApplicationEnvironmentID=")]
    assert len(app_envs) == 3


def _site_admins_section() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Site admins\n", 1)[1]
    return section.split("\n## ", 1)[0]


def test_the_readmes_site_admin_day_names_only_what_the_programs_have() -> None:
    """The README's commands for the site admin: every probe option it shows exists, its site
    file keys are the ones the probe takes, and its wrapper scripts are the ones tested here."""
    from probes._siteconfig import KEYS

    section = _site_admins_section()
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    help_text = subprocess.run([*installed_probe(), "--help"], capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
    shown = set()
    for _, block in blocks:
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            if "check_preview_client" in line and not line.startswith("PREVIEW_CLIENT"):
                shown |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line.split("#")[0]))
    assert {"--component", "--version", "--cleanup", "--uninstall", "--timeout"} <= shown
    assert sorted(o for o in shown if o not in help_text) == []

    (site_file,) = [b for kind, b in blocks if kind == "toml" and "subcluster =" in b]
    keys = set(re.findall(r"^(?:# )?([a-z_]+) = ", site_file, re.MULTILINE))
    assert "skip" in keys and keys <= KEYS, keys - KEYS

    wrappers = re.findall(
        r"exec /usr/local/bin/pps-gip-provider([^\\]*)\\n' > (\w+)/(\S+)", section
    )
    assert {(where, name): args for args, where, name in wrappers} == WRAPPERS


# -- the probe's own timeout fits Nagios


def test_the_probes_default_timeout_fits_nagios_and_a_push_passes_its_own() -> None:
    from distributor.push.controller import DEFAULT_PROBE_TIMEOUT as PUSH_TIMEOUT
    from distributor.push.targets import probe_args as push_probe_args

    proc = subprocess.run([*installed_probe(), "--help"], capture_output=True, text=True)

    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert f"(default: {NAGIOS_PROBE_TIMEOUT})" in text
    assert NAGIOS_PROBE_TIMEOUT < 60
    assert "pps push passes its own" in text

    class _Transport:
        site = SimpleNamespace(site_config="/etc/pps/site.toml")

        def site_path(self, path: str) -> str:
            return path

    from pps.repository import Release

    release = Release(component=COMPONENT, version=VERSION, stage="unverified",
                      tarball="x.tar.gz", sha256="0" * 64, size=1, update_class="bc-client",
                      release_type="minor", created="2024-05-01T12:00:00Z")  # fmt: skip
    args = push_probe_args(_Transport(), release, "/in", PUSH_TIMEOUT, site_file=True)  # type: ignore[arg-type]
    assert args[args.index("--timeout") + 1] == f"{PUSH_TIMEOUT:g}"


# -- upgrading the probe


def test_upgrading_the_one_file_probe_keeps_what_the_old_one_installed_and_its_cache_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's upgrade: the new .pyz installed beside the old and renamed over it; the
    next run re-tests what the old one installed, tags unchanged, and the old cache is gone."""
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    bin_dir = tmp_path / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    probe = bin_dir / "check_preview_client.pyz"
    cache = tmp_path / "bundle-cache"
    env = {**os.environ, "PPS_BUNDLE_CACHE": str(cache)}
    build_probe_bundle(probe)
    first = subprocess.run([SYSTEM_PYTHON, str(probe), *probe_args(site, tmp_path / "repo")],
                           capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stdout
    tags = site.tags_text("dteam")
    (old_cache,) = cache.iterdir()

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # another build: other bytes
    new = tmp_path / "check_preview_client.pyz"
    build_probe_bundle(new)
    assert new.read_bytes() != probe.read_bytes()
    subprocess.run(["install", "-m", "0755", str(new), f"{probe}.new"], check=True)
    subprocess.run(["mv", f"{probe}.new", str(probe)], check=True)
    again = subprocess.run([SYSTEM_PYTHON, str(probe), *probe_args(site, tmp_path / "repo")],
                           capture_output=True, text=True, env=env, timeout=120)  # fmt: skip

    assert again.returncode == 0, again.stdout
    assert status_line(again).startswith(
        "PREVIEW_CLIENT OK - fake-client 1.0.0 verified at ce01.example.org: 2/2 tests passed"
    )
    assert site.tags_text("dteam") == tags
    assert [p.name for p in cache.iterdir()] != [old_cache.name]
    assert len(list(cache.iterdir())) == 1


# -- opting a site out of one version


def test_a_skipped_version_is_neither_installed_nor_tagged_and_the_status_line_says_so(
    tmp_path: Path,
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.write_site_file(skip=[f"{COMPONENT} {VERSION}"])

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT OK - {COMPONENT} {VERSION} skipped (this site opts out of it: skip in "
        f"{site.site_file}): not installed here"
    )
    assert not site.install_dir().exists()
    assert site.tags_text("dteam") is None


def test_skipping_an_installed_version_withdraws_its_tags_at_once_and_retires_its_tree(
    tmp_path: Path,
) -> None:
    site = installed_as_root(tmp_path)
    other = add_release(tmp_path / "repo", component="other-client", version="2.0")
    assert (
        run_probe(site, tmp_path / "repo", component="other-client", version="2.0").returncode == 0
    )
    site.write_site_file(skip=[f"{COMPONENT} {VERSION}"])

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT OK - {COMPONENT} {VERSION} skipped (this site opts out of it: skip in "
        f"{site.site_file}): tags withdrawn; the tree goes in 24h (grace period)"
    )
    assert TAG not in (site.tags_text("dteam") or "")
    assert f"VO-dteam-PPS-{other.component}-{other.version}" in (site.tags_text("dteam") or "")
    assert site.state()["status"] == "retired"

    site.write_site_file(skip=[f"{COMPONENT} {VERSION}"], retire_grace=0)
    cleanup = run_probe(site, tmp_path / "repo", "--cleanup", component="", version="")
    assert cleanup.returncode == 0, cleanup.stdout
    assert "skipped" in status_line(cleanup) and "tree removed" in status_line(cleanup)
    assert not site.install_dir().exists()
    assert site.install_dir("other-client", "2.0").exists()


def test_a_push_honours_the_sites_skip_as_its_nagios_does(grid: Grid) -> None:
    src = grid.source("good")
    grid.ok("release", "create", "good", "1.0", "--from", str(src), "--class", "bc-client",
            "--type", "revision", "--test", "runs=tool")  # fmt: skip
    root = grid.site_root("ALPHA")
    (root / "etc/pps").mkdir(parents=True)
    (root / "etc/pps/site.toml").write_text(
        f'vos = ["dteam"]\nsubcluster = "ce.alpha.test"\npreview_root = "{root}/opt/pps/preview"\n'
        f'info_dir = "{root}/opt/glite/var/info"\nprofile_d = "{root}/etc/profile.d"\n'
        'skip = ["good 1.0"]\n'
    )

    out = grid.ok("push", "good", "1.0", "--site", "ALPHA")

    assert "good 1.0 skipped (this site opts out of it: skip in " in out
    assert grid.tags("ALPHA", "dteam") == []
    assert not grid.install_dir("ALPHA", "good", "1.0").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"glite-UI 3.2.8-0"', "'skip' must be a list of \"COMPONENT VERSION\""),
        ('["glite-UI"]', "'skip' entries are \"COMPONENT VERSION\""),
        ('["glite-UI  3.2.8-0"]', "'skip' entries are \"COMPONENT VERSION\""),
        ('["glite-UI 3.2.8-0;rm"]', "'skip': version"),
        ("[1]", "'skip' entries are \"COMPONENT VERSION\""),
    ],
)
def test_a_bad_skip_is_one_unknown_line_and_nothing_changes(
    tmp_path: Path, value: str, message: str
) -> None:
    add_release(tmp_path / "repo")
    site = make_site(tmp_path)
    site.site_file.write_text(site.site_file.read_text() + f"skip = {value}\n")

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 3, proc.stdout
    line = one_line(proc)
    assert line.startswith(f"PREVIEW_CLIENT UNKNOWN - site file {site.site_file}: {message}"), line
    assert not site.preview_root.exists()


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(st.one_of(st.text(max_size=40), st.integers(), st.none()), max_size=4))
def test_any_skip_value_is_taken_as_component_version_pairs_or_refused_in_one_line(
    entries: list[object],
) -> None:
    try:
        got = check_values({"skip": entries})["skip"]
    except BadInput as e:
        assert "\n" not in str(e) and str(e).startswith("'skip'")
        return
    for item in got:
        component, version = item.split(" ")
        assert f"{component} {version}" in entries


# -- removing pps from a site


def test_uninstall_withdraws_every_pps_tag_removes_every_tree_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    site = installed_as_root(tmp_path)
    add_release(tmp_path / "repo", component="other-client", version="2.0")
    assert (
        run_probe(site, tmp_path / "repo", component="other-client", version="2.0").returncode == 0
    )
    legacy = site.info_dir / "dteam" / "dteam.list"  # an older site's location, read too
    legacy.parent.mkdir(parents=True)
    legacy.write_text("VO-dteam-PPS-gone-0.9 VO-dteam-SW-1.0\n")
    foreign = site.tags_file("ops")
    foreign.write_text(
        foreign.read_text() + "# the site's own\nVO-ops-CMSSW-5.3 VO-dteam-PPS-x-1\n"
    )
    hook = site.hook
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n")
    no_repository = tmp_path / "gone"  # the repository is not needed any more

    proc = run_probe(site, no_repository, "--uninstall", component="", version="")

    assert proc.returncode == 0, proc.stdout
    pps_dir = site.preview_root / ".pps"
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT OK - uninstalled pps from {SUBCLUSTER}: 2 version(s) removed "
        f"(fake-client 1.0.0, other-client 2.0), 7 pps tag(s) withdrawn; what is left of it: "
        f"{pps_dir} (rm -rf {pps_dir})"
    ), status_line(proc)
    assert site.tags_text("dteam") == ""
    assert legacy.read_text() == "VO-dteam-SW-1.0\n"
    assert foreign.read_text() == "# the site's own\nVO-ops-CMSSW-5.3 VO-dteam-PPS-x-1\n"
    assert sorted(p.name for p in site.preview_root.iterdir()) == [".pps", "hooks"]
    assert [p.name for p in pps_dir.iterdir()] == ["lock"]

    again = run_probe(site, no_repository, "--uninstall", component="", version="")
    assert again.returncode == 0, again.stdout
    assert "0 version(s) removed, 0 pps tag(s) withdrawn" in status_line(again)


def test_uninstall_leaves_a_tree_in_use_and_says_to_run_it_again(tmp_path: Path) -> None:
    site = installed_as_root(tmp_path)
    user = subprocess.Popen(["sleep", "60"], cwd=site.install_dir())
    try:
        proc = run_probe(site, tmp_path / "repo", "--uninstall", component="", version="")
    finally:
        user.kill()
        user.wait()

    assert proc.returncode == 1, proc.stdout
    assert f"{site.install_dir()} stays while in use by pid {user.pid} (sleep)" in status_line(proc)
    assert site.tags_text("dteam") == ""
    assert site.state()["status"] == "retired"

    again = run_probe(site, tmp_path / "repo", "--uninstall", component="", version="")
    assert again.returncode == 0, again.stdout
    assert not site.install_dir().exists()


def test_uninstall_without_a_site_file_needs_only_where_pps_is(tmp_path: Path) -> None:
    """Every VO's tags file of the subcluster is cleaned: --uninstall asks for no --vo (nor a
    repository)."""
    site = installed_as_root(tmp_path)
    args = ["--no-site-config", "--uninstall", "--preview-root", str(site.preview_root),
            "--info-dir", str(site.info_dir), "--subcluster", SUBCLUSTER]  # fmt: skip

    proc = subprocess.run([*installed_probe(), *args], capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stdout
    assert "1 version(s) removed (fake-client 1.0.0), 4 pps tag(s) withdrawn" in proc.stdout
    assert (site.tags_text("dteam"), site.tags_text("ops")) == ("", "")
    assert not site.install_dir().exists()


def test_uninstall_refuses_to_be_mixed_with_a_version_or_cleanup(tmp_path: Path) -> None:
    site = make_site(tmp_path)

    mixed = run_probe(site, tmp_path / "repo", "--uninstall")
    both = run_probe(site, tmp_path / "repo", "--uninstall", "--cleanup", component="", version="")

    assert (mixed.returncode, one_line(mixed)) == (
        3, "PREVIEW_CLIENT UNKNOWN - --uninstall works on every installed version: drop "
        "--component/--version",
    )  # fmt: skip
    assert (both.returncode, one_line(both)) == (
        3, "PREVIEW_CLIENT UNKNOWN - --uninstall and --cleanup exclude each other",
    )  # fmt: skip
    assert not site.preview_root.exists()


# -- where the hook's and the tests' output goes


def _hooked(tmp_path: Path, hook_script: str) -> Site:
    add_release(tmp_path / "repo", make_manifest(update_class="nbc-client",
                                                 requires_site_config=True))  # fmt: skip
    site = make_site(tmp_path)
    site.hook.parent.mkdir(parents=True)
    site.hook.write_text(hook_script)
    site.hook.chmod(0o755)
    return site


def test_a_failing_hooks_output_is_kept_in_the_state_record_and_shown_in_the_long_output(
    tmp_path: Path,
) -> None:
    site = _hooked(tmp_path, "#!/bin/sh\necho configuring $2 $3\necho 'no grid-security' >&2\n"
                             "exit 4\n")  # fmt: skip

    proc = run_probe(site, tmp_path / "repo", "-v")

    assert proc.returncode == 2, proc.stdout
    assert status_line(proc).startswith(
        f"PREVIEW_CLIENT CRITICAL - configuration hook {site.hook} exited with 4 (it said: no "
        "grid-security); nothing installed"
    )
    assert re.search(
        rf"^configuration hook {re.escape(str(site.hook))}: failed \(exit 4\) in [\d.]+s; last "
        r"output: no grid-security$",
        proc.stdout,
        re.MULTILINE,
    ), proc.stdout
    hook = site.state()["hook"]
    assert (hook["name"], hook["ok"], hook["exit_code"]) == (str(site.hook), False, 4)
    assert hook["output_tail"] == f"configuring {COMPONENT} {VERSION}\nno grid-security\n"
    assert not site.install_dir().exists()


def test_a_hook_that_worked_is_kept_in_the_state_record_too(tmp_path: Path) -> None:
    site = _hooked(tmp_path, '#!/bin/sh\necho configured "$1"\n')

    proc = run_probe(site, tmp_path / "repo")

    assert proc.returncode == 0, proc.stdout
    hook = site.state()["hook"]
    assert (hook["ok"], hook["exit_code"]) == (True, 0)
    assert hook["output_tail"].startswith(f"configured {site.preview_root}/.pps/tmp/install-")


def test_a_silent_failing_test_says_so_in_its_output_tail(tmp_path: Path) -> None:
    add_release(tmp_path / "repo", make_manifest([("quiet", "grep -q 9.9 /dev/null")]))
    site = make_site(tmp_path)

    proc = run_probe(site, tmp_path / "repo", "-v")

    assert proc.returncode == 2, proc.stdout
    tail = "pps: the test printed nothing (stdout and stderr) and exited with 1\n"
    assert site.state()["tests"][0]["output_tail"] == tail
    assert "test quiet: failed (exit 1) in" in proc.stdout
    assert f"last output: {tail.strip()}" in proc.stdout


def _slow_release(tmp_path: Path) -> tuple[Site, Path]:
    """A release whose second test prints a line, says so in a file, then runs for a minute."""
    flags = tmp_path / "flags"
    flags.mkdir(mode=0o777)
    flags.chmod(0o777)  # the tests run as nobody
    said = flags / "said"
    slow = f"echo started-slow-test; touch {said}; exec sleep 60"
    add_release(tmp_path / "repo", make_manifest([("quick", "echo quick-one"), ("slow", slow, 50)]))
    return make_site(tmp_path), said


@pytest.mark.parametrize("how", ["timeout", "SIGTERM"])
def test_a_test_the_probe_is_stopped_in_keeps_its_output_in_the_state_record(
    tmp_path: Path, how: str
) -> None:
    site, said = _slow_release(tmp_path)
    argv = [*installed_probe(), *probe_args(site, tmp_path / "repo", timeout=60)]
    if how == "timeout":  # Nagios's way: a timeout shorter than the test
        argv = [*installed_probe(), *probe_args(site, tmp_path / "repo", timeout=3)]
    probe = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        if how == "SIGTERM":
            deadline = time.monotonic() + 30
            while not said.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert said.exists()
            probe.send_signal(signal.SIGTERM)
        out, _ = probe.communicate(timeout=60)
    finally:
        probe.kill()
        probe.wait()

    assert probe.returncode == 3, out
    quick, slow = site.state()["tests"]
    assert (quick["name"], quick["ok"], quick["output_tail"]) == ("quick", True, "quick-one\n")
    reason = "the probe's --timeout of 3s" if how == "timeout" else "interrupted by SIGTERM"
    assert (slow["name"], slow["ok"], slow["stopped"]) == ("slow", False, reason)
    assert re.fullmatch(rf"started-slow-test\npps: stopped after [\d.]+s: {reason}\n",
                        slow["output_tail"])  # fmt: skip
    assert site.state()["incomplete_runs"] == 1
