"""Release notes, written when a release is closed.

They gather what the staged rollout learnt: the outcome and the summary, the bugs the release
fixes, each early adopter's report (outcome, effort, notes), each step's working time against
its budget, the pilot when there was one, and the feedback.  As the EGEE pre-production service
asks, they say so explicitly when no feedback was received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distributor.lifecycle import clocks
from distributor.lifecycle.workdays import WorkCalendar
from pps.repository import Release

if TYPE_CHECKING:
    from distributor.lifecycle.model import History
    from distributor.lifecycle.workdays import WorkCalendar

NO_FEEDBACK = "No feedback was received during the preview."
NO_PILOT_FEEDBACK = "No feedback from users was received during the pilot service."


def release_notes(
    release: Release, history: History, *, calendar: WorkCalendar | None = None
) -> str:
    """The notes of *release* as its *history* stands (its last event: the close)."""
    calendar = calendar or WorkCalendar()
    end = history.ended
    lines = [f"Release notes: {release.component} {release.version}", ""]
    lines.append(f"update class {release.update_class.value}, release type "
                 f"{release.release_type.value}")  # fmt: skip
    if end is not None:
        outcome = end.data.get("outcome", end.state)
        lines.append(f"closed {outcome} at {end.at} by {end.who}")
        if end.data.get("summary"):
            lines.append(f"summary: {end.data['summary']}")
        if end.data.get("forced"):
            left = ", ".join(end.data.get("open_sites", [])) or "no early adopter"
            lines.append(f"closed with --force ({end.data['forced']}); not reported: {left}")
    else:
        lines.append(f"state {history.state} (not closed)")
    if release.notes_url:
        lines.append(f"notes: {release.notes_url}")
    lines += ["", "Fixed bugs:"]
    bugs = history.bugs
    lines += [f"  {b.id}  {b.title}" for b in bugs] or ["  none declared"]
    lines += ["", "Early adopters:"]
    reports = history.reports
    if not history.accepted:
        lines.append("  no early adopter accepted the staged rollout")
    for site, accepted in history.accepted.items():
        report = reports.get(site)
        if report is None:
            lines.append(f"  {site}: accepted {accepted.at}, did not report")
            continue
        d = report.data
        lines.append(f"  {site}: {d['outcome']}, effort {d['effort']} "
                     f"({d['effort_hours']:g} PH); {d['notes'] or 'no notes'}")  # fmt: skip
    lines += ["", "Timeline (working time against the EGI budget):"]
    at = end.moment if end is not None else clocks.now()
    for step in clocks.clock(release.release_type, history.times(), at=at, calendar=calendar):
        used = clocks.span(step.used) if step.started else "-"
        lines.append(f"  {step.title:<32} {used:>6} of {step.budget_text:<16} {step.status}")
    pilot = history.first("pilot-start")
    if pilot is not None:
        lines += ["", "Pilot:"]
        lines.append(f"  {', '.join(pilot.data.get('sites', []))} from {pilot.at} "
                     f"to {pilot.data.get('end', '?')}")  # fmt: skip
        said = history.all("pilot-feedback")
        lines += [f"  {e.at} {e.data.get('from', e.who)}: {e.data.get('text', '')}"
                  for e in said] or [f"  {NO_PILOT_FEEDBACK}"]  # fmt: skip
        wrap = history.first("pilot-wrap-up")
        if wrap is not None:
            lines.append(f"  wrap-up: {wrap.data.get('outcome')}: {wrap.data.get('notes', '')}")
    lines += ["", "Feedback:"]
    feedback = history.all("feedback")
    lines += [f"  {e.at} {e.data.get('from', e.who)}: {e.data.get('text', '')}"
              for e in feedback] or [f"  {NO_FEEDBACK}"]  # fmt: skip
    return "\n".join(lines) + "\n"
