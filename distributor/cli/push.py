"""``pps push``, ``pps status``, ``pps sites``, ``pps remove``: carry a release to its sites (or,
once it has left preview, tell them to retire it), see what happened."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click

from distributor.cli import (
    BadInputError,
    CliContext,
    cli,
    emit_json,
    pass_context,
    say,
    table,
)
from distributor.cli._pushing import retire_at_sites, run_push
from distributor.cli._steps import rollout_of
from distributor.lifecycle.model import load_history
from distributor.lifecycle.sites import as_told, sites_to_tell
from distributor.push.policy import not_told, plan_push
from distributor.push.targets import local_site_problem, target_sites
from distributor.store import NEVER, Outcome
from pps.classes import UpdateClass
from pps.names import check_component


@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--site", "sites", multiple=True, help="Push to this site only (repeatable).")
@click.option(
    "--parallel", default=16, show_default=True, type=click.IntRange(1, 256),
    help="How many sites to work on at once (the work waits on the network, not this box).",
)  # fmt: skip
@click.option(
    "--timeout", default=600.0, show_default=True, type=click.FloatRange(1, 86400),
    help="Seconds the probe may take at one site.",
)  # fmt: skip
@click.option(
    "--canary", default=0, show_default=True, type=click.IntRange(0, None),
    help="Push to this many sites first; go on only if they all come back OK.",
)  # fmt: skip
@click.option(
    "--max-fail", type=click.FloatRange(0, 100), metavar="PERCENT",
    help="Start no new site once more than this share of the sites failed.",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Push to every target, also those already OK.")
@click.option("--dry-run", is_flag=True, help="List the sites a push would go to; touch nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_context
def push(
    state: CliContext,
    component: str,
    version: str,
    sites: tuple[str, ...],
    parallel: int,
    timeout: float,
    canary: int,
    max_fail: float | None,
    force: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Push COMPONENT VERSION to the sites its update class targets, and test it there.

    bc-client goes to every preview site, nbc-client to silver sites, bc-server to gold and
    nbc-server to platinum ones.  At each site the probe verifies the tarball, installs it
    beside production, runs the local tests and publishes (or withdraws) the tag.  Sites that
    are already OK for this version are skipped unless --force.  Ctrl-C stops the push: no new
    site starts, the running probes stop (UNKNOWN, lock released) and their sites are recorded
    as INTERRUPTED; 'pps push' again goes on.  Exits 0 only when every targeted site is OK
    (a WARNING site, e.g. one waiting for its configuration hook, is not), 1 otherwise, 130
    when interrupted.

    A release no longer in preview (closed, rejected, withdrawn) is not installed: the push
    tells every site it was pushed to that has not retired it yet (NOT TOLD in 'pps status')
    to retire it: its tags go at once, its tree after the grace period.

    --dry-run lists the sites and what the push would do there, and says which would fail
    before the probe even starts (a local site whose root is missing): exit 1 then.

    \b
    Examples:
      pps push glite-UI 3.2.8-0
      pps push glite-UI 3.2.8-0 --canary 2 --max-fail 10
    """
    # Long only by its docstring, which is the command's --help; the body is a few calls.
    rel = state.repo.load().find(component, version)
    if not rel.in_preview:
        _push_retirement(state, rel, sites, force=force, dry_run=dry_run, as_json=as_json,
                         parallel=parallel, timeout=timeout)  # fmt: skip
        return
    if not target_sites(state.config, rel, sites):
        raise click.ClickException(
            f"no site in {state.config.path} takes {rel.update_class.value} releases"
        )
    with state.store() as store:
        plan = plan_push(state.config, store, rel, sites, force=force)
        targets, todo = plan.targets, plan.todo
        if dry_run:
            _dry_run(state, rel, targets, plan.skipped, as_json)
            return
        if not todo:
            click.echo(f"every targeted site is OK for {rel.key} already (--force to redo)")
            return
        skipped = len(targets) - len(todo)
        click.echo(f"pushing {rel.component} {rel.version} to {len(todo)} site(s)"
                   + (f" ({skipped} already OK)" if skipped else ""), err=True)  # fmt: skip
        report = run_push(state, rel, todo, store, parallel=parallel, timeout=timeout,
                          canary=canary, max_fail=max_fail)  # fmt: skip
    if as_json:
        emit_json({"release": rel.to_dict(), "outcomes": [asdict(o) for o in report.outcomes],
                   "not_started": report.not_started, "stopped": report.stopped})  # fmt: skip
    else:
        table(("SITE", "STATE", "SUMMARY"), [(o.site, o.state, o.summary) for o in report.outcomes])
        for o in report.outcomes:
            for line in o.output.splitlines():
                if line.startswith("warning: "):
                    say(f"{o.site}: {line}", err=True)
        not_ok = [o for o in report.outcomes if o.state != "OK"]
        click.echo(f"{len(report.outcomes) - len(not_ok)}/{len(todo)} site(s) OK")
        if not_ok:
            click.echo("not OK:")
            for o in not_ok:
                say(f"  {o.site}: {o.state}: {o.summary}")
        if report.stopped:
            left = ", ".join(report.not_started) or "none"
            click.echo(f"stopped early ({report.stopped}); not started: {left}")
    if report.stopped == "interrupted":
        sys.exit(130)
    if any(o.state != "OK" for o in report.outcomes) or report.not_started:
        sys.exit(1)


def _dry_run(state: CliContext, rel: Any, targets: list[Any], skipped: dict[str, str],
             as_json: bool, doing: str = "yes") -> None:  # fmt: skip
    """What a push would do at each site (*skipped*: the sites it leaves, and why), and which
    sites would fail before the probe starts (exit 1 when one would)."""
    problems = {s.name: local_site_problem(s) for s in targets}
    if as_json:
        emit_json({"release": rel.to_dict(), "targets": [
            {"site": s.name, "transport": s.transport, "partner": s.partner.value,
             "push": s.name not in skipped, "action": "retire" if doing == "retire" else "install",
             "problem": problems[s.name]} for s in targets]})  # fmt: skip
    else:
        table(("SITE", "TRANSPORT", "PARTNER", "PUSH", "NOTE"),
              [(s.name, s.transport, s.partner.value, skipped.get(s.name, doing),
                f"would fail: {problems[s.name]}" if problems[s.name] else "")
               for s in targets])  # fmt: skip
    bad = [s.name for s in targets if problems[s.name] and s.name not in skipped]
    if bad:
        if not as_json:
            click.echo(f"{len(bad)} site(s) would fail: {', '.join(bad)} (root missing: create "
                       f"it, or fix 'root' in {state.config.path})")  # fmt: skip
        sys.exit(1)


def _push_retirement(
    state: CliContext,
    rel: Any,
    names: tuple[str, ...],
    *,
    force: bool,
    dry_run: bool,
    as_json: bool,
    parallel: int,
    timeout: float,
) -> None:
    """``pps push`` of a release that has left preview: tell the sites to retire it."""
    with state.store() as store:
        lifecycle = load_history(store, rel).state
        todo = sites_to_tell(state.config, store, rel, names, force=force)
        if dry_run:
            latest = {o.site for o in store.latest(rel.component, rel.version)}
            chosen = {s.name for s in todo}
            targets = {s.name for s in target_sites(state.config, rel)}
            shown = [s for s in state.config.sites
                     if s.name in chosen or s.name in latest or s.name in targets]  # fmt: skip
            skipped = {s.name: ("no (retired already; --force)" if s.name in latest
                                else "no (never pushed: nothing to retire)")
                       for s in shown if s.name not in chosen}  # fmt: skip
            _dry_run(state, rel, shown, skipped, as_json, doing="retire")
            return
        if not todo:
            click.echo(f"every site {rel.key} was pushed to has retired it ({lifecycle}; "
                       "--force tells them again)")  # fmt: skip
            return
        report = retire_at_sites(state, store, rel, todo, as_json=as_json, parallel=parallel,
                                 timeout=timeout)  # fmt: skip
    if report.stopped == "interrupted":
        sys.exit(130)
    if not_told(report):
        sys.exit(1)


@cli.command()
@click.argument("component", required=False)
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_context
def status(state: CliContext, component: str | None, version: str | None, as_json: bool) -> None:
    """Show every site's state, for all releases or one.

    For one release every targeted site is listed: OK, WARNING, CRITICAL, UNKNOWN (what its
    probe said last), RUNNING (a push is working on it), INTERRUPTED (a push was stopped or
    killed there), NEVER PUSHED, or NOT TOLD: the release has left preview (closed, rejected,
    withdrawn) since the site was last pushed, or telling it so failed; the site may still
    publish its tag, and 'pps push COMPONENT VERSION' tells it.
    """
    with state.store() as store:
        outcomes = _as_told(state, store, store.latest(component, version))
    if component and version:
        rel = state.repo.load().find(component, version)
        seen = {o.site for o in outcomes}
        outcomes += [Outcome(s.name, component, version, NEVER, "", 0.0)
                     for s in target_sites(state.config, rel) if s.name not in seen]  # fmt: skip
        outcomes.sort(key=lambda o: o.site)
    elif component:
        check_component(component)
        if not any(r.component == component for r in state.repo.load().releases):
            raise BadInputError(f"no component {component!r} in the repository")
    if as_json:
        emit_json([asdict(o) for o in outcomes])
        return
    if not outcomes:
        click.echo("no outcomes recorded yet")
        return
    table(
        ("COMPONENT", "VERSION", "SITE", "STATE", "AT", "SUMMARY"),
        [(o.component, o.version, o.site, o.state, o.at, o.summary) for o in outcomes],
    )


def _as_told(state: CliContext, store: Any, outcomes: list[Any]) -> list[Any]:
    """The outcomes with NOT TOLD for the sites that may still publish a release which has
    left preview (from the index and the store; nothing needs the repository when there is no
    outcome)."""
    if not outcomes:
        return outcomes
    releases = {(r.component, r.version): r for r in state.repo.load().releases}
    states: dict[tuple[str, str], str] = {}
    shown = []
    for o in outcomes:
        rel = releases.get((o.component, o.version))
        if rel is None or rel.in_preview:
            shown.append(o)
            continue
        key = (o.component, o.version)
        if key not in states:
            states[key] = load_history(store, rel).state
        shown.append(as_told(rel, o, states[key]))
    return shown


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the sites as JSON.")
@pass_context
def sites(state: CliContext, as_json: bool) -> None:
    """List the partner sites of the inventory and what they take."""
    rows = []
    for s in state.config.sites:
        takes = [u.value for u in UpdateClass if s.takes(u)]
        rows.append({"name": s.name, "partner": s.partner.value, "transport": s.transport,
                     "vos": list(s.vos), "takes": takes})  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(
        ("SITE", "PARTNER", "TRANSPORT", "VOS", "TAKES"),
        [(r["name"], r["partner"], r["transport"], ",".join(r["vos"]), ",".join(r["takes"]))
         for r in rows],
    )  # fmt: skip


@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--site", "sites", multiple=True, help="Only at this site (repeatable).")
@click.option(
    "--now", is_flag=True,
    help="Remove the trees at once instead of after each site's grace period (a tree a job "
    "still uses stays until it is free).",
)  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option(
    "--parallel", default=16, show_default=True, type=click.IntRange(1, 256),
    help="How many sites to work on at once.",
)  # fmt: skip
@click.option(
    "--timeout", default=120.0, show_default=True, type=click.FloatRange(1, 86400),
    help="Seconds the probe may take at one site.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_context
def remove(
    state: CliContext,
    component: str,
    version: str,
    sites: tuple[str, ...],
    now: bool,
    yes: bool,
    parallel: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Withdraw COMPONENT VERSION from preview: its tags go at the sites, then its trees.

    A release that is not closed becomes withdrawn: marked so in the repository's index
    (signed, so pull-mode sites see it too; its files stay) and in the lifecycle, where it moves
    no further.  A closed one keeps its state.  Then each targeted site's probe is given the
    index: it withdraws the version's tags at once and removes the tree after the site's grace
    period (--now: at once), never while a job uses it.  For a pilot that ended, or a release
    that was rejected.  It asks first on a terminal; without one, pass --yes.

    \b
    Example:
      pps remove glite-UI 3.2.8-0 --now
    """
    repo = state.repo
    rel = repo.load().find(component, version)
    targets = target_sites(state.config, rel, sites)
    if not yes:
        if not sys.stdin.isatty():
            raise BadInputError(f"pps remove asks before it withdraws {rel.key} and there is no "
                                "terminal to ask on: pass --yes")  # fmt: skip
        if not click.confirm(f"withdraw {rel.key} from preview at {len(targets)} site(s)?",
                             default=False):  # fmt: skip
            raise click.ClickException("nothing withdrawn")
    with state.store() as store:
        moved = rollout_of(state, store).remove(component, version, sites=sites, now=now)
        rel = moved.release
        if rel.withdrawn:
            click.echo(f"{rel.key} is withdrawn in {repo.index_path}", err=True)
        else:
            click.echo(f"{rel.key} is {moved.history.state} (stage {rel.stage}), not a preview "
                       "any more", err=True)  # fmt: skip
        if not targets:
            return
        report = retire_at_sites(state, store, rel, targets, as_json=as_json, parallel=parallel,
                                 timeout=timeout,
                                 probe_extra=("--retire-grace", "0") if now else ())  # fmt: skip
    if report.stopped == "interrupted":
        sys.exit(130)
    if not_told(report):
        sys.exit(1)
