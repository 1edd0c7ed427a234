"""The lifecycle's mail: composed, queued in the store, sent over SMTP, retried; nothing lost.

When a preview starts (``pps release verify``) a general broadcast goes to the configured lists
(``[notify] broadcast``: VOs, ROCs, site admins, the early adopters' lists) and a personal mail
to the reporter of each bug the release fixes, inviting them to verify the fix; when a release
is closed, an announcement with its release notes goes to ``[notify] announce``.

Every mail is first written to the store's ``mail`` table, in the same transaction as the step
that caused it (:mod:`distributor.lifecycle`), then sent; a mail the server refuses, or that
cannot be sent because the server is down or not configured, stays ``queued`` with the reason,
and ``pps notify retry`` sends it later.  Mail to lists about an embargoed release is ``held``
until ``pps release unembargo``; held mail that is no longer true by then (the preview's
broadcast of a release that has left preview) is ``dropped``, with the reason, never sent.
Sending is real SMTP (:mod:`smtplib`): STARTTLS with the system's CA store (or ``ca_file``) and
AUTH when configured.

A mail says only what the state store and the sites' outcomes say, dated: the preview's mail
names the sites where the release is live (their latest outcome OK) and the tags their VOs
publish, or says that it is live nowhere yet, and gives no ``Requirements`` line then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from distributor.lifecycle.sites import live
from distributor.notify.queue import Mail
from distributor.store import Store
from pps.names import rte_requirement, version_tag
from pps.repository import Release

if TYPE_CHECKING:
    from distributor.lifecycle.model import Event, History, MailMaker
    from pps.inventory import Config


# ------------------------------------------------------------------------------- composing


def _preview_body(release: Release, config: Config, live: Sequence[str], at: str) -> list[str]:
    """What the preview's mail says about the sites: where the release is *live* (as of *at*,
    from the store) and the tags those sites' VOs publish, or that it is live nowhere yet."""
    c, v = release.component, release.version
    lines = [f"{c} {v} ({release.update_class.value}, {release.release_type.value}) is "
             "verified and in staged rollout.", ""]  # fmt: skip
    if live:
        vos = sorted({vo for s in config.sites if s.name in live for vo in s.vos})
        lines += [
            f"Live at {at} (installed beside production, its local tests passed): "
            f"{', '.join(live)}",
            "Select it in a job with the tag of your VO:",
        ]
        lines += [f"  Requirements = {rte_requirement(version_tag(vo, c, v))};" for vo in vos]
    else:
        lines += [
            f"It is not live at any site yet ({at}): no site has installed and tested it, so "
            "no job can select it yet. Once a site has, it publishes the tag "
            f"VO-<your VO>-PPS-{c}-{v}.",
        ]
    if release.notes_url:
        lines.append(f"Release notes: {release.notes_url}")
    if release.feedback_url:
        lines.append(f"Feedback: {release.feedback_url}")
    return lines


def mail_makers(config: Config, store: Store) -> Callable[[str], MailMaker | None]:
    """The mails each lifecycle step sends, as configured in *config*, from what *store* says
    (read in the step's own transaction)."""
    settings = config.notify

    def on_verify(release: Release, history: History, event: Event) -> list[Mail]:
        c, v = release.component, release.version
        where = sorted(o.site for o in live(store, release))
        preview = _preview_body(release, config, where, event.recorded or event.at)
        mails = []
        if settings is not None and settings.broadcast:
            body = preview
            mails.append(Mail("broadcast", settings.broadcast,
                              f"[pps] {c} {v} is in preview (staged rollout)",
                              "\n".join(body) + "\n", True, c, v))  # fmt: skip
        for bug in history.bugs:
            ask = ("please verify that it solves your problem, and tell us." if where else
                   "once a site has it live, please verify that it solves your problem, and "
                   "tell us.")  # fmt: skip
            body = ["Hello,", "",
                    f"you reported bug {bug.id}, \"{bug.title}\". Its fix is in {c} {v}, "
                    f"now in preview: {ask}",
                    "", *preview, "",
                    "Thank you,", "the pps release team"]  # fmt: skip
            mails.append(Mail("personal", (bug.reporter,),
                              f"[pps] please verify the fix of bug {bug.id} in {c} {v}",
                              "\n".join(body) + "\n", False, c, v))  # fmt: skip
        return mails

    def on_close(release: Release, history: History, event: Event) -> list[Mail]:
        if settings is None or not settings.announce:
            return []
        c, v = release.component, release.version
        outcome = event.data.get("outcome", "")
        subject = (f"[pps] {c} {v} was rejected in staged rollout" if outcome == "reject"
                   else f"[pps] {c} {v} is released to production ({outcome})")  # fmt: skip
        return [Mail("announce", settings.announce, subject, str(event.data.get("notes", "")),
                     True, c, v)]  # fmt: skip

    def on_remind(release: Release, history: History, event: Event) -> list[Mail]:
        if settings is None or not settings.broadcast:
            return []
        c, v = release.component, release.version
        start = history.first("pilot-start")
        end = start.data.get("end", "?") if start else "?"
        sites = ", ".join(start.data.get("sites", [])) if start else "?"
        began = f" (started {start.at}, not ended)" if start else ""
        body = (f"The pilot of {c} {v} runs at {sites} until {end}{began}, as recorded. "
                "Please send your feedback"
                + (f" to {release.feedback_url}" if release.feedback_url else "")
                + ": it goes into the release notes.\n")  # fmt: skip
        return [Mail("reminder", settings.broadcast, f"[pps] reminder: feedback on the pilot "
                     f"of {c} {v}", body, True, c, v)]  # fmt: skip

    makers: dict[str, MailMaker] = {"verify": on_verify, "close": on_close,
                                    "pilot-remind": on_remind}  # fmt: skip
    return makers.get
