"""probes._condor: the PPS_RTE machine attribute, read back as HTCondor reads its configuration.

HTCondor's daemons are not installable here, so the snippet is checked with HTCondor's own
configuration reader (the ``htcondor`` wheel: ``htcondor2.param`` over a ``CONDOR_CONFIG`` whose
``LOCAL_CONFIG_DIR`` is the ``config.d`` the probe writes), the machine ad is built as the startd
builds it (every name in ``STARTD_ATTRS`` becomes an attribute whose expression is that macro's
value), and a submit description's ``requirements`` (``htcondor2.Submit``) is evaluated against
it with ``classad2``.  ``condor_reconfig`` is the site's command: a stand-in that records its
calls plays it (the real one needs a running pool).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pps.names import PREVIEW_CAPABILITY, version_tag
from pps.rte import condor_config, condor_requirement
from probes._condor import CondorPublisher, snippet_tags
from probes._publish import PublishError
from probes._safefs import UnsafePath

TAG = "VO-dteam-PPS-glite-UI-3.2.8-0"
REPO = Path(__file__).resolve().parent.parent

_MACHINE_AD = r"""
import json, os, sys
import classad2, htcondor2
out = []
for case in json.loads(sys.stdin.read()):
    os.environ["CONDOR_CONFIG"] = case["config"]
    htcondor2.reload_config()
    p = htcondor2.param
    ad = classad2.ClassAd()
    attrs = p.get("STARTD_ATTRS", "").replace(",", " ").split()
    for name in attrs:
        ad[name] = classad2.ExprTree(p[name])
    matches = []
    for submit in case["submits"]:
        req = classad2.ExprTree(htcondor2.Submit(submit).get("requirements"))
        job = classad2.ClassAd({"Requirements": req})
        # the job's Requirements in the job's scope, TARGET the machine: as matchmaking does
        matches.append(req.eval(job, ad) is True)
    rte = ad.eval("PPS_RTE") if "PPS_RTE" in ad else None
    out.append({"attrs": attrs, "PPS_RTE": rte, "matches": matches})
print(json.dumps(out))
"""


class Pool:
    """An execute node's configuration: ``condor_config`` with the site's own STARTD_ATTRS and
    ``LOCAL_CONFIG_DIR`` = ``config.d``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config_d = directory / "config.d"
        self.config_d.mkdir(parents=True)
        self.config = directory / "condor_config"
        self.config.write_text(
            f'SITE_ATTR = "site"\nSTARTD_ATTRS = SITE_ATTR\nLOCAL_CONFIG_DIR = {self.config_d}\n'
        )
        self.snippet = self.config_d / "55-pps-rte.conf"

    def machine_ads(self, submits_per_config: list[tuple[Path, list[str]]]) -> list[dict]:
        """For each (condor_config, submit descriptions): the machine ad's STARTD_ATTRS, its
        PPS_RTE, and whether each submit's requirements match it."""
        cases = [{"config": str(c), "submits": s} for c, s in submits_per_config]
        env = {k: v for k, v in os.environ.items() if k != "CONDOR_CONFIG"}
        proc = subprocess.run(
            [sys.executable, "-c", _MACHINE_AD],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    def ad(self, *submits: str) -> dict:
        return self.machine_ads([(self.config, list(submits))])[0]


def submit(tag: str) -> str:
    """A submit description asking for a machine advertising *tag* (the jobs issue's form)."""
    return f"executable = /bin/true\nrequirements = {condor_requirement(tag)}\nqueue\n"


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    return Pool(tmp_path / "node")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "preview"
    r.mkdir()
    return r


def reconfig_stub(tmp_path: Path, exit_code: int = 0) -> tuple[str, Path]:
    """A ``condor_reconfig`` of the site's that records each call."""
    calls = tmp_path / "reconfig-calls"
    script = tmp_path / "condor_reconfig"
    script.write_text(
        f"#!/bin/sh\necho called >> {calls}\necho 'Sent reconfig'\nexit {exit_code}\n"
    )
    script.chmod(0o755)
    return str(script), calls


def calls(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def publisher(pool: Pool, root: Path, **kw: object) -> CondorPublisher:
    kw.setdefault("reconfig", "")
    return CondorPublisher(str(pool.snippet), root, **kw)  # type: ignore[arg-type]


def test_a_published_version_is_in_the_machine_ad_that_a_job_matches(
    pool: Pool, root: Path
) -> None:
    assert publisher(pool, root).publish("glite-UI", "3.2.8-0", ["dteam", "ops"]) is True

    ad = pool.ad(submit(TAG), submit("VO-ops-PPS-glite-UI-3.2.8-0"), submit("VO-dteam-PPS-x-1"))

    assert ad["attrs"] == ["SITE_ATTR", "PPS_RTE", "PPS_PREVIEW_ROOT"]  # the site's attr kept
    assert ad["PPS_RTE"] == f"{TAG},VO-ops-PPS-glite-UI-3.2.8-0,{PREVIEW_CAPABILITY}"
    assert ad["matches"] == [True, True, False]
    # stringListIMember ignores case, as GLUE compares tags
    assert pool.ad(submit(TAG.lower()))["matches"] == [True]


def test_withdraw_takes_the_version_out_of_the_machine_ad(pool: Pool, root: Path) -> None:
    pub = publisher(pool, root)
    pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    pub.publish("glite-UI", "3.2.9-0", ["dteam"])

    assert pub.withdraw("glite-UI", "3.2.8-0", ["dteam"]) is True

    other = "VO-dteam-PPS-glite-UI-3.2.9-0"
    ad = pool.ad(submit(TAG), submit(other))
    assert ad["matches"] == [False, True]
    assert ad["PPS_RTE"] == f"{PREVIEW_CAPABILITY},{other}"
    assert pub.withdraw("glite-UI", "3.2.8-0", ["dteam"]) is False
    assert [p.name for p in pub.owned()] == [other]


def test_the_snippet_is_the_jobs_issue_text(pool: Pool, root: Path) -> None:
    publisher(pool, root).publish("glite-UI", "3.2.8-0", ["dteam"])

    assert pool.snippet.read_text() == condor_config([TAG, PREVIEW_CAPABILITY], str(root))


def test_the_steady_state_writes_nothing_and_does_not_reconfigure(
    pool: Pool, root: Path, tmp_path: Path
) -> None:
    command, log = reconfig_stub(tmp_path)
    publisher(pool, root, reconfig=command).publish("glite-UI", "3.2.8-0", ["dteam"])
    before = pool.snippet.stat()

    assert (
        publisher(pool, root, reconfig=command).publish("glite-UI", "3.2.8-0", ["dteam"]) is False
    )

    after = pool.snippet.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert calls(log) == 1


def test_each_change_asks_the_pool_to_reconfigure(pool: Pool, root: Path, tmp_path: Path) -> None:
    command, log = reconfig_stub(tmp_path)
    pub = publisher(pool, root, reconfig=command)

    pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    pub.withdraw("glite-UI", "3.2.8-0", ["dteam"])

    assert calls(log) == 2
    assert pub.said == []


def test_without_condor_reconfig_the_run_says_so_and_goes_on(pool: Pool, root: Path) -> None:
    pub = publisher(pool, root, reconfig=str(root / "condor_reconfig"))

    assert pub.publish("glite-UI", "3.2.8-0", ["dteam"]) is True

    assert pub.said == [
        f"{root / 'condor_reconfig'} is not installed here: the pool advertises the new PPS_RTE "
        "at its next reconfiguration"
    ]
    assert pool.ad(submit(TAG))["matches"] == [True]


def test_a_failing_condor_reconfig_is_said_not_raised(
    pool: Pool, root: Path, tmp_path: Path
) -> None:
    command, _ = reconfig_stub(tmp_path, exit_code=3)
    pub = publisher(pool, root, reconfig=command)

    assert pub.publish("glite-UI", "3.2.8-0", ["dteam"]) is True

    assert pub.said[0].startswith(f"{command} failed (exit 3): Sent reconfig; the pool")


def test_a_rewrite_keeps_the_owner_group_and_mode(pool: Pool, root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving the file another owner needs root")
    pub = publisher(pool, root)
    pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    os.chown(pool.snippet, 65534, 65534)
    pool.snippet.chmod(0o640)

    pub.publish("glite-UI", "3.2.9-0", ["dteam"])

    got = pool.snippet.stat()
    assert (got.st_uid, got.st_gid, stat.S_IMODE(got.st_mode)) == (65534, 65534, 0o640)
    assert "3.2.9-0" in pool.snippet.read_text()


def test_a_file_pps_did_not_write_is_never_changed(pool: Pool, root: Path) -> None:
    pool.snippet.write_text('PPS_RTE = "the site\'s own"\nSTARTD_ATTRS = $(STARTD_ATTRS) PPS_RTE\n')
    before = pool.snippet.read_bytes()
    pub = publisher(pool, root)

    with pytest.raises(UnsafePath, match="was not written by pps: not changing it"):
        pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    assert pub.withdraw("glite-UI", "3.2.8-0", ["dteam"]) is False
    assert pub.owned() == []

    assert pool.snippet.read_bytes() == before


def test_other_configuration_files_are_untouched(pool: Pool, root: Path) -> None:
    theirs = pool.config_d / "50-site.conf"
    theirs.write_text("NUM_SLOTS = 4\n")
    pub = publisher(pool, root)

    pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    pub.withdraw("glite-UI", "3.2.8-0", ["dteam"])

    assert theirs.read_text() == "NUM_SLOTS = 4\n"
    assert sorted(p.name for p in pool.config_d.iterdir()) == [
        ".55-pps-rte.conf.lock", "50-site.conf", "55-pps-rte.conf",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_links_and_special_files_are_refused(
    pool: Pool, root: Path, tmp_path: Path, kind: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    if kind == "symlink":
        pool.snippet.symlink_to(victim)
    elif kind == "hardlink":
        os.link(victim, pool.snippet)
    else:
        os.mkfifo(pool.snippet)

    with pytest.raises(UnsafePath, match=str(pool.snippet)):
        publisher(pool, root).publish("glite-UI", "3.2.8-0", ["dteam"])

    assert victim.read_text() == "root's file\n"


def test_a_missing_config_dir_is_one_line(tmp_path: Path, root: Path) -> None:
    pub = CondorPublisher(str(tmp_path / "none" / "55-pps-rte.conf"), root, reconfig="")

    with pytest.raises(PublishError, match="configuration directory .* does not exist"):
        pub.publish("glite-UI", "3.2.8-0", ["dteam"])
    assert not (tmp_path / "none").exists()


def test_remove_takes_the_snippet_away(pool: Pool, root: Path) -> None:
    pub = publisher(pool, root)
    pub.publish("glite-UI", "3.2.8-0", ["dteam"])

    assert pub.remove() is True

    assert sorted(p.name for p in pool.config_d.iterdir()) == []
    assert pool.ad()["attrs"] == ["SITE_ATTR"]


# -- two runs at once, kill -9

_CHILD = """
import sys
from probes._condor import CondorPublisher
path, root, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pub = CondorPublisher(path, root, reconfig="")
for i in range(first, first + count):
    pub.publish("glite-UI", f"3.2.{i}-0", ["dteam"])
    if "churn" in sys.argv:
        pub.withdraw("glite-UI", f"3.2.{i}-0", ["dteam"])
        pub.publish("glite-UI", f"3.2.{i}-0", ["dteam"])
"""


def _child(pool: Pool, root: Path, first: int, count: int, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(pool.snippet), str(root), str(first), str(count),
         *more],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def test_two_runs_at_once_lose_no_tag(pool: Pool, root: Path) -> None:
    a = _child(pool, root, 0, 15, "churn")
    b = _child(pool, root, 20, 15, "churn")

    outs = [p.communicate(timeout=120) for p in (a, b)]

    assert [p.returncode for p in (a, b)] == [0, 0], outs
    want = {version_tag("dteam", "glite-UI", f"3.2.{i}-0") for i in (*range(15), *range(20, 35))}
    assert set(pool.ad()["PPS_RTE"].split(",")) == want | {PREVIEW_CAPABILITY}


def test_a_kill_at_any_point_leaves_a_whole_snippet(pool: Pool, root: Path) -> None:
    for steps in range(1, 12, 2):
        child = _child(pool, root, 0, 30, "churn")
        seen, last = 0, b""
        deadline = time.monotonic() + 60
        while seen < steps and child.poll() is None and time.monotonic() < deadline:
            now = pool.snippet.read_bytes() if pool.snippet.exists() else b""
            if now != last:
                seen, last = seen + 1, now
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        if pool.snippet.exists():
            data = pool.snippet.read_bytes()
            tags = snippet_tags(data)
            assert tags is not None and data == condor_config(tags, str(root)).encode()

    ad = pool.ad(submit(TAG))
    assert "PPS_RTE" in ad["attrs"]
    publisher(pool, root).publish("glite-UI", "3.2.8-0", ["dteam"])
    assert [p.name for p in pool.config_d.iterdir() if ".pps-" in p.name] == []


# -- any tag pps can make reads back the same through HTCondor's own parser

_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)
_vos = st.from_regex(r"[a-z0-9](?:[a-z0-9_.-]{0,10}[a-z0-9])?", fullmatch=True)
_versions = st.from_regex(r"[0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(releases=st.lists(st.tuples(_vos, _names, _versions), min_size=1, max_size=4))
def test_every_tag_reads_back_through_htcondor(
    tmp_path_factory: pytest.TempPathFactory, releases: list[tuple[str, str, str]]
) -> None:
    node = Pool(tmp_path_factory.mktemp("node"))
    root = tmp_path_factory.mktemp("preview")
    pub = publisher(node, root)
    for vo, component, version in releases:
        pub.publish(component, version, [vo])
    tags = [version_tag(vo, c, v) for vo, c, v in releases]

    ad = node.ad(*(submit(t) for t in tags))

    assert ad["matches"] == [True] * len(tags)
    assert {t.casefold() for t in ad["PPS_RTE"].split(",")} == {
        t.casefold() for t in [*tags, PREVIEW_CAPABILITY]
    }


def test_the_jobs_issue_submit_file_matches_only_a_node_advertising_the_version(
    pool: Pool, root: Path
) -> None:
    from jdl_templates.jobs import render_job

    job = render_job("condor", "job", vo="dteam", previews=[("glite-UI", "3.2.8-0")])
    other = render_job("condor", "job", vo="ops", previews=[("glite-UI", "3.2.8-0")])
    pub = publisher(pool, root)
    pub.publish("glite-UI", "3.2.8-0", ["dteam"])

    assert pool.ad(job, other)["matches"] == [True, False]

    pub.withdraw("glite-UI", "3.2.8-0", ["dteam"])
    assert pool.ad(job)["matches"] == [False]
