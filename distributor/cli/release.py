"""``pps release``: create releases and move them through the staged rollout.

The commands are thin: :mod:`distributor.lifecycle.rollout` judges and records each step,
:mod:`distributor.lifecycle.clocks` measures it, :mod:`distributor.notify` sends its mail.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from distributor.cli import (
    BadInputError,
    CliContext,
    PPSGroup,
    TestOption,
    cli,
    emit_json,
    pass_context,
    table,
)
from distributor.cli._pushing import retire_at_sites
from distributor.cli._steps import print_mail, rollout_of, send_mail
from distributor.lifecycle.clocks import OVERDUE, clock, now, parse_past, span
from distributor.lifecycle.model import OUTCOMES, STATES, Bug
from distributor.lifecycle.notes import release_notes as notes_of
from distributor.lifecycle.sites import sites_to_tell
from distributor.lifecycle.workdays import WorkCalendar
from distributor.notify.queue import DROPPED, queue
from distributor.push.policy import not_told
from distributor.repository.releases import create_release
from pps.classes import ReleaseType, UpdateClass
from pps.manifest import LocalTest


@cli.group(cls=PPSGroup)
def release() -> None:
    """Create releases and take them through the staged rollout to production.

    \b
    certified -> unverified -> verified -> rolling-out -> closed-success|warning|reject
                          `-> rejected
    \b
      pps release create glite-UI 3.2.8-0 --from ./ui --class bc-client --type revision
      pps release verify glite-UI 3.2.8-0              # files to staged-rollout/, mail
      pps release accept glite-UI 3.2.8-0 --site INFN-PISA
      pps release report glite-UI 3.2.8-0 --site INFN-PISA --outcome success --effort 4PH
      pps release close glite-UI 3.2.8-0 --outcome success --summary "no issue"
      pps release show glite-UI 3.2.8-0                # every step against its budget
      pps release list --overdue
    """


@release.command("create")
@click.argument("component")
@click.argument("version")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="The directory tree to pack. A pps-tests.toml in it lists the local tests.",
)
@click.option(
    "--class",
    "update_class",
    required=True,
    type=click.Choice(UpdateClass.values()),
    help="The update class: it decides which sites get the release.",
)
@click.option(
    "--type",
    "release_type",
    required=True,
    type=click.Choice(ReleaseType.values()),
    help="The EGI release type: it sets the staged-rollout timeline.",
)
@click.option(
    "--test",
    "tests",
    multiple=True,
    type=TestOption(),
    help="A local test run at each site in the preview environment (repeatable).",
)
@click.option("--setup", help="A script in the tree that the preview environment sources.")
@click.option("--notes-url", default="", help="Where the release notes are.")
@click.option("--feedback-url", default="", help="Where users give feedback on this preview.")
@click.option(
    "--embargo", is_flag=True,
    help="A security release: keep it out of every public output (bulletin, map.json, feed, "
    "mail to lists) until 'pps release unembargo'.",
)  # fmt: skip
@click.option(
    "--bug", "bugs", multiple=True, metavar="'ID=TITLE <EMAIL>'",
    help="A bug the release fixes and its reporter, who is invited to verify the fix when the "
    "preview starts (repeatable).",
)  # fmt: skip
@click.option(
    "--certified", metavar="TIME",
    help="When the provider certified it (ISO 8601; default: now). Starts the first clock.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the release record as JSON.")
@pass_context
def release_create(
    state: CliContext,
    component: str,
    version: str,
    source: Path,
    update_class: str,
    release_type: str,
    tests: tuple[LocalTest, ...],
    setup: str | None,
    notes_url: str,
    feedback_url: str,
    embargo: bool,
    bugs: tuple[str, ...],
    certified: str | None,
    as_json: bool,
) -> None:
    """Build COMPONENT VERSION from a directory into the repository's unverified stage.

    The tarball is reproducible: the same tree gives the same sha256.  An existing release is
    never overwritten.  The lifecycle records it as certified, then unverified once its
    checksum matches the index.

    \b
    Example:
      pps release create glite-UI 3.2.8-0 --from ./ui --class bc-client --type revision \\
          --bug '58342=job submit hangs on proxy renewal <alice@example.org>'
    """
    parsed = [Bug.parse(b) for b in bugs]
    if certified:
        parse_past(certified, "--certified")

    with state.store() as store:  # a bad store is refused before the release is built
        rel = create_release(
            state.repo,
            component,
            version,
            source=source,
            update_class=update_class,
            release_type=release_type,
            tests=tests,
            setup=setup,
            notes_url=notes_url,
            feedback_url=feedback_url,
            embargo=embargo,
            now=now(),
            signing_key=state.config.signing_key,
        )
        rollout_of(state, store).record_created(rel, bugs=parsed, certified_at=certified)
    if as_json:
        emit_json(rel.to_dict())
    else:
        click.echo(
            f"created {rel.component} {rel.version} ({rel.update_class.value}, "
            f"{rel.release_type.value}) in {rel.stage}: {rel.tarball} sha256 {rel.sha256}"
        )


# --------------------------------------------------------------------------- the lifecycle

AT_HELP = "When it happened, if not now (ISO 8601, UTC unless it says otherwise): never later."
DRY_HELP = "Say what would happen and print the mails; write nothing, send nothing."


def _done(state: CliContext, store: Any, moved: Any, line: str, as_json: bool,
          told: Any = None, echoed: bool = False) -> None:  # fmt: skip
    """Print what a step did (or would do; *echoed*: its line is printed already), send its
    mail.  *told*: the sites told to retire the release after a step that ended its preview
    (a push report), for ``--json``."""
    if as_json:
        data = {"release": moved.release.to_dict(), "state": moved.history.state,
                "event": moved.event.to_dict(), "dry_run": moved.dry_run,
                "mails": [{"kind": m.kind, "to": list(m.to), "subject": m.subject,
                           "body": m.body} for m in moved.mails]}  # fmt: skip
        if told is not None:
            data["told"] = [asdict(o) for o in told.outcomes]
            data["not_told"] = _not_told(told)
        emit_json(data)
    elif moved.dry_run:
        click.echo(f"dry run: {line}; nothing written, no mail sent")
        print_mail(moved.mails)
    elif not echoed:
        click.echo(line)
    if not moved.dry_run and moved.mail_ids:
        send_mail(state, store, moved.mail_ids, err=as_json)


def _transition(before: str, moved: Any) -> str:
    after = moved.history.state
    return f"{before} -> {after}" if after != before else after


def _not_told(report: Any) -> list[str]:
    return not_told(report)


def _end_preview(state: CliContext, store: Any, moved: Any, line: str, as_json: bool,
                 step: str) -> None:  # fmt: skip
    """After a step that ended the preview (close, reject): tell every site the release was
    pushed to that has not retired it, print what happened, send the mail; exit 1 naming the
    sites that were not told (and how to tell them).  A dry run says which it would tell."""
    rel = moved.release
    todo = sites_to_tell(state.config, store, rel)
    if moved.dry_run:
        _done(state, store, moved, line, as_json)
        if not as_json:
            click.echo(
                f"would tell {len(todo)} site(s) to retire it: "
                f"{', '.join(s.name for s in todo) or 'none (no push reached a site)'}"
            )
        return
    if not as_json:
        click.echo(line)
    report = None
    if todo:  # with --json the outcomes go into the step's own JSON
        report = retire_at_sites(state, store, rel, todo, as_json=False, show=not as_json)
    elif not as_json:
        click.echo(f"no push reached a site with {rel.key}: no site to tell")
    _done(state, store, moved, line, as_json, told=report, echoed=True)
    bad = _not_told(report) if report is not None else []
    if bad:
        raise click.ClickException(
            f"the {step} is recorded, but {len(bad)} site(s) were not told to retire "
            f"{rel.key}: {', '.join(bad)}; 'pps push {rel.component} {rel.version}' tells them"
        )


@release.command("verify")
@click.argument("component")
@click.argument("version")
@click.option("--reject", "reject", is_flag=True, help="The verification failed: reject it.")
@click.option("--why", default="", help="Why (recorded; required with --reject).")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the step as JSON.")
@pass_context
def release_verify(state: CliContext, component: str, version: str, reject: bool, why: str,
                   at: str | None, dry_run: bool, as_json: bool) -> None:  # fmt: skip
    """Verify COMPONENT VERSION: unverified -> verified, or rejected with --reject.

    Verified: the tarball's checksum is checked again, the files move from unverified/ to
    staged-rollout/ (index.json rewritten and signed at once, so pull-mode sites see it), and
    the preview starts: a broadcast to the [notify] broadcast lists, and a mail to each fixed
    bug's reporter inviting them to verify the fix.  The mail names the sites where it is
    live now (their latest outcome OK) and the tags their VOs publish, or says that it is live
    nowhere yet.  Rejected: the release is withdrawn, its files removed, and every site it was
    pushed to is told to retire it; those that could not be told are named (exit 1) and show
    as NOT TOLD in 'pps status' until 'pps push COMPONENT VERSION' tells them.

    \b
    Examples:
      pps release verify glite-UI 3.2.8-0
      pps release verify glite-UI 3.2.8-0 --dry-run     # the mails it would send
      pps release verify glite-UI 3.2.8-0 --reject --why "release notes missing"
    """
    with state.store() as store:
        rollout = rollout_of(state, store)
        before = rollout.history(component, version)[1].state
        if reject:
            moved = rollout.reject(component, version, why=why, at=at, dry_run=dry_run)
            line = (f"{moved.release.key}: {_transition(before, moved)} (withdrawn, files "
                    "removed)")  # fmt: skip
            _end_preview(state, store, moved, line, as_json, "rejection")
        else:
            moved = rollout.verify(component, version, why=why, at=at, dry_run=dry_run)
            line = (f"{moved.release.key}: {_transition(before, moved)} (files in "
                    "staged-rollout/)")  # fmt: skip
            _done(state, store, moved, line, as_json)


@release.command("accept")
@click.argument("component")
@click.argument("version")
@click.option("--site", required=True, help="The early adopter site that accepts.")
@click.option("--why", default="", help="A comment for the record.")
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the step as JSON.")
@pass_context
def release_accept(state: CliContext, component: str, version: str, site: str, why: str,
                   at: str | None, dry_run: bool, as_json: bool) -> None:  # fmt: skip
    """An early adopter SITE accepts the staged rollout of COMPONENT VERSION.

    The first one makes the release rolling-out (it should come within one working day of
    the verification); any other site the release targets may accept too.  A site accepts
    only a release that is live there: its latest outcome ('pps status') is OK.  A site accepts
    primarily the components it committed to (early_adopter in its inventory entry); another
    is recorded as a volunteer.

    \b
    Example:
      pps release accept glite-UI 3.2.8-0 --site INFN-PISA --at 2026-03-03T10:00:00Z
    """
    with state.store() as store:
        rollout = rollout_of(state, store)
        before = rollout.history(component, version)[1].state
        moved = rollout.accept(component, version, site, why=why, at=at, dry_run=dry_run)
        how = "committed early adopter" if moved.event.data["committed"] else "volunteer"
        first = ", the first" if moved.event.data["first"] else ""
        line = f"{moved.release.key}: {site} accepted ({how}{first}): {_transition(before, moved)}"
        _done(state, store, moved, line, as_json)


@release.command("report")
@click.argument("component")
@click.argument("version")
@click.option("--site", required=True, help="The accepting site that is done.")
@click.option("--outcome", required=True, type=click.Choice(OUTCOMES),
              help="What the site found.")  # fmt: skip
@click.option("--notes", default="", help="What it found, in words.")
@click.option(
    "--effort",
    required=True,
    metavar="N{PH|PD|PW|PM}",
    help="The effort it took: 4PH, 0.5PD (PD = 8 PH, PW = 5 PD, PM = 20 PD).",
)
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the step as JSON.")
@pass_context
def release_report(state: CliContext, component: str, version: str, site: str, outcome: str,
                   notes: str, effort: str, at: str | None, dry_run: bool,
                   as_json: bool) -> None:  # fmt: skip
    """An accepting SITE is done with COMPONENT VERSION: its report.

    \b
    Example:
      pps release report glite-UI 3.2.8-0 --site INFN-PISA --outcome success \\
          --effort 4PH --notes "installed on 2 UIs, 300 jobs, no issue"
    """
    with state.store() as store:
        moved = rollout_of(state, store).report(component, version, site, outcome=outcome,
                                              notes=notes, effort=effort, at=at,
                                              dry_run=dry_run)  # fmt: skip
        left = moved.history.open_sites
        rest = f"; still to report: {', '.join(left)}" if left else "; every accepting site is done"
        line = (f"{moved.release.key}: {site} done ({outcome}, {moved.event.data['effort']})"
                f"{rest}")  # fmt: skip
        _done(state, store, moved, line, as_json)


@release.command("close")
@click.argument("component")
@click.argument("version")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(OUTCOMES),
    help="success or warning: to production; reject: withdrawn and removed.",
)
@click.option("--summary", required=True, help="The summary in writing (recorded, in the notes).")
@click.option("--force", "force", metavar="REASON",
              help="Close although accepting sites did not report (or none accepted); the "
              "reason is recorded.")  # fmt: skip
@click.option("--at", "at", metavar="TIME", help=AT_HELP)
@click.option("--dry-run", is_flag=True, help=DRY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the step as JSON.")
@pass_context
def release_close(state: CliContext, component: str, version: str, outcome: str, summary: str,
                  force: str | None, at: str | None, dry_run: bool,
                  as_json: bool) -> None:  # fmt: skip
    """Close the staged rollout of COMPONENT VERSION.

    Every site that accepted must have reported (--force 'REASON' closes without them).
    success or warning: the files move to production/ with the release notes, index.json is
    rewritten and the announcement goes to the [notify] announce lists.  reject: the release
    is withdrawn and its files removed.  Either way the preview has ended: every site it was
    pushed to is told to retire it (its tags go at once); those that could not be told are
    named (exit 1) and show as NOT TOLD in 'pps status' until 'pps push COMPONENT VERSION'
    tells them.  The release notes say so when no feedback was received.

    \b
    Examples:
      pps release close glite-UI 3.2.8-0 --outcome success --summary "no issue at 2 sites"
      pps release close glite-UI 3.2.8-0 --outcome warning --summary "notes need a line" \\
          --force "BRAVO is in downtime until next month"
    """
    with state.store() as store:
        rollout = rollout_of(state, store)
        before = rollout.history(component, version)[1].state
        moved = rollout.close(component, version, outcome=outcome, summary=summary,
                              force=force, at=at, dry_run=dry_run)  # fmt: skip
        rel = moved.release
        where = (
            "withdrawn, files removed"
            if outcome == "reject"
            else f"files and release notes in {rel.stage}/{rel.component}/{rel.version}/"
        )
        line = f"{rel.key}: {_transition(before, moved)} ({where})"
        _end_preview(state, store, moved, line, as_json, "close")


@release.command("unembargo")
@click.argument("component")
@click.argument("version")
@click.option("--why", default="", help="Why now (recorded), e.g. the advisory is out.")
@click.option("--dry-run", is_flag=True, help=DRY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the step as JSON.")
@pass_context
def release_unembargo(state: CliContext, component: str, version: str, why: str, dry_run: bool,
                      as_json: bool) -> None:  # fmt: skip
    """Lift the embargo of a security release: it appears in the public outputs.

    From now on the bulletin (index.html, map.json, feed.atom) shows it, and the mail to
    lists held for it is sent; but a release that has left preview meanwhile does not send
    its preview's broadcast any more (it is no longer true): that mail is dropped, and 'pps
    notify queue --all' shows it with the reason.

    \b
    Example:
      pps release unembargo glite-UI 3.2.9-0 --why "advisory published"
    """
    with state.store() as store:
        moved = rollout_of(state, store).unembargo(component, version, why=why, dry_run=dry_run)
        _done(state, store, moved, f"{moved.release.key}: embargo lifted", as_json)
        dropped = [m for m in queue(store, (DROPPED,))
                   if (m.component, m.version) == (moved.release.component,
                                                   moved.release.version)]  # fmt: skip
        if dropped and not moved.dry_run:
            click.echo(
                f"mail: {len(dropped)} held mail(s) dropped: {moved.release.key} is no "
                "longer in preview, so what they say is no longer true",
                err=as_json,
            )


def _steps(state: CliContext, rel: Any, history: Any) -> list[Any]:
    end = history.ended
    at = end.moment if end is not None else now()
    return clock(rel.release_type, history.times(), at=at,
                 calendar=WorkCalendar(state.config.calendar))  # fmt: skip


def _adopters(state: CliContext, rel: Any, history: Any) -> list[dict[str, Any]]:
    """Committed early adopters of the component, and every site that accepted."""
    rows = []
    accepted, reports = history.accepted, history.reports
    names = [s.name for s in state.config.sites if rel.component in s.early_adopter]
    names += [n for n in accepted if n not in names]
    for name in names:
        committed = any(s.name == name and rel.component in s.early_adopter
                        for s in state.config.sites)  # fmt: skip
        a, r = accepted.get(name), reports.get(name)
        rows.append({
            "site": name, "committed": committed,
            "accepted": a.at if a else None, "reported": r.at if r else None,
            "outcome": r.data["outcome"] if r else None,
            "effort": r.data["effort"] if r else None,
            "effort_hours": r.data["effort_hours"] if r else 0,
            "notes": r.data["notes"] if r else "",
        })  # fmt: skip
    return rows


@release.command("show")
@click.argument("component")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@pass_context
def release_show(state: CliContext, component: str, version: str, as_json: bool) -> None:
    """Show COMPONENT VERSION: its state, each step's time against its budget, the early
    adopters and the whole audit log.

    Times are working time: weekends and the [calendar] holidays do not count.
    """
    with state.store() as store:
        rel, history = rollout_of(state, store).history(component, version)
    steps = _steps(state, rel, history)
    adopters = _adopters(state, rel, history)
    if as_json:
        emit_json({"release": rel.to_dict(), "state": history.state,
                   "steps": [s.to_dict() for s in steps], "early_adopters": adopters,
                   "bugs": [b.to_dict() for b in history.bugs],
                   "events": [e.to_dict() for e in history.events]})  # fmt: skip
        return
    click.echo(f"{rel.key}: {history.state} (stage {rel.stage}, {rel.update_class.value}, "
               f"{rel.release_type.value}{', EMBARGOED' if rel.embargo else ''}"
               f"{', withdrawn' if rel.withdrawn else ''})")  # fmt: skip
    click.echo("")
    table(("STEP", "STARTED", "ENDED", "USED", "BUDGET", "STATUS"),
          [(s.title, s.started and s.to_dict()["started"] or "-",
            s.ended and s.to_dict()["ended"] or "-", span(s.used) if s.started else "-",
            s.budget_text, s.status) for s in steps])  # fmt: skip
    click.echo("")
    if adopters:
        table(("EARLY ADOPTER", "COMMITTED", "ACCEPTED", "REPORTED", "OUTCOME", "EFFORT"),
              [(a["site"], "yes" if a["committed"] else "no", a["accepted"] or "-",
                a["reported"] or "-", a["outcome"] or "-", a["effort"] or "-")
               for a in adopters])  # fmt: skip
    else:
        click.echo(f"no early adopter is committed to {rel.component} and none accepted")
    click.echo("")
    table(
        ("AT", "WHO", "EVENT", "STATE", "SITE", "WHY"),
        [(e.at, e.who or "-", e.kind, e.state, e.site or "-", e.why) for e in history.events],
    )


def _current(steps: list[Any]) -> Any:
    return next((s for s in steps[:-1] if s.started and not s.ended
                 and s.name != "first-adopter"), None)  # fmt: skip


@release.command("list")
@click.option("--overdue", is_flag=True,
              help="Only the steps over their budget (the rollout: past its grace period), and "
              "releases no early adopter accepted within one working day.")  # fmt: skip
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="Only releases in this lifecycle state (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the releases as JSON.")
@pass_context
def release_list(state: CliContext, overdue: bool, states: tuple[str, ...], as_json: bool) -> None:
    """List the releases, their lifecycle state and the step each one is in.

    \b
    Examples:
      pps release list
      pps release list --state rolling-out --json
      pps release list --overdue            # exit 0 either way; empty when nothing is late
    """
    for s in states:
        if s not in STATES:
            raise BadInputError(f"state {s!r} is not one of: {', '.join(STATES)}")
    with state.store() as store:
        found = rollout_of(state, store).histories()
    rows = []
    for rel, history in found:
        if states and history.state not in states:
            continue
        steps = _steps(state, rel, history)
        late = [s for s in steps if s.status == OVERDUE]
        rows.append((rel, history, steps, late))
    if overdue:
        rows = [r for r in rows if r[3]]
    if as_json:
        emit_json([{**rel.to_dict(), "state": history.state,
                    "steps": [s.to_dict() for s in steps],
                    "overdue": [s.name for s in late]}
                   for rel, history, steps, late in rows])  # fmt: skip
        return
    if overdue:
        if not rows:
            click.echo("no step is overdue")
            return
        out = []
        for rel, history, _, late in rows:
            for s in late:
                what = ("no early adopter accepted within 1 working day"
                        if s.name == "first-adopter" else s.title)  # fmt: skip
                out.append((rel.component, rel.version, history.state, what,
                            s.to_dict()["started"], span(s.used), s.budget_text))  # fmt: skip
        table(("COMPONENT", "VERSION", "STATE", "OVERDUE", "SINCE", "USED", "BUDGET"), out)
        return
    if not rows:
        click.echo(f"no releases in {state.config.repository}" if not states
                   else "no release in that state")  # fmt: skip
        return
    out = []
    for rel, history, steps, late in rows:
        cur = _current(steps)
        step = f"{cur.name} {span(cur.used)} of {cur.budget_text}" if cur else "-"
        if late:
            step += " OVERDUE"
        out.append((rel.component, rel.version, rel.stage, rel.update_class.value,
                    rel.release_type.value, history.state, step))  # fmt: skip
    table(("COMPONENT", "VERSION", "STAGE", "CLASS", "TYPE", "STATE", "STEP"), out)


@release.command("notes")
@click.argument("component")
@click.argument("version")
@pass_context
def release_notes(state: CliContext, component: str, version: str) -> None:
    """Print the release notes of COMPONENT VERSION: those written at its close, or what they
    would say now."""
    with state.store() as store:
        rel, history = rollout_of(state, store).history(component, version)
    end = history.ended
    if end is not None and "notes" in end.data:
        click.echo(str(end.data["notes"]), nl=False)
        return
    click.echo(notes_of(rel, history, calendar=WorkCalendar(state.config.calendar)), nl=False)
