"""check_preview_publication's decision: what the site's own files say (:func:`read_site`) and
how that compares with what the BDII publishes (:func:`judge`, a pure function of the two, the
grace and the time: the rules are in check_preview_publication's design notes)."""

from __future__ import annotations

import calendar
import os
import time

from pps.errors import BadInput
from pps.names import check_vo, parse_version_tag, version_tag
from probes._bdii import Published
from probes._records import VERIFIED, VersionRecord, iter_record_files, read_record
from probes._site import SiteLayout
from probes._tagsfile import parse_tags, tags_files_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from probes._pubcheck_settings import Settings


# ------------------------------------------------------------------------ what the site says


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of a record's ``2024-05-01T12:00:00Z`` (None if unreadable)."""
    if not stamp:
        return None
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except (ValueError, TypeError, OverflowError):
        return None


class Expected:
    """A tag of a verified version: the site expects it in the BDII."""

    def __init__(self, tag: str, since: float, in_file: bool) -> None:
        self.tag = tag
        #: When the grace period started (see the module's design notes).
        self.since = since
        self.in_file = in_file


class Unverified:
    """A tag of a version the site knows but has not verified (retired, broken, ...)."""

    def __init__(self, tag: str, status: str, vo: str, retired_at: float | None) -> None:
        self.tag = tag
        self.status = status
        self.vo = vo
        self.retired_at = retired_at


class SiteView:
    """What the site's own files say: verified tags, other known tags, tags files' times."""

    def __init__(self) -> None:
        self.expected: dict[str, Expected] = {}
        self.unverified: dict[str, Unverified] = {}
        #: tag key -> the newest mtime of a tags file holding it
        self.in_files: dict[str, float] = {}
        #: VO (case-folded) -> the newest mtime of its tags files
        self.vo_changed: dict[str, float] = {}
        self.notes: list[str] = []


def read_site(preview_root: str, info_dir: str, subcluster: str, now: float) -> SiteView:
    view = SiteView()
    records: list[VersionRecord] = []
    for path in iter_record_files(SiteLayout(preview_root).state_dir):
        try:
            record = read_record(path)
        except (BadInput, OSError) as e:
            view.notes.append(f"cannot read the state record {path}: {e}")
            continue
        if record is not None:
            records.append(record)
    for vo, where, content in tags_files_of(info_dir, subcluster):
        if isinstance(content, Exception):
            view.notes.append(f"cannot read the tags file {where}: {content}")
            continue
        try:
            mtime = os.stat(where, follow_symlinks=False).st_mtime
        except OSError:
            mtime = now  # it changed just now
        key_vo = vo.casefold()
        view.vo_changed[key_vo] = max(view.vo_changed.get(key_vo, 0.0), mtime)
        for tag in parse_tags(content):
            key = tag.casefold()
            view.in_files[key] = max(view.in_files.get(key, 0.0), mtime)
    for r in records:
        verified = r.status == VERIFIED and bool(r.last_verified)
        installed = _epoch(r.installed_at) or _epoch(r.last_verified) or 0.0
        for vo in r.vos:
            try:
                tag = version_tag(vo, r.component, r.version)
            except BadInput:
                continue  # a hand-edited record: nothing pps would have published
            key = tag.casefold()
            if verified:
                in_file = key in view.in_files
                since = max(view.in_files[key], installed) if in_file else installed
                view.expected[key] = Expected(tag, since, in_file)
            elif key not in view.unverified:
                view.unverified[key] = Unverified(tag, r.status, vo, _epoch(r.retired_at))
    for key in view.expected:
        view.unverified.pop(key, None)  # verified by one record: not stale because of another
    return view


# --------------------------------------------------------------------------------- judgement


def _pps_tag(value: str) -> bool:
    """Whether *value* is a per-version preview tag pps could have written."""
    parsed = parse_version_tag(value)
    if parsed is None:
        return False
    try:
        check_vo(parsed.vo.lower())
    except BadInput:
        return False
    return True


class Verdict:
    """The comparison: what is published, pending, missing, stale, disagreeing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verified: list[str] = []
        self.published: list[str] = []
        #: (tag, seconds since its grace started)
        self.pending: list[tuple[str, float]] = []
        #: (tag, why)
        self.missing: list[tuple[str, str]] = []
        self.stale: list[tuple[str, str]] = []
        self.disagree: list[tuple[str, str]] = []
        #: (tag, seconds since it was withdrawn) for stale tags still within the grace
        self.leaving: list[tuple[str, float]] = []
        self.notes: list[str] = []
        self.glue1_entries = 0
        self.glue2_entries = 0
        self.other_values = 0


def _glue2_says(published: Published, key: str) -> str:
    states = sorted(published.glue2.get(key, ("", set()))[1])
    return "/".join(states)


def judge(site: SiteView, published: Published, settings: Settings, now: float) -> Verdict:
    v = Verdict(settings)
    v.notes = list(site.notes)
    v.glue1_entries = published.glue1_entries
    v.glue2_entries = len(published.glue2)
    grace = settings.grace
    for key, exp in sorted(site.expected.items()):
        v.verified.append(exp.tag)
        in1, in2 = key in published.glue1, published.glue2_live(key)
        if in1 and in2:
            v.published.append(exp.tag)
            continue
        age = max(0.0, now - exp.since)
        if age <= grace:
            v.pending.append((exp.tag, age))
        elif not in1 and not in2:
            reasons = [] if exp.in_file else ["in no tags file either"]
            says = _glue2_says(published, key)
            if says:
                reasons.append(f"GLUE 2.0 says {says}")
            v.missing.append((exp.tag, ", ".join(reasons)))
        else:
            says = _glue2_says(published, key)
            detail = "GLUE 1.3 only" if in1 else "GLUE 2.0 only"
            if in1 and says:
                detail += f", GLUE 2.0 says {says}"
            v.disagree.append((exp.tag, detail))
    seen: dict[str, str] = {}
    for key, value in published.glue1.items():
        if key in site.expected:
            continue
        if key in site.unverified or _pps_tag(value):
            seen.setdefault(key, value)
        else:
            v.other_values += 1
    for key, (name, _states) in published.glue2.items():
        if key in site.expected or not published.glue2_live(key):
            continue
        if key in site.unverified or _pps_tag(name):
            seen.setdefault(key, name)
    for key, value in sorted(seen.items()):
        known = site.unverified.get(key)
        if known is not None:
            vo, status, since = known.vo.casefold(), known.status, known.retired_at or 0.0
        else:
            parsed = parse_version_tag(value)
            vo, status, since = (parsed.vo.casefold() if parsed else ""), "", 0.0
        since = max(since, site.vo_changed.get(vo, 0.0))
        age = max(0.0, now - since)
        if age <= grace:
            v.leaving.append((value, age))
            continue
        why = status or "no state record"
        if key in site.in_files:
            why += ", still in the tags file"
        v.stale.append((value, why))
    return v
