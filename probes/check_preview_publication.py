"""Check that this site's verified preview tags are in the BDII (Nagios plugin).

Runs at the site, like check_preview_client, and reads the same site file (/etc/pps/site.toml,
or --site-config; flags override it): what the site says comes from its state records
(<preview_root>/.pps/state/<component>/<version>.json) and its tags files
(<info_dir>/<subcluster>/<vo>/<vo>.list, and the legacy <info_dir>/<vo>/<vo>.list). It then asks
a BDII (--bdii, the site file's 'bdii', default the site BDII ldap://localhost:2170; anonymous)
for the subcluster's GlueHostApplicationSoftwareRunTimeEnvironment values (GLUE 1.3, under
o=grid) and its GLUE2ApplicationEnvironment entries (GLUE 2.0, under o=glue), and compares.

States: OK every verified tag is in the BDII (GLUE 1.3 and 2.0), or not yet but still within the
grace period; CRITICAL a verified version's tag is in neither after the grace period (jobs
cannot select it); WARNING a tag in the BDII for a version the site no longer has verified
(retired, broken, untested, no state record: stale) after the grace period, GLUE 1.3 and GLUE 2.0
disagreeing about a verified tag, or a state record or tags file that cannot be read; UNKNOWN
bad usage or site file, a BDII that cannot be reached or does not answer within the timeout, an
answer beyond the plugin's limits.  Perfdata: verified, published, pending, missing, stale.

Design (the choices behind the rules):

- When the grace period starts.  ``last_verified`` cannot be the clock: every passing re-test
  (every Nagios run of check_preview_client) moves it, so a tag that never reached the BDII
  would never be late.  The grace is counted from the last time the site's tags could have
  changed: the modification time of the newest tags file holding the tag (pps rewrites a tags
  file, atomically, only when a tag is added or withdrawn, so the tag has been there at least
  that long), and never from before the version's ``installed_at``.  A verified tag that is in
  no tags file is late from ``installed_at`` on (the GIP provider cannot publish it either; the
  status line says so).  A tag of a version that is no longer verified is stale once the grace
  has passed since its VO's tags files last changed (the withdrawal) or since the record's
  ``retired_at``.  Any other change to a VO's tags file restarts the grace for that VO: a late
  tag is reported up to one grace period later, never too early.
- The default grace (--grace, 600 s) is a BDII cycle (bdii-update's default breathe time is
  120 s, plus the providers' run time) with slack; a top-level BDII caches for longer: give it
  a grace of its own when --bdii names one.
- Which tags count: every tag of a verified state record (status ``verified`` with
  ``last_verified``) for each of its VOs is expected; a value in the BDII counts as a pps tag
  when it parses as ``VO-<vo>-PPS-<component>-<version>`` with a valid VO name (other values,
  PPS-PREVIEW and the site's own tags are not judged).  Tags compare case-insensitively (GLUE 1.3
  RTE values are caseIgnoreIA5).  In GLUE 2.0 an entry counts as published when its state is
  installedverified (or installednotverified); installedbroken and pendingremoval are how the
  GIP provider publishes broken and retired versions, so those are not stale.
- A verified tag missing from both schemas is CRITICAL; one present in only one of them is a
  WARNING (GLUE 1.3 and 2.0 disagree), as is a stale tag.
- GLUE 2.0 entries are those of this subcluster: GLUE2ApplicationEnvironmentID
  ``urn:pps:<subcluster>:*`` (as pps-gip-provider writes them), or a
  GLUE2ApplicationEnvironmentComputingManagerForeignKey naming the subcluster's manager (the
  site file's ``[glue] manager_id``, ``<subcluster>_ComputingElement_Manager`` or
  ``<subcluster>_Manager``).  GLUE 1.3
  entries: every GlueSubCluster under o=grid with that GlueSubClusterUniqueID (a site BDII has
  one; a top-level BDII may have copies: their values are joined).  Filter values are escaped
  with ldap3's escape_filter_chars.
- LDAP: ldap3 (pure Python), imported only by probes/_bdii.py (the query), when the check
  runs; no schema is read (get_info=NONE), anonymous bind, values taken as raw bytes and
  decoded as UTF-8 with replacement, so nothing the BDII says is ever interpreted beyond
  that.  Values reach the status line only through one cleaning step (non-ASCII and control
  characters escaped, ``|`` replaced, each value cut at 80 characters, at most 5 listed): the
  line stays one line, without the perfdata separator, whatever the BDII holds.
- Bounded: the whole answer may be at most 8 MiB and 10,116 LDAP messages (both counted as the
  bytes arrive, before ldap3 decodes anything; the connection is then dropped), at most 10,000
  RunTimeEnvironment values, 100 GlueSubCluster and 10,000 GLUE 2.0 entries, and the server is
  asked for no more (size and time limits): beyond that the check is UNKNOWN with the limit
  named.  --timeout bounds the connection (connect timeout: a third of it, at most 10 s) and
  every read (the time left), so an unreachable or silent BDII is UNKNOWN within the timeout.
- The BDII URL must be ``ldap://HOST:PORT`` (a BDII serves plain LDAP, port 2170 by
  convention; no default port is guessed).
- The site file's 'bdii' key is read here; the rest of the file is checked as the probe checks
  it.  The plugin writes nothing.
"""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from types import SimpleNamespace as Namespace

import nagiosplugin
from nagiosplugin import Critical, Ok, Warn

from pps.errors import BadInput, PPSError
from pps.names import (
    check_site_name,
    check_subcluster,
    check_vo,
    parse_version_tag,
    version_tag,
)
from probes import _options
from probes._bdii import Published, clean, query_bdii, shown
from probes._options import Option
from probes._site import SiteLayout
from probes._siteconfig import DEFAULT_PATH, DEFAULTS, SiteConfigError, check_values
from probes._state import VERIFIED, StateRecord, iter_state_files, read_state
from probes._tagsfile import parse_tags, tags_files_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


PROG = "check_preview_publication"
DEFAULT_BDII = "ldap://localhost:2170"
DEFAULT_GRACE = 600
DEFAULT_TIMEOUT = 30.0
#: How much of a BDII value the status line shows, and how many values a list shows.
SHOWN_VALUES = 5
_BDII_URL = re.compile(
    r"ldap://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))"
    r":(?P<port>[0-9]{1,5})/?\Z"
)


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived: say UNKNOWN (nothing to clean up: the plugin writes nothing)."""


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


# ------------------------------------------------------------------------------------ options


def _whole_seconds(text: str) -> int:
    if not text.isdigit() or int(text) > 10**7:
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return int(text)


def check_bdii_url(value: Any, what: str = "--bdii") -> tuple[str, int]:
    """``(host, port)`` of an ``ldap://HOST:PORT`` URL (BadInput naming *what* otherwise)."""
    m = _BDII_URL.match(value) if isinstance(value, str) else None
    port = int(m.group("port")) if m else 0
    if m is None or not 0 < port < 65536:
        shown = value[:100] if isinstance(value, str) else value
        raise BadInput(f"{what} {shown!r} is not ldap://HOST:PORT (a site BDII: {DEFAULT_BDII})")
    return m.group("host").strip("[]"), port


OPTIONS = (
    Option(
        "site-config",
        f"The site file (TOML) check_preview_client reads (default: {DEFAULT_PATH}, used when "
        "it exists); its 'bdii' key names the BDII.",
        metavar="FILE",
    ),
    Option("no-site-config", "Read no site file: everything comes from the flags.", kind="flag"),
    Option(
        "bdii",
        f"The BDII to ask, ldap://HOST:PORT (default: the site file's 'bdii', else {DEFAULT_BDII},"
        " the site BDII).",
        metavar="URL",
    ),
    Option(
        "grace",
        "Seconds a tag may take to reach the BDII (and a withdrawn one to leave it) before it "
        f"counts: a BDII cycle plus slack (default {DEFAULT_GRACE}).",
        metavar="SECONDS",
        convert=_whole_seconds,
        default=DEFAULT_GRACE,
    ),
    Option(
        "preview-root",
        f"The preview root whose state records say what is verified (default "
        f"{DEFAULTS['preview_root']}).",
        metavar="DIR",
    ),
    Option(
        "info-dir",
        f"The information directory holding the tags files (default {DEFAULTS['info_dir']}).",
        metavar="DIR",
    ),
    Option("subcluster", "The GlueSubClusterUniqueID whose tags are checked.", metavar="ID"),
    Option("site", "The site's name (GOCDB), shown in the status line.", metavar="NAME"),
    Option(
        "timeout",
        f"Give up with UNKNOWN after this many seconds (default {DEFAULT_TIMEOUT:g}): the "
        "connection and every read from the BDII are bounded by it.",
        metavar="SECONDS",
        short="t",
        convert=_options.seconds,
        default=DEFAULT_TIMEOUT,
    ),
    Option(
        "verbose",
        "Say more: every tag and where it is with -v.",
        kind="count",
        short="v",
        default=0,
    ),
)
EPILOG = (
    "--bdii, --preview-root, --info-dir, --subcluster and --site have keys of the same name in "
    "the site file (dashes as underscores); a flag given here wins over the file."
)


def help_text() -> str:
    description = (__doc__ or "").split("\nDesign (")[0].strip()
    return _options.help_text(PROG, description, OPTIONS, EPILOG)


class Settings:
    """What one run checks."""

    def __init__(self, **values: Any) -> None:
        self.preview_root: str = values["preview_root"]
        self.info_dir: str = values["info_dir"]
        self.subcluster: str = values["subcluster"]
        self.site: str = values.get("site", "")
        self.bdii: str = values["bdii"]
        self.host, self.port = check_bdii_url(self.bdii)
        self.grace: int = values["grace"]
        self.timeout: float = values["timeout"]
        self.deadline: float = values["deadline"]
        glue = values.get("glue") or {}
        #: The ComputingManager IDs the subcluster's GLUE 2.0 entries may name.
        self.managers: tuple[str, ...] = tuple(
            dict.fromkeys(
                [*([glue["manager_id"]] if glue.get("manager_id") else []),
                 f"{self.subcluster}_ComputingElement_Manager", f"{self.subcluster}_Manager"]
            )
        )  # fmt: skip


def read_site_file(path: str) -> dict[str, Any]:
    """The checked values of the site file at *path*, its 'bdii' key included (the probe's
    reader checks the rest; SiteConfigError naming the problem)."""
    from probes import _siteconfig

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise SiteConfigError(f"cannot read the site file {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        import stat

        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SiteConfigError(f"the site file {path} is not a regular file")
        raw = f.read(_siteconfig.MAX_FILE_BYTES + 1)
    if len(raw) > _siteconfig.MAX_FILE_BYTES:
        raise SiteConfigError(
            f"the site file {path} is larger than {_siteconfig.MAX_FILE_BYTES} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SiteConfigError(f"the site file {path} is not UTF-8 text") from None
    try:
        data = _siteconfig._toml_loads(text)
        bdii = data.pop("bdii", None)
        values = check_values(data)
        if bdii is not None:
            try:
                check_bdii_url(bdii, "'bdii'")
            except BadInput as e:
                raise SiteConfigError(str(e)) from None
            values["bdii"] = bdii
    except SiteConfigError as e:
        raise SiteConfigError(f"site file {path}: {e}") from None
    return values


def build_settings(args: Namespace, started: float) -> Settings:
    """The settings of the command line *args* and the site file it names (or the default)."""
    if args.no_site_config and args.site_config:
        raise BadInput("--site-config and --no-site-config exclude each other")
    path = args.site_config or DEFAULT_PATH
    have_file = not args.no_site_config and (args.site_config is not None or os.path.exists(path))
    from_file = read_site_file(path) if have_file else {}
    flags = {k: getattr(args, k) for k in ("preview_root", "info_dir", "subcluster", "site")
             if getattr(args, k) is not None}  # fmt: skip
    values: dict[str, Any] = {"bdii": DEFAULT_BDII, **DEFAULTS, **from_file}
    values.update(check_values(flags, flags=True))
    if args.bdii is not None:
        check_bdii_url(args.bdii)
        values["bdii"] = args.bdii
    if "subcluster" not in values:
        why = f"the site file {path} has no 'subcluster'"
        if not have_file:
            why = "--no-site-config" if args.no_site_config else f"no site file at {path}"
        raise BadInput(f"--subcluster is needed ({why})")
    check_subcluster(values["subcluster"])
    if values.get("site"):
        check_site_name(values["site"])
    return Settings(
        **values, grace=args.grace, timeout=args.timeout, deadline=started + args.timeout * 0.9
    )


# ------------------------------------------------------------------------ what the site says


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of a record's ``2024-05-01T12:00:00Z`` (None if unreadable)."""
    if not stamp:
        return None
    import calendar

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
    records: list[StateRecord] = []
    for path in iter_state_files(SiteLayout(preview_root).state_dir):
        try:
            record = read_state(path)
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


# ------------------------------------------------------------------------ Nagios: the plugin


class PreviewPublication(nagiosplugin.Resource):
    """Domain model: this site's verified preview tags, and the BDII that should publish them."""

    def __init__(self, settings: Settings | None, started: float, usage_error: str = "") -> None:
        self.settings = settings
        self.started = started
        self.usage_error = usage_error

    @property
    def name(self) -> str:
        return "PREVIEW_PUBLICATION"

    def probe(self) -> list[nagiosplugin.Metric]:
        if self.settings is None:
            raise nagiosplugin.CheckError(self.usage_error)
        s = self.settings
        try:
            site = read_site(s.preview_root, s.info_dir, s.subcluster, time.time())
            published = query_bdii(s)
            verdict = judge(site, published, s, time.time())
        except Interrupted as e:
            raise nagiosplugin.CheckError(f"{e}: stopped, nothing changed") from None
        except PPSError as e:  # an info dir that is not a directory, a bad name...
            raise nagiosplugin.CheckError(str(e)) from None
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            raise nagiosplugin.CheckError(f"{e.strerror or e}{where}") from None
        elapsed = round(time.monotonic() - self.started, 3)

        def count(name: str, value: int) -> nagiosplugin.Metric:
            return nagiosplugin.Metric(name, value, min=0, context="perfdata")

        return [
            nagiosplugin.Metric("unpublished", verdict.missing, context="missing"),
            nagiosplugin.Metric("disagreeing", verdict.disagree, context="disagree"),
            nagiosplugin.Metric("stale_tags", verdict.stale, context="stale"),
            nagiosplugin.Metric("notes", verdict.notes, context="notes"),
            nagiosplugin.Metric("verdict", verdict, context="verdict"),
            count("verified", len(verdict.verified)),
            count("published", len(verdict.published)),
            count("pending", len(verdict.pending)),
            count("missing", len(verdict.missing)),
            count("stale", len(verdict.stale)),
            nagiosplugin.Metric("time", elapsed, "s", min=0, context="perfdata"),
        ]


def listing(items: Sequence[str]) -> str:
    """At most :data:`SHOWN_VALUES` items, then how many more."""
    text = ", ".join(items[:SHOWN_VALUES])
    if len(items) > SHOWN_VALUES:
        text += f" and {len(items) - SHOWN_VALUES} more"
    return text


def _tagged(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [shown(t) + (f" ({clean(why)})" if why else "") for t, why in pairs]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class ListContext(nagiosplugin.Context):
    """A list of findings: *state* when it is not empty, its text the hint."""

    def __init__(self, name: str, state: Any, describe: Any) -> None:
        super().__init__(name)
        self.state = state
        self.describe = describe

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if not metric.value:
            return self.result_cls(Ok, None, metric)
        return self.result_cls(self.state, self.describe(metric.value, resource), metric)


def _missing_hint(items: list[tuple[str, str]], resource: PreviewPublication) -> str:
    assert resource.settings is not None
    return (
        f"{_plural(len(items), 'verified tag')} not in the BDII after the "
        f"{resource.settings.grace} s grace: {listing(_tagged(items))}"
    )


def _stale_hint(items: list[tuple[str, str]], resource: PreviewPublication) -> str:
    return f"{_plural(len(items), 'stale tag')} (not verified here): {listing(_tagged(items))}"


def _disagree_hint(items: list[tuple[str, str]], resource: PreviewPublication) -> str:
    return f"GLUE 1.3 and GLUE 2.0 disagree: {listing(_tagged(items))}"


def _notes_hint(items: list[str], resource: PreviewPublication) -> str:
    return listing([clean(n) for n in items])


class VerdictContext(nagiosplugin.Context):
    """The comparison as a whole: always OK (the lists carry the states)."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return self.result_cls(Ok, None, metric)


class PerfdataContext(nagiosplugin.Context):
    """Numbers reported as performance data, never judged."""

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, min=metric.min)


def _verdict(results: nagiosplugin.Results) -> Verdict | None:
    for result in results:
        if result.metric is not None and result.metric.context == "verdict":
            value: Verdict = result.metric.value
            return value
    return None


def _where(v: Verdict) -> str:
    s = v.settings
    return f"{s.site + ' ' if s.site else ''}{s.subcluster} in {s.bdii}"


class PublicationSummary(nagiosplugin.Summary):
    """The status line: the subcluster and the BDII, then what is wrong (worst first) or what
    is published."""

    def ok(self, results: nagiosplugin.Results) -> str:
        v = _verdict(results)
        assert v is not None
        n = len(v.verified)
        if not n:
            text = "no verified preview version here, no stale tag"
        elif not v.pending:
            text = f"{_plural(n, 'verified tag')} published (GLUE 1.3 and 2.0)"
        else:
            text = f"{len(v.published)} of {_plural(n, 'verified tag')} published"
        if v.pending:
            waiting = [f"{shown(t)} ({age:.0f} s)" for t, age in v.pending]
            text += (f"; not yet, within the {v.settings.grace} s grace: "
                     f"{listing(waiting)}")  # fmt: skip
        return clean(f"{_where(v)}: {text}")

    def problem(self, results: nagiosplugin.Results) -> str:
        v = _verdict(results)
        if v is None:  # UNKNOWN: the check could not compare
            return clean(str(results.first_significant))
        hints = [str(r.hint) for r in sorted(results, key=lambda r: -int(r.state)) if r.state != Ok]
        if v.pending:
            hints.append(f"{_plural(len(v.pending), 'tag')} within the {v.settings.grace} s grace")
        return clean(f"{_where(v)}: " + "; ".join(hints))

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        v = _verdict(results)
        if v is None:
            return []
        lines = [f"published (GLUE 1.3 and 2.0): {shown(t)}" for t in v.published]
        lines += [f"pending, {age:.0f} s of the grace: {shown(t)}" for t, age in v.pending]
        lines += [f"missing: {t}" for t in _tagged(v.missing)]
        lines += [f"GLUE 1.3 and 2.0 disagree: {t}" for t in _tagged(v.disagree)]
        lines += [f"stale: {t}" for t in _tagged(v.stale)]
        lines += [f"withdrawn {age:.0f} s ago, leaving: {shown(t)}" for t, age in v.leaving]
        lines.append(
            f"{_plural(v.glue1_entries, 'GlueSubCluster entry')}"
            if v.glue1_entries != 1
            else "1 GlueSubCluster entry"
        )
        lines[-1] += (f", {_plural(v.glue2_entries, 'GLUE 2.0 tag')}, "
                      f"{_plural(v.other_values, 'other RTE value')} not judged")  # fmt: skip
        return [clean(line) for line in lines]


# ------------------------------------------------------------------------ runtime environment


@nagiosplugin.guarded(verbose=0)
def main(argv: Sequence[str] | None = None) -> None:
    started = time.monotonic()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(help_text())
        sys.exit(0)
    settings, problem, verbose, timeout = None, "", 0, math.ceil(DEFAULT_TIMEOUT)
    try:
        args = Namespace(**_options.parse(OPTIONS, argv))
        verbose, timeout = args.verbose, max(1, math.ceil(args.timeout))
        settings = build_settings(args, started)
    except (_options.UsageError, BadInput) as e:
        problem = str(e)
    check = nagiosplugin.Check(
        PreviewPublication(settings, started, problem),
        ListContext("missing", Critical, _missing_hint),
        ListContext("disagree", Warn, _disagree_hint),
        ListContext("stale", Warn, _stale_hint),
        ListContext("notes", Warn, _notes_hint),
        VerdictContext("verdict"),
        PerfdataContext("perfdata"),
        PublicationSummary(),
    )
    check.main(verbose=verbose, timeout=timeout)


if __name__ == "__main__":
    main()
