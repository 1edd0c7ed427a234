"""probes._arc_rte against the real ARC 6.17: arcctl enables and disables, A-REX's information
provider publishes, A-REX's own submit functions hand the environment to the job.

What a site admin would check: ``arcctl rte list`` (enabled, default, user RTEs), CEinfo.pl's
GLUE 2.0 ApplicationEnvironments, the script in the runtime directory, and what a job gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pps.classes import ReleaseType, UpdateClass
from pps.manifest import Manifest
from pps.rte import rte_name, split_rte_name
from probes._arc_rte import ArcRtePublisher, arc_name, enabled_rtes, parse_arc_conf, rte_script
from probes._publish import PublishError
from probes._safefs import UnsafePath
from probes._tree import ENV_SCRIPT, MARKER, MARKER_FORMAT, env_script
from tests import arc_helpers
from tests.arc_helpers import AppEnv, ArcSite

arc_site = arc_helpers.arc_site

NAME = "ENV/PPS/GLITE-UI-3.2.8-0"
SUBMIT_COMMON = "/usr/share/arc/submit_common.sh"


def publisher(site: ArcSite, root: Path, **kw: object) -> ArcRtePublisher:
    return ArcRtePublisher(str(site.conf), root, **kw)  # type: ignore[arg-type]


def make_tree(
    root: Path, profile_d: Path, component: str = "glite-UI", version: str = "3.2.8-0"
) -> Path:
    """An installed tree as the probe leaves it: its pps-env.sh, a bin/ with a command."""
    tree = root / component / version
    (tree / "bin").mkdir(parents=True)
    tool = tree / "bin" / "preview-tool"
    tool.write_text("#!/bin/sh\necho preview\n")
    tool.chmod(0o755)
    manifest = Manifest(
        component, version, UpdateClass.parse("bc-client"), ReleaseType.parse("revision")
    )
    (tree / ENV_SCRIPT).write_text(env_script(tree, profile_d, manifest))
    marker = {"format": MARKER_FORMAT, "component": component, "version": version}
    (tree / MARKER).write_text(json.dumps(marker))
    return tree


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "preview"
    r.mkdir()
    return r


@pytest.fixture
def profile_d(tmp_path: Path) -> Path:
    d = tmp_path / "profile.d"
    d.mkdir()
    (d / "grid.sh").write_text("PRODUCTION_GRID=yes; export PRODUCTION_GRID\n")
    return d


def test_the_testbed_publishes_an_enabled_rte_as_an_application_environment(
    arc_site: ArcSite,
) -> None:
    arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's tools\n")

    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0")

    assert arc_site.enabled() == ["ENV/SITE/TOOLS-1.0"]
    assert arc_site.app_environments() == [AppEnv("ENV/SITE/TOOLS", "1.0", "installednotverified")]


def test_publish_enables_the_rte_and_a_rex_publishes_it_split_as_it_splits(
    arc_site: ArcSite, root: Path
) -> None:
    pub = publisher(arc_site, root)

    assert pub.publish("glite-UI", "3.2.8-0", ["dteam"]) is True

    assert arc_site.enabled() == [NAME]
    assert arc_site.defaults() == []  # never a default RTE
    assert arc_site.listing()[NAME] == "(user, enabled)"
    assert arc_site.app_environments() == [
        AppEnv("ENV/PPS/GLITE-UI", "3.2.8-0", "installednotverified")
    ]
    script = arc_site.runtimedir / NAME
    assert script.read_text() == rte_script("glite-UI", "3.2.8-0", str(root))
    long = arc_site.arcctl("rte", "list", "-l").stdout
    assert "pps preview glite-UI 3.2.8-0, verified at this site" in long  # its description
    assert (arc_site.controldir / "rte" / "enabled" / NAME).readlink() == script
    assert pub.owned()[0].name == NAME and pub.enabled() == [NAME]


def test_the_steady_state_runs_no_arcctl_and_writes_nothing(arc_site: ArcSite, root: Path) -> None:
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")
    script = arc_site.runtimedir / NAME
    before = script.stat()

    # an arcctl that is not there: the steady state must not need it
    again = publisher(arc_site, root, arcctl=str(root / "no-arcctl"))

    assert again.publish("glite-UI", "3.2.8-0") is False
    after = script.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_withdraw_disables_keeps_the_script_and_retire_removes_it(
    arc_site: ArcSite, root: Path
) -> None:
    pub = publisher(arc_site, root)
    pub.publish("glite-UI", "3.2.8-0")

    assert pub.withdraw("glite-UI", "3.2.8-0") is True

    assert arc_site.enabled() == []
    assert arc_site.app_environments() == []
    assert arc_site.listing()[NAME] == "(user, disabled)"
    assert pub.withdraw("glite-UI", "3.2.8-0") is False  # nothing left to do

    assert pub.retire("glite-UI", "3.2.8-0") is True

    assert NAME not in arc_site.listing()
    assert not (arc_site.runtimedir / NAME).exists()
    assert not (arc_site.controldir / "rte" / "enabled" / "ENV").exists()  # arcctl tidied up


def test_a_default_the_site_made_of_pps_rte_goes_with_the_withdrawal(
    arc_site: ArcSite, root: Path
) -> None:
    pub = publisher(arc_site, root)
    pub.publish("glite-UI", "3.2.8-0")
    arc_site.arcctl("rte", "default", NAME)  # the site's doing: every job would get it

    pub.withdraw("glite-UI", "3.2.8-0")

    assert arc_site.enabled() == [] and arc_site.defaults() == []


def _arc_submit(
    site: ArcSite, rtes: list[str], tmp: Path, command: str = ""
) -> subprocess.CompletedProcess[str]:
    """A-REX's own submit functions (submit_common.sh) for a job asking for *rtes*: stage 0 on
    the front end, then the job script with stage 1, which prints the job's environment (and
    runs *command*, a shell command line, printing ``job ran: <its output>``)."""
    arc_helpers.require_file(SUBMIT_COMMON, "nordugrid-arc-arex")
    job = tmp / "job.sh"
    lines = [
        f". {SUBMIT_COMMON}",
        f"CONFIG_controldir={site.controldir}",
        f"LRMS_JOB_SCRIPT={job}",
        ': > "$LRMS_JOB_SCRIPT"',
        *(f"joboption_runtime_{i}={name}" for i, name in enumerate(rtes)),
        "RTE_stage0",
        'echo "front end after stage 0: PPS_PREVIEW_ROOT=${PPS_PREVIEW_ROOT:-unset}"',
        "RTE_stage1",
        'echo \'echo "job: PATH=$PATH"\' >> "$LRMS_JOB_SCRIPT"',
        'echo \'echo "job: PRODUCTION_GRID=$PRODUCTION_GRID"\' >> "$LRMS_JOB_SCRIPT"',
        'echo \'echo "job: tool=$(preview-tool)"\' >> "$LRMS_JOB_SCRIPT"',
        'echo \'echo "job: rte=$PPS_RTE_COMPONENT $PPS_RTE_VERSION"\' >> "$LRMS_JOB_SCRIPT"',
        *([f'echo \'echo "job ran: $({command})"\' >> "$LRMS_JOB_SCRIPT"'] if command else []),
        'sh "$LRMS_JOB_SCRIPT"',
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    return subprocess.run(
        ["sh", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=60, env=env
    )


def test_a_job_asking_for_the_rte_gets_production_then_the_preview_at_stage_1(
    arc_site: ArcSite, root: Path, profile_d: Path, tmp_path: Path
) -> None:
    tree = make_tree(root, profile_d)
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")

    proc = _arc_submit(arc_site, [NAME], tmp_path)

    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "front end after stage 0: PPS_PREVIEW_ROOT=unset" in out  # stage 0 changes nothing
    assert f"job: PATH={tree}/bin:" in out
    assert "job: PRODUCTION_GRID=yes" in out
    assert "job: tool=preview" in out
    assert "job: rte=glite-UI 3.2.8-0" in out


def test_a_job_fails_at_stage_1_when_the_tree_is_gone(
    arc_site: ArcSite, root: Path, tmp_path: Path
) -> None:
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")  # no tree under root

    proc = _arc_submit(arc_site, [NAME], tmp_path)

    assert proc.returncode != 0
    assert "pps: glite-UI 3.2.8-0 is not here" in proc.stderr
    assert "stage 1 execution failed" in proc.stderr


def test_a_job_asking_for_a_withdrawn_rte_is_refused_at_submission(
    arc_site: ArcSite, root: Path, profile_d: Path, tmp_path: Path
) -> None:
    make_tree(root, profile_d)
    pub = publisher(arc_site, root)
    pub.publish("glite-UI", "3.2.8-0")
    pub.withdraw("glite-UI", "3.2.8-0")

    proc = _arc_submit(arc_site, [NAME], tmp_path)

    assert proc.returncode != 0
    assert f"Requested RunTimeEnvironment {NAME} is missing, broken or not enabled" in proc.stderr


def test_the_rte_the_probe_enabled_is_the_one_an_xrsl_asks_for(
    arc_site: ArcSite, root: Path
) -> None:
    from jdl_templates.jobs import render_job

    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")
    xrsl = render_job("xrsl", "job", vo="dteam", previews=[("glite-UI", "3.2.8-0")])

    asked = arc_helpers.xrsl_rtes(xrsl)  # the jobs issue's template, read by ARC's parser

    assert asked == [("ENV/PPS/GLITE-UI", "3.2.8-0")]
    assert [f"{n}-{v}" for n, v in asked] == arc_site.enabled()
    published = arc_site.app_environments()
    assert [(e.name, e.version) for e in published] == asked


def test_the_job_wrapper_runs_the_program_in_the_preview_the_rte_set_up(
    arc_site: ArcSite, root: Path, profile_d: Path, tmp_path: Path
) -> None:
    from jdl_templates.jobs import wrapper_text

    tree = make_tree(root, profile_d)
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")
    wrapper = tmp_path / "pps-run.sh"
    wrapper.write_text(wrapper_text())

    # stage 1 of the RTE, then the job's executable as the xRSL names it: the wrapper
    proc = _arc_submit(
        arc_site, [NAME], tmp_path, command=f"sh {wrapper} glite-UI/3.2.8-0 -- preview-tool"
    )

    assert proc.returncode == 0, proc.stderr
    assert "job ran: preview" in proc.stdout
    assert str(tree) in proc.stderr  # the wrapper says which version it used


# -- the same safety as the tags file


def test_foreign_rtes_are_untouched(arc_site: ArcSite, root: Path) -> None:
    own = arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's\n")
    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0", "ENV/PROXY")
    arc_site.arcctl("rte", "default", "ENV/RTE")
    before = (arc_site.enabled(), arc_site.defaults(), own.read_bytes())
    pub = publisher(arc_site, root)

    pub.publish("glite-UI", "3.2.8-0")
    pub.withdraw("glite-UI", "3.2.8-0")
    pub.retire("glite-UI", "3.2.8-0")

    assert (arc_site.enabled(), arc_site.defaults(), own.read_bytes()) == before
    assert [p.name for p in pub.owned()] == []


def test_an_rte_of_pps_name_that_pps_did_not_write_is_never_changed_or_disabled(
    arc_site: ArcSite, root: Path
) -> None:
    theirs = arc_site.write_rte(NAME, "# description: the site's own\nexport X=1\n")
    arc_site.arcctl("rte", "enable", NAME)
    pub = publisher(arc_site, root)

    with pytest.raises(UnsafePath, match="was not written by pps: not changing it"):
        pub.publish("glite-UI", "3.2.8-0")
    assert pub.withdraw("glite-UI", "3.2.8-0") is False
    assert pub.retire("glite-UI", "3.2.8-0") is False

    assert theirs.read_text() == "# description: the site's own\nexport X=1\n"
    assert arc_site.enabled() == [NAME]


def test_an_enabled_link_to_another_script_is_left_alone(
    arc_site: ArcSite, root: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("# description: not pps's\n")
    link = arc_site.controldir / "rte" / "enabled" / NAME
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere)
    pub = publisher(arc_site, root)

    with pytest.raises(UnsafePath, match=f"is a link to {elsewhere}, not pps's RTE"):
        pub.publish("glite-UI", "3.2.8-0")
    pub.withdraw("glite-UI", "3.2.8-0")

    assert link.readlink() == elsewhere


@pytest.mark.parametrize("where", ["runtime-subdir", "script", "enabled-subdir"])
def test_symbolic_links_are_refused(
    arc_site: ArcSite, root: Path, tmp_path: Path, where: str
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    if where == "runtime-subdir":  # <runtimedir>/ENV -> elsewhere
        (arc_site.runtimedir / "ENV").symlink_to(target)
    elif where == "script":
        (arc_site.runtimedir / "ENV" / "PPS").mkdir(parents=True)
        (target / "victim").write_text("root's file\n")
        (arc_site.runtimedir / NAME).symlink_to(target / "victim")
    else:  # <controldir>/rte/enabled/ENV -> elsewhere
        (arc_site.controldir / "rte" / "enabled").mkdir(parents=True)
        (arc_site.controldir / "rte" / "enabled" / "ENV").symlink_to(target)

    with pytest.raises(UnsafePath, match="symbolic link"):
        publisher(arc_site, root).publish("glite-UI", "3.2.8-0")

    assert sorted(p.name for p in target.iterdir()) == (["victim"] if where == "script" else [])
    if where == "script":
        assert (target / "victim").read_text() == "root's file\n"
    assert arc_site.enabled() == []


def test_a_rewrite_keeps_the_scripts_owner_and_mode(arc_site: ArcSite, root: Path) -> None:
    pub = publisher(arc_site, root)
    pub.publish("glite-UI", "3.2.8-0")
    script = arc_site.runtimedir / NAME
    script.chmod(0o750)
    script.write_text(script.read_text() + "# an old line\n")

    assert publisher(arc_site, root).publish("glite-UI", "3.2.8-0") is True

    assert script.read_text() == rte_script("glite-UI", "3.2.8-0", str(root))
    assert script.stat().st_mode & 0o777 == 0o750


# -- kill -9 and two runs at once

_CHILD = """
import sys
from probes._arc_rte import ArcRtePublisher
conf, root, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pub = ArcRtePublisher(conf, root)
for i in range(first, first + count):
    pub.publish("glite-UI", f"3.2.{i}-0")
    if "churn" in sys.argv:
        pub.withdraw("glite-UI", f"3.2.{i}-0")
        pub.publish("glite-UI", f"3.2.{i}-0")
print("done", flush=True)
"""


def _child(site: ArcSite, root: Path, first: int, count: int, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(site.conf), str(root), str(first), str(count), *more],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_two_runs_at_once_both_publish_everything(arc_site: ArcSite, root: Path) -> None:
    a = _child(arc_site, root, 0, 4, "churn")
    b = _child(arc_site, root, 10, 4, "churn")

    outs = [p.communicate(timeout=120) for p in (a, b)]

    assert [p.returncode for p in (a, b)] == [0, 0], outs
    want = sorted(f"ENV/PPS/GLITE-UI-3.2.{i}-0" for i in (*range(4), *range(10, 14)))
    assert arc_site.enabled() == want
    assert not [n for n in arc_site.listing() if ".pps-" in n]


def _snapshot(site: ArcSite) -> tuple[tuple[str, ...], tuple[str, ...]]:
    scripts = site.runtimedir / "ENV" / "PPS"
    names = tuple(sorted(os.listdir(scripts))) if scripts.is_dir() else ()
    return names, tuple(enabled_rtes(str(site.controldir)))


def test_a_kill_at_any_point_leaves_only_whole_pps_scripts_enabled(
    arc_site: ArcSite, root: Path
) -> None:
    import signal
    import time

    for steps in range(1, 9):  # kill the run after it made 1, 2, ... visible changes
        child = _child(arc_site, root, 0, 3, "churn")
        seen, last = 0, _snapshot(arc_site)
        deadline = time.monotonic() + 60
        while seen < steps and child.poll() is None and time.monotonic() < deadline:
            now = _snapshot(arc_site)
            if now != last:
                seen, last = seen + 1, now
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        for name in enabled_rtes(str(arc_site.controldir)):
            version = name.rsplit("-", 2)[1] + "-0"
            script = arc_site.runtimedir / name
            assert script.read_text() == rte_script("glite-UI", version, str(root))

    # the next run finds its way: what the killed runs left (temp files included) is tidied
    pub = publisher(arc_site, root)
    for i in range(3):
        pub.publish("glite-UI", f"3.2.{i}-0")
    assert arc_site.enabled() == [f"ENV/PPS/GLITE-UI-3.2.{i}-0" for i in range(3)]
    assert not [n for n in arc_site.listing() if ".pps-" in n]


# -- what cannot be an RTE, and a site arcctl would confuse


def test_a_release_without_an_rte_name_is_skipped_with_a_word(
    arc_site: ArcSite, root: Path
) -> None:
    pub = publisher(arc_site, root)

    assert pub.publish("glite-2UI", "1.0") is False

    assert pub.said == [
        "glite-2UI 1.0 is not enabled as an ARC RTE: component 'glite-2UI' has '-2' in it: ARC "
        "cuts an RTE name at the first '-' followed by a digit, so it cannot be an ARC "
        "RunTimeEnvironment"
    ]
    assert pub.withdraw("glite-2UI", "1.0") is False
    assert not (arc_site.runtimedir / "ENV").exists()
    assert arc_site.enabled() == []


def test_a_runtimedir_whose_path_arcctl_would_strip_from_the_name_is_refused(
    tmp_path: Path, root: Path
) -> None:
    arc_helpers.require(arc_helpers.ARCCTL, "nordugrid-arc-arcctl")
    (tmp_path / "ENV-site").mkdir()
    site = ArcSite(tmp_path / "ENV-site")  # an upper-case E, N, V in the runtime dir's path
    assert arc_name(str(site.runtimedir), NAME) != NAME
    site.write_rte(NAME, "# description: x\n")
    assert NAME not in site.listing()  # arcctl itself gets the name wrong there
    (site.runtimedir / NAME).unlink()

    with pytest.raises(PublishError, match="ARC 6 strips the letters of the directory's path"):
        publisher(site, root).publish("glite-UI", "3.2.8-0")
    assert not (site.runtimedir / NAME).exists()


def test_without_arcctl_publishing_fails_and_a_withdrawal_still_happens(
    arc_site: ArcSite, root: Path
) -> None:
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")
    missing = str(root / "no-arcctl")

    with pytest.raises(PublishError, match="is not installed: install nordugrid-arc-arcctl"):
        publisher(arc_site, root, arcctl=missing).publish("glite-UI", "3.2.9-0")
    pub = publisher(arc_site, root, arcctl=missing)
    assert pub.withdraw("glite-UI", "3.2.8-0") is True

    assert arc_site.enabled() == []
    assert "pps removed its link itself" in pub.said[0]


def test_arc_conf_problems_are_one_line(arc_site: ArcSite, root: Path) -> None:
    with pytest.raises(PublishError, match="does not exist"):
        ArcRtePublisher(str(root / "arc.conf"), root).publish("glite-UI", "3.2.8-0")
    arc_site.conf.write_text(arc_site.conf.read_text().replace("runtimedir", "#runtimedir"))
    with pytest.raises(PublishError, match="has no \\[arex\\] runtimedir"):
        publisher(arc_site, root).publish("glite-UI", "3.2.8-0")


def test_arc_substitutions_are_resolved_by_arcctl(arc_site: ArcSite, root: Path) -> None:
    text = arc_site.conf.read_text().replace(
        f"controldir = {arc_site.controldir}", "controldir = $VAR{[arex]sessiondir}/../control"
    )
    arc_site.conf.write_text(text)

    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")

    assert arc_site.enabled() == [NAME]


def _arc_parser(conf: Path) -> dict[str, list[str]]:
    """The [arex] controldir and runtimedir values of *conf* as ARC 6's own parser reads them
    (``arc.utils.config``, in Debian's python3), without ARC's defaults file."""
    code = (
        "import json, sys\nfrom arc.utils import config\n"
        "config.parse_arc_conf(sys.argv[1], defaults_f=None)\n"
        "out = {}\n"
        "for o in ('controldir', 'runtimedir'):\n"
        "    v = config.get_value(o, 'arex', force_list=True)\n"
        "    if v: out[o] = v\n"
        "print(json.dumps(out))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [arc_helpers.DEBIAN_PYTHON, "-c", code, str(conf)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    if proc.returncode != 0:
        if arc_helpers.under_ci():
            pytest.fail(f"ARC's config parser failed: {proc.stderr[-300:]}")
        pytest.skip(f"ARC's Python config parser is not importable: {proc.stderr[-200:]}")
    found: dict[str, list[str]] = json.loads(proc.stdout)
    return found


def test_parse_arc_conf_reads_what_arcs_own_parser_reads(tmp_path: Path) -> None:
    text = (
        "# a comment\n[common]\nruntimedir=/not/arex\n\n[arex]\n  controldir   =  /c/one  \n"
        "runtimedir=/r/one\nruntimedir = /r/two\n[arex/ws]\nruntimedir=/not/either\n"
        "[queue:fork]\n"
    )
    conf = tmp_path / "arc.conf"
    conf.write_text(text)

    assert parse_arc_conf(text) == _arc_parser(conf) == {
        "controldir": ["/c/one"], "runtimedir": ["/r/one", "/r/two"],
    }  # fmt: skip


# -- outside values: the index's component and version, the site's preview root and arc.conf

_components = st.from_regex(r"[A-Za-z][A-Za-z0-9._]{0,6}(?:-[A-Za-z._][A-Za-z0-9._]{0,4}){0,2}",
                            fullmatch=True)  # fmt: skip
_versions = st.from_regex(r"[0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)
_roots = st.from_regex(r"(?:/[A-Za-z0-9._+-]{1,8}){1,4}", fullmatch=True).filter(
    lambda r: "/../" not in r + "/" and "/./" not in r + "/"
)


@settings(max_examples=40, deadline=None)
@given(component=_components, version=_versions, root=_roots)
def test_the_script_exports_exactly_what_it_names_at_stage_1(
    component: str, version: str, root: str
) -> None:
    text = rte_script(component, version, root)
    body = f"RTE_function_0 () {{\n{text}}}\n"  # as A-REX pastes it into the job script
    shell = (
        f'{body}RTE_function_0 1; echo "rc=$?"\n'
        'printf "%s|%s|%s\\n" "$PPS_PREVIEW_ROOT" "$PPS_RTE_COMPONENT" "$PPS_RTE_VERSION"\n'
    )

    proc = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=30)

    assert proc.stdout.splitlines() == ["rc=1", f"{root}|{component}|{version}"]  # no tree
    assert f"pps: {component} {version} is not here" in proc.stderr
    name = rte_name(component, version)
    assert f"the ARC RunTimeEnvironment {name}." in text.split("\n")[1]
    assert split_rte_name(name) == (f"ENV/PPS/{component}".upper(), version.upper())


_values = st.from_regex(r"/[a-z0-9/_.-]{0,20}", fullmatch=True)
_space = st.sampled_from(["", " ", "  ", "\t"])


@settings(max_examples=30, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.tuples(
                st.just("block"),
                st.sampled_from(["arex", "common", "arex/ws", "queue:fork", "lrms"]),
                _space,
            ),  # fmt: skip
            st.tuples(st.sampled_from(["controldir", "runtimedir", "sessiondir"]), _values, _space),
            st.tuples(st.just("#"), st.sampled_from(["# note", "#controldir=/x", ""]), _space),
        ),
        max_size=12,
    )
)
def test_parse_arc_conf_agrees_with_arcs_own_parser_on_any_file(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[str, str, str]]
) -> None:
    out = []
    for kind, value, space in lines:
        if kind == "block":
            out.append(f"{space}[{value}]{space}")
        elif kind == "#":
            out.append(value)
        else:
            out.append(f"{space}{kind}{space}={space}{value}{space}")
    text = "\n".join(out) + "\n"
    conf = tmp_path_factory.mktemp("conf") / "arc.conf"
    conf.write_text(text)

    ours = parse_arc_conf(text)

    assert ours == _arc_parser(conf)


def test_enabled_rtes_lists_what_a_rex_publishes(arc_site: ArcSite, root: Path) -> None:
    publisher(arc_site, root).publish("glite-UI", "3.2.8-0")
    arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's\n")
    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0", "ENV/PROXY")
    enabled = arc_site.controldir / "rte" / "enabled"
    (enabled / "ENV" / "BROKEN-1.0").symlink_to(arc_site.dir / "gone")  # a broken link
    (enabled / "ENV" / ".HIDDEN-1.0").symlink_to(arc_site.runtimedir / NAME)
    (enabled / "ENV" / "BACKUP-1.0~").symlink_to(arc_site.runtimedir / NAME)

    names = enabled_rtes(str(arc_site.controldir))

    published = [f"{e.name}-{e.version}" if e.version else e.name
                 for e in arc_site.app_environments()]  # fmt: skip
    assert names == sorted(published) == ["ENV/PPS/GLITE-UI-3.2.8-0", "ENV/PROXY",
                                          "ENV/SITE/TOOLS-1.0"]  # fmt: skip
