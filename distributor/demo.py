"""The embedded demo: a whole preview grid on one machine, no servers.

``pps demo`` builds, under one directory, a repository, eight local partner sites of mixed
classes and kinds (each a directory tree with a fake production client and its ``profile.d``): six
gLite sites (tags files), HALO-ARC, an ARC-CE (its probe enables an A-REX RunTimeEnvironment
through the real ``arcctl``; needs Debian's nordugrid-arc-arcctl), and IRIS-CONDOR, an HTCondor
node (its probe advertises the preview in a ``config.d`` snippet's ``PPS_RTE``); and two releases
of fake clients; it pushes both through the real code path (transport -> probe -> tags -> GIP
provider -> bulletin) and then checks that what happened is what the rules say must happen:

* ``glite-UI 3.2.8-0`` (bc-client) goes to every site and is live everywhere (at HALO-ARC as the
  RTE ``ENV/PPS/GLITE-UI-3.2.8-0``, at IRIS-CONDOR in ``PPS_RTE``) except FJORD-T3, whose
  production ``profile.d`` points ``GLITE_LOCATION`` at a missing directory, so the
  inherited-environment test fails there and the tag is withheld;
* ``glite-WN 3.3.0-1`` (nbc-client) goes to the silver sites only and is live only at AURORA-LCG2,
  the silver site that has a local configuration hook; BOREAL-T2 waits for its hook (WARNING).

Then ``glite-UI 3.2.8-0`` goes through its staged rollout (verified, accepted by two early
adopters where it is live, reported on, closed success: its files move to ``production/`` with
the release notes, and every site it was pushed to is told to retire its preview, so its tags
are gone everywhere) and ``glite-WN 3.3.0-1`` is left rolling-out, each step in the audit log
(``pps release show``).  The bulletin is written last, from what the sites publish then: glite-WN
live at AURORA-LCG2, glite-UI live nowhere (it is in production now).

Running it again starts from a clean directory (only a directory it made itself is emptied).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributor.bulletin_records import build as build_bulletin
from distributor.lifecycle.model import CLOSED_SUCCESS, ROLLING_OUT
from distributor.lifecycle.rollout import Rollout
from distributor.lifecycle.sites import sites_to_tell
from distributor.notify.compose import mail_makers
from distributor.push.controller import push_release
from distributor.push.targets import target_sites
from distributor.repository.releases import create_release
from distributor.repository.signing import generate_key, init_repository
from distributor.store import Store
from pps.errors import BadInput
from pps.inventory import load_config
from pps.repository import Repository

MARKER = ".pps-demo"


@dataclass(frozen=True)
class DemoSite:
    name: str
    partner: str
    vos: tuple[str, ...]
    hook: bool = False
    broken_profile: bool = False
    #: Components the site committed to roll out early (inventory ``early_adopter``).
    early_adopter: tuple[str, ...] = ()
    #: What the site runs (inventory ``kind``): glite, arc (an ARC-CE), condor (HTCondor).
    kind: str = "glite"


SITES = (
    DemoSite(
        "AURORA-LCG2",
        "silver",
        ("dteam", "vo.neugrid.eu"),
        hook=True,
        early_adopter=("glite-UI", "glite-WN"),
    ),
    DemoSite("BOREAL-T2", "silver", ("dteam",)),
    DemoSite("CORAL-GRID", "gold", ("dteam", "ops")),
    DemoSite("DELTA-HEP", "none", ("dteam",), early_adopter=("glite-UI",)),
    DemoSite("EMBER-CLOUD", "platinum", ("ops", "dteam")),
    DemoSite("FJORD-T3", "none", ("dteam",), broken_profile=True),
    # no upper-case E in the name: arcctl 6 strips the letters of its runtimedir's path from
    # RTE names (probes._arc_rte.arc_name), and an 'E' there would hide every ENV/... RTE
    DemoSite("HALO-ARC", "gold", ("dteam",), kind="arc"),
    DemoSite("IRIS-CONDOR", "gold", ("dteam", "ops"), kind="condor"),
)
#: The ARC-CE's arcctl (Debian's nordugrid-arc-arcctl).
ARCCTL = "/usr/sbin/arcctl"

UI = ("glite-UI", "3.2.8-0", "bc-client", "revision")
WN = ("glite-WN", "3.3.0-1", "nbc-client", "minor")
#: What the rules say must be live once both releases are pushed.
EXPECTED_LIVE = {
    UI[:2]: {s.name for s in SITES if not s.broken_profile},
    WN[:2]: {s.name for s in SITES if s.partner == "silver" and s.hook},
}
#: What must be live at the end: glite-UI was closed (production), every site retired it.
EXPECTED_LIVE_AT_THE_END = {UI[:2]: set(), WN[:2]: EXPECTED_LIVE[WN[:2]]}


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _prepare(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise BadInput(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise BadInput(
                f"--out {out} is not empty and was not made by pps demo: not touching it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by pps demo; emptied by the next pps demo\n")


def _write_site(root: Path, site: DemoSite) -> None:
    glite = root / "opt/glite"
    _write(
        glite / "bin/glite-wms-job-submit",
        """\
        #!/bin/sh
        echo "glite-wms-job-submit 3.1.0-1 (production)"
        """,
        executable=True,
    )
    location = root / ("opt/glite-missing" if site.broken_profile else "opt/glite")
    _write(
        root / "etc/profile.d/grid-env.sh",
        f"""\
        # production grid environment of {site.name}
        export GLITE_LOCATION="{location}"
        export PATH="$GLITE_LOCATION/bin:$PATH"
        export SITE_NAME="{site.name}"
        """,
    )
    (root / "opt/glite/var/info").mkdir(parents=True, exist_ok=True)
    if site.kind == "arc":
        for d in ("etc/arc/rte", "var/spool/arc/jobstatus", "var/spool/arc/sessiondir"):
            (root / d).mkdir(parents=True, exist_ok=True)
        _write(
            root / "etc/arc.conf",
            f"""\
            # the A-REX of {site.name} (what its probe reads: [arex] runtimedir, controldir)
            [common]
            hostname = ce.{site.name.lower()}.example.org

            [lrms]
            lrms = fork

            [arex]
            runtimedir = {root / "etc/arc/rte"}
            controldir = {root / "var/spool/arc/jobstatus"}
            sessiondir = {root / "var/spool/arc/sessiondir"}

            [infosys]

            [infosys/cluster]

            [queue:fork]
            """,
        )
    if site.kind == "condor":
        (root / "etc/condor/config.d").mkdir(parents=True, exist_ok=True)
    if site.hook:
        _write(
            root / "opt/pps/preview/hooks/configure",
            f"""\
            #!/bin/sh
            # local configuration of non backward compatible clients at {site.name}
            # called as: configure <tree> <component> <version>
            set -e
            mkdir -p "$1/etc"
            printf 'site = %s\\nbatch = pbs\\n' "{site.name}" > "$1/etc/wn.conf"
            """,
            executable=True,
        )


def _write_sources(src: Path) -> tuple[Path, Path]:
    ui = src / "glite-UI-3.2.8-0"
    _write(
        ui / "bin/glite-wms-job-submit",
        """\
        #!/bin/sh
        echo "glite-wms-job-submit 3.2.8-0 (preview)"
        """,
        executable=True,
    )
    _write(ui / "etc/preview.sh", "export GLITE_UI_PREVIEW=3.2.8-0\n")
    _write(
        ui / "pps-tests.toml",
        """\
        setup = "etc/preview.sh"

        [[tests]]
        name = "preview-first-on-path"
        command = "glite-wms-job-submit --version | grep -q '3.2.8-0'"
        timeout = 30

        [[tests]]
        name = "production-environment-inherited"
        command = 'test -x "$GLITE_LOCATION/bin/glite-wms-job-submit"'
        timeout = 30
        """,
    )
    wn = src / "glite-WN-3.3.0-1"
    _write(
        wn / "bin/glite-wn-info",
        """\
        #!/bin/sh
        echo "glite-wn-info 3.3.0-1 configured with: $(cat "$PPS_PREVIEW_HOME/etc/wn.conf")"
        """,
        executable=True,
    )
    _write(
        wn / "pps-tests.toml",
        """\
        [[tests]]
        name = "site-configuration-present"
        command = 'test -s "$PPS_PREVIEW_HOME/etc/wn.conf"'
        timeout = 30

        [[tests]]
        name = "runs"
        command = "glite-wn-info | grep -q 3.3.0-1"
        timeout = 30
        """,
    )
    return ui, wn


def _reachable_by_all(path: Path) -> bool:
    """Whether every directory down to *path* can be searched by any account."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        if not current.stat().st_mode & 0o001:
            return False
    return True


def _write_site_file(root: Path, site: DemoSite, public_key: str, test_user: str) -> None:
    """The site's own description, as its admin would write /etc/pps/site.toml (here with the
    site directory's real paths, since the demo's sites are directories on this machine)."""
    vos = ", ".join(f'"{v}"' for v in site.vos)
    _write(
        root / "etc/pps/site.toml",
        f"""        # {site.name}: read by every probe run, push or Nagios (see README, Site admins)
        site = "{site.name}"
        vos = [{vos}]
        subcluster = "ce.{site.name.lower()}.example.org"
        preview_root = "{root / "opt/pps/preview"}"
        info_dir = "{root / "opt/glite/var/info"}"
        profile_d = "{root / "etc/profile.d"}"
        public_key = "{public_key}"
        test_user = "{test_user}"
        """,
    )
    with (root / "etc/pps/site.toml").open("a") as f:
        f.write(_publish_lines(root, site))


def _publish_lines(root: Path, site: DemoSite) -> str:
    """Where an ARC-CE's or an HTCondor node's probe publishes (README, Site admins)."""
    if site.kind == "arc":
        return f'publish = ["arc-rte"]\narc_conf = "{root / "etc/arc.conf"}"\n'
    if site.kind == "condor":
        snippet = root / "etc/condor/config.d/55-pps-rte.conf"
        return f'publish = ["condor"]\ncondor_config = "{snippet}"\ncondor_reconfig = ""\n'
    return ""


def _write_config(out: Path) -> Path:
    lines = [
        "# pps demo grid: eight local partner sites (see README, Configuration)",
        "[repository]",
        'path = "repository"',
        'signing_key = "keys/repository.pem"',
        "",
        "[state]",
        'path = "pps-state.sqlite"',
        "",
    ]
    for s in SITES:
        vos = ", ".join(f'"{v}"' for v in s.vos)
        lines += [
            "[[sites]]",
            f'name = "{s.name}"',
            f'partner = "{s.partner}"',
            f"vos = [{vos}]",
            'transport = "local"',
            f'root = "sites/{s.name}"',
            f'subcluster = "ce.{s.name.lower()}.example.org"',
            'preview_root = "/opt/pps/preview"',
            'info_dir = "/opt/glite/var/info"',
            'profile_d = "/etc/profile.d"',
        ]
        if s.kind != "glite":
            lines.append(f'kind = "{s.kind}"')
        if s.early_adopter:
            lines.append("early_adopter = [" + ", ".join(f'"{c}"' for c in s.early_adopter) + "]")
        lines.append("")
    path = out / "pps.toml"
    path.write_text("\n".join(lines))
    return path


def run_demo(out: Path, echo: Callable[[str], None] = print) -> bool:
    """Build and run the demo grid in *out*; True when everything came out as the rules say."""
    # One piece: the demo's script, read top to bottom as the README tells it; each step is a
    # call into the library, the function only orders them and says what happened.
    import jdl_templates

    out = out.resolve()
    _prepare(out)
    # The probes the demo runs here keep their cache in OUT too: nothing outside it is touched.
    os.environ["PPS_CACHE_DIR"] = str(out / "cache")
    echo(f"building a demo grid in {out}")
    public_key = generate_key(out / "keys" / "repository.pem")
    test_user = "nobody"
    if os.geteuid() == 0 and not _reachable_by_all(out):
        # A real site keeps its preview root where every account can reach it; this
        # directory is not, so the demo's local tests run as root instead of 'nobody'.
        test_user = "root"
        echo(f"  note: {out} is not reachable by other accounts: the local tests run as root")
    for s in SITES:
        _write_site(out / "sites" / s.name, s)
        _write_site_file(out / "sites" / s.name, s, public_key, test_user)
    echo("  repository index signed; every site file pins its public key")
    ui_src, wn_src = _write_sources(out / "src")
    config = load_config(_write_config(out))
    repo = Repository(config.repository)

    init_repository(repo, config.signing_key)
    echo(
        f"  {len(SITES)} local sites: "
        + ", ".join(
            f"{s.name} ({s.partner}{'' if s.kind == 'glite' else ', ' + s.kind})" for s in SITES
        )
    )
    expected_live = EXPECTED_LIVE
    arc = [s.name for s in SITES if s.kind == "arc"]
    if not Path(ARCCTL).exists() or "E" in str(out):
        why = f"{out} has an upper-case E, which arcctl 6 strips from RTE names"
        if not Path(ARCCTL).exists():
            why = f"{ARCCTL} is not installed"
        echo(f"  note: {why}: the ARC-CE {', '.join(arc)} cannot enable its RTE")
        expected_live = {k: v - set(arc) for k, v in EXPECTED_LIVE.items()}

    releases = []
    for (component, version, uclass, rtype), src in ((UI, ui_src), (WN, wn_src)):
        rel = create_release(
            repo, component, version, source=src, update_class=uclass, release_type=rtype,
            notes_url=f"https://pps.example.org/notes/{component}/{version}",
            feedback_url=f"https://pps.example.org/feedback/{component}/{version}",
            signing_key=config.signing_key,
        )  # fmt: skip
        releases.append(rel)
        echo(f"release create {component} {version} ({uclass}): sha256 {rel.sha256[:16]}...")

    if config.state_path is None:
        raise BadInput("the demo's configuration names no state store")
    with Store(config.state_path) as store:
        for rel in releases:
            sites = target_sites(config, rel)
            echo(f"push {rel.component} {rel.version} -> {len(sites)} site(s)")
            report = push_release(repo, rel, sites, store, signing_key=config.signing_key)
            for o in report.outcomes:
                echo(f"  {o.site:<12} {o.state:<8} {o.summary}")

    def live_now(heading: str, expected: dict[tuple[str, str], set[str]]) -> bool:
        """Build the bulletin from what the sites publish now; whether it is *expected*."""
        _paths, errors = build_bulletin(config, out / "bulletin")
        for name, err in errors.items():
            echo(f"  warning: {name}: {err}")
        vmap = json.loads((out / "bulletin" / "map.json").read_text())
        good = True
        echo("")
        echo(heading)
        for (component, version), want in expected.items():
            live = set(vmap["components"].get(component, {}).get(version, {}).get("sites", []))
            verdict = "as expected" if live == want else f"EXPECTED {sorted(want) or 'nowhere'}"
            good = good and live == want
            echo(f"  {component} {version}: {', '.join(sorted(live)) or 'nowhere'} ({verdict})")
        return good

    ok = live_now("what is live now (from the sites' published GLUE information):", expected_live)
    echo("")
    ok = _staged_rollout(config, repo, releases, echo) and ok
    ok = live_now("what is live at the end (glite-UI is in production, its preview retired):",
                  EXPECTED_LIVE_AT_THE_END) and ok  # fmt: skip

    jdl_dir = out / "jdl"
    jdl_dir.mkdir()
    for component, version, *_ in (UI, WN):
        text = jdl_templates.render(
            "job", component=component, version=version, vo="dteam", executable="/bin/hostname"
        )
        (jdl_dir / f"{component}-{version}.dteam.jdl").write_text(text)
    echo("")
    pps = Path(sys.executable).with_name("pps")
    pps_cmd = str(pps) if pps.exists() else "pps"
    echo("look at:")
    for path, what in (
        (out / "bulletin" / "index.html", "the live version map (open it in a browser)"),
        (out / "bulletin" / "map.json", "the same for scripts"),
        (jdl_dir, "a JDL selecting each preview"),
        (out / "sites" / "<SITE>" / "opt/glite/var/info", "each site's tags files"),
    ):
        echo(f"  {path}\n      {what}")
    echo(f"  PPS_CONFIG={out / 'pps.toml'} {pps_cmd} status\n      every site's outcome")
    echo(
        f"  PPS_CONFIG={out / 'pps.toml'} {pps_cmd} release show glite-UI 3.2.8-0\n"
        "      its staged rollout: each step against its budget, the audit log"
    )
    if not ok:
        echo("the demo did NOT come out as the rules say: see the outcomes above")
    return ok


def _staged_rollout(config: Any, repo: Repository, releases: list[Any],
                    echo: Callable[[str], None]) -> bool:  # fmt: skip
    """Take glite-UI through its whole staged rollout and glite-WN to rolling-out, through the
    lifecycle the CLI uses (the close followed, as in the CLI, by telling the sites to retire
    the preview); True when both end where they must and no site keeps glite-UI's tags."""
    ui, wn = releases
    if config.state_path is None:
        raise BadInput("the demo's configuration names no state store")
    echo("the staged rollout (pps release verify / accept / report / close):")
    with Store(config.state_path) as store:
        rollout = Rollout(repo, store, config, who="pps demo", mails=mail_makers(config, store))
        for rel in releases:
            rollout.record_created(rel)
        c, v = ui.component, ui.version
        steps: list[tuple[str, Callable[[], Any]]] = [
            (f"verify {c} {v}", lambda: rollout.verify(c, v)),
            ("  accept AURORA-LCG2", lambda: rollout.accept(c, v, "AURORA-LCG2")),
            ("  accept DELTA-HEP", lambda: rollout.accept(c, v, "DELTA-HEP")),
            ("  report AURORA-LCG2 success 2PH", lambda: rollout.report(
                c, v, "AURORA-LCG2", outcome="success", notes="jobs ran", effort="2PH")),
            ("  report DELTA-HEP success 0.5PD", lambda: rollout.report(
                c, v, "DELTA-HEP", outcome="success", notes="no issue", effort="0.5PD")),
            ("  close success", lambda: rollout.close(
                c, v, outcome="success", summary="no issue at two early adopters")),
            (f"verify {wn.component} {wn.version}", lambda: rollout.verify(
                wn.component, wn.version)),
            ("  accept AURORA-LCG2", lambda: rollout.accept(
                wn.component, wn.version, "AURORA-LCG2")),
        ]  # fmt: skip
        states = {}
        told = True
        for label, step in steps:
            moved = step()
            states[moved.release.key] = (moved.history.state, moved.release)
            echo(f"  {label:<34} -> {moved.history.state}")
            if not moved.release.in_preview:  # the preview ended: 'pps release close' tells
                todo = sites_to_tell(config, store, moved.release)
                report = push_release(repo, moved.release, todo, store,
                                      signing_key=config.signing_key)  # fmt: skip
                retired = [o.site for o in report.outcomes if o.retired]
                told = told and len(retired) == len(todo)
                echo(f"    told {len(retired)}/{len(todo)} site(s) to retire it")
    ui_state, ui_rel = states[ui.key]
    notes = repo.root / f"production/{c}/{v}/{c}-{v}.release-notes.txt"
    ok = ui_state == CLOSED_SUCCESS and ui_rel.stage == "production" and notes.is_file()
    ok = ok and states[wn.key][0] == ROLLING_OUT and told
    echo(f"  {c} {v}: {ui_state}, files and release notes in {notes.parent}"
         + ("" if ok else " (NOT as expected)"))  # fmt: skip
    return ok
