"""Check that this site's verified preview tags are in the BDII (Nagios plugin).

What it reads, compares and reports (its states and perfdata) is its ``--help``, written out in
probes/_pubcheck_settings.py (DESCRIPTION); this docstring holds the reasons.

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

Where: the command line, the site file and the settings in probes/_pubcheck_settings.py; what
the site says and the comparison (a pure function) in probes/_pubcheck_verdict.py; the BDII query
in probes/_bdii.py; this module the Nagios plugin (its resource, contexts and status line), as
check_preview_client is split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import nagiosplugin
from nagiosplugin import Critical, Ok, Warn

from pps.errors import BadInput, PPSError
from probes import _options
from probes._bdii import BdiiError, clean, query_bdii, shown
from probes._options import Interrupted, PerfdataContext
from probes._pubcheck_settings import DEFAULT_TIMEOUT, OPTIONS, Settings, build_settings, help_text
from probes._pubcheck_verdict import Verdict, judge, read_site

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: How many values a list in the status line shows.
SHOWN_VALUES = 5


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
            published = query_bdii(s.query)
            verdict = judge(site, published, s, time.time())
        except BdiiError as e:
            raise nagiosplugin.CheckError(str(e)) from None
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
    if resource.settings is None:  # no settings: the resource raised before any hint
        raise RuntimeError("a hint without the check's settings")
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
        if v is None:  # OK always carries the verdict: without it the check could not compare
            return self.problem(results)
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
    begun = _options.start(argv, OPTIONS, help_text, math.ceil(DEFAULT_TIMEOUT))
    settings, problem = None, begun.problem
    if begun.args is not None:
        try:
            settings = build_settings(begun.args, started)
        except BadInput as e:
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
    check.main(verbose=begun.verbose, timeout=begun.timeout)


if __name__ == "__main__":
    main()
