"""Install, test and tag a preview version of a grid client at this site (Nagios plugin).

Reads the site file (/etc/pps/site.toml, or --site-config) and the repository index (its
signature first, when the site pins the repository's key); unless the same tarball is already
installed, fetches it, unpacking it as it arrives into a private directory, checks its size and
sha256, and puts it beside production under the preview root (running the site's configuration
hook when the release needs one); runs the release's local tests in the preview environment (the
site's production profile.d first) as the site's test_user; then publishes the version's
RunTimeEnvironment tag for every VO when all tests pass, or withdraws it when one fails. A
version the repository no longer lists as a preview loses its tags and, after a grace period,
its tree. Meant to run again and again (Nagios, and every push): an installed version is only
re-tested. With --cleanup it retires every installed version that is no longer a preview.

States: OK verified and tagged (or retired as planned); WARNING waiting for the site's
configuration hook, or tests that could not complete once (the tag stays one more run);
CRITICAL a failing test (tag withdrawn), a refused release (signature, checksum, unsafe tarball,
a path pps did not make, too large) or a failed hook; UNKNOWN the probe cannot tell (bad
usage or site file, repository unreachable, unknown release, timeout, interrupted).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import nagiosplugin
from nagiosplugin import Critical, Ok, Warn

from pps.errors import BadInput, PPSError
from probes import _options
from probes._converge import converge
from probes._options import Interrupted, PerfdataContext
from probes._records import AWAITING_CONFIGURATION, BROKEN, RETIRED, VERIFIED
from probes._run import INCOMPLETE, INCOMPLETE_LIMIT, REFUSED, Outcome, Request, os_error_line
from probes._safefs import locked_path
from probes._settings import OPTIONS, build_request, help_text
from probes._site import SiteLayout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from probes._retire import CleanupOutcome

_log = logging.getLogger("nagiosplugin." + __name__)


# data acquisition


class PreviewClient(nagiosplugin.Resource):
    """Domain model: one preview release at this site, converged and re-tested.

    ``probe()`` does the whole run under the site lock and reports what happened as metrics:
    the run's outcome, one metric per local test, and counts and sizes for perfdata.  In
    cleanup mode, what was retired.
    """

    def __init__(
        self,
        request: Request | None,
        started: float,
        usage_error: str = "",
        *,
        cleanup: bool = False,
    ) -> None:
        self.request = request
        self.started = started
        self.usage_error = usage_error
        self.cleanup = cleanup

    @property
    def name(self) -> str:
        return "PREVIEW_CLIENT"

    def probe(self) -> list[nagiosplugin.Metric]:
        if self.request is None:
            raise nagiosplugin.CheckError(self.usage_error)
        layout = SiteLayout(self.request.preview_root)
        lock = layout.lock_file
        waiting = True
        try:
            layout.prepare()
            _log.info("waiting for the site lock %s", lock)
            with locked_path(str(lock)):
                waiting = False
                if self.cleanup:
                    from probes._retire import cleanup

                    result: Any = cleanup(self.request)
                else:
                    result = converge(self.request)
        except nagiosplugin.Timeout as e:
            if waiting:
                raise nagiosplugin.Timeout(
                    f"{e} waiting for the lock {lock} (another run holds it)"
                ) from None
            raise
        except Interrupted as e:
            raise nagiosplugin.CheckError(
                f"{e}: stopped, tests killed, lock released; the next run carries on"
            ) from None
        except PPSError as e:  # repository unreachable, unknown release, corrupt index...
            raise nagiosplugin.CheckError(str(e)) from None
        except OSError as e:
            _log.debug("internal error", exc_info=True)
            raise nagiosplugin.CheckError(os_error_line(e, self.request)) from None
        elapsed = round(time.monotonic() - self.started, 3)
        time_metric = nagiosplugin.Metric("time", elapsed, "s", min=0, context="perfdata")
        if not isinstance(result, Outcome):  # a cleanup's outcome
            return [
                nagiosplugin.Metric("cleanup", result, context="cleanup"),
                nagiosplugin.Metric("retired", len(result.retired), min=0, context="perfdata"),
                nagiosplugin.Metric("previews", result.kept, min=0, context="perfdata"),
                time_metric,
            ]
        outcome = result
        passed = sum(1 for t in outcome.tests if t.ok)
        metrics = [nagiosplugin.Metric("outcome", outcome, context="outcome")]
        metrics += [nagiosplugin.Metric(t.name, t, context="local_test") for t in outcome.tests]
        if outcome.tests or outcome.status not in (REFUSED, AWAITING_CONFIGURATION, RETIRED):
            metrics += [
                nagiosplugin.Metric("tests_passed", passed, min=0, context="perfdata"),
                nagiosplugin.Metric(
                    "tests_failed", len(outcome.tests) - passed, min=0, context="perfdata"
                ),
            ]
        # 1 only when this version is installed, verified and tagged here: what the distributor
        # counts as live (a version the site skipped or retired is OK for Nagios, not live)
        live = int(outcome.status == VERIFIED)
        metrics.append(nagiosplugin.Metric("live", live, min=0, max=1, context="perfdata"))
        if outcome.release is not None:
            size = outcome.release.size
            metrics.append(nagiosplugin.Metric("size", size, "B", min=0, context="perfdata"))
        return metrics + [time_metric]


# data evaluation


class OutcomeContext(nagiosplugin.Context):
    """The run as a whole: refused releases are critical, unconfigured ones a warning,
    notes (an earlier run's test processes killed) a warning."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        outcome: Outcome = metric.value
        if outcome.status == REFUSED:
            return self.result_cls(Critical, outcome.message, metric)
        if outcome.status == INCOMPLETE:
            return self.result_cls(Critical if outcome.withdrawn else Warn, None, metric)
        if outcome.status == AWAITING_CONFIGURATION:
            return self.result_cls(Warn, outcome.message, metric)
        if outcome.notes:
            return self.result_cls(Warn, "; ".join(outcome.notes), metric)
        return self.result_cls(Ok, None, metric)


class LocalTestContext(nagiosplugin.Context):
    """One local test: critical when it failed, a warning when it could not complete (the
    outcome decides whether that withdraws the tag)."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        test = metric.value
        state = Ok if test.ok else Warn if test.timed_out else Critical
        return self.result_cls(state, f"test {test.name} {test.verdict}", metric)


class CleanupContext(nagiosplugin.Context):
    """A cleanup run: OK, with what it retired; a warning for notes."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        outcome: CleanupOutcome = metric.value
        return self.result_cls(Warn if outcome.notes else Ok, None, metric)


# data presentation


def _clean(text: str) -> str:
    """One line without the perfdata separator, as Nagios wants status and long output."""
    return " ".join(text.replace("|", "/").split())


def _value(results: nagiosplugin.Results, context: str) -> Any:
    for result in results:
        if result.metric is not None and result.metric.context == context:
            return result.metric.value
    return None


def _with_notes(text: str, notes: Sequence[str]) -> str:
    return _clean("; ".join([text, *notes]))


def _published(req: Any) -> str:
    """Where a verified version is announced, as the status line says it."""
    if req.publish == ("tags",):
        return f"tagged for {','.join(req.vos)}"
    said = []
    if "tags" in req.publish:
        said.append(f"tagged for {','.join(req.vos)}")
    if "arc-rte" in req.publish:
        from pps.errors import BadInput
        from pps.rte import rte_name

        try:
            said.append(f"enabled as ARC RTE {rte_name(req.component, req.version)}")
        except BadInput:
            pass  # not an RTE: the ARC publisher says why

    if "condor" in req.publish:
        said.append("advertised in HTCondor's PPS_RTE")
    return ", ".join(said)


class PreviewClientSummary(nagiosplugin.Summary):
    """The status line names the release, the subcluster, the tests and the tags."""

    def ok(self, results: nagiosplugin.Results) -> str:
        cleaned = _value(results, "cleanup")
        if cleaned is not None:
            return _cleanup_line(cleaned)
        o = _value(results, "outcome")
        if o is None:  # OK always carries the outcome: without it there is nothing to say
            return self.problem(results)
        if o.status == RETIRED:
            return _clean(o.message)
        req, n = o.request, len(o.tests)
        return _with_notes(
            f"{req.component} {req.version} verified at {req.subcluster}: "
            f"{n}/{n} tests passed, {_published(req)}",
            o.said,
        )

    def problem(self, results: nagiosplugin.Results) -> str:
        cleaned = _value(results, "cleanup")
        if cleaned is not None:
            return _with_notes(_cleanup_line(cleaned), cleaned.notes)
        o = _value(results, "outcome")
        if o is None:
            return _clean(str(results.first_significant))
        req, failed = o.request, o.failed_tests
        passed = len(o.tests) - len(failed)
        what = "; ".join(f"test {t.name} {t.verdict}" for t in failed)
        counts = f"({passed}/{len(o.tests)} tests passed)"
        vos = ",".join(req.vos)
        if o.status == BROKEN:
            text = (f"{req.component} {req.version} broken at {req.subcluster}: {what} {counts}, "
                    f"tag withdrawn for {vos}")  # fmt: skip
        elif o.status == INCOMPLETE:
            text = f"{req.component} {req.version} at {req.subcluster}: {what} {counts}; "
            if not o.withdrawn:
                text += (f"tag kept for {vos} for now: withdrawn if the tests cannot complete on "
                         "the next run too")  # fmt: skip
            elif o.incomplete_runs >= INCOMPLETE_LIMIT:
                text += (f"tag withdrawn for {vos}: the tests could not complete on "
                         f"{o.incomplete_runs} runs in a row")  # fmt: skip
            else:
                text += f"not tagged for {vos}: the tests must complete first"
        elif o.status in (REFUSED, AWAITING_CONFIGURATION):
            text = o.message
        elif o.status == RETIRED:
            text = o.message
        else:  # verified, with notes
            n = len(o.tests)
            text = (f"{req.component} {req.version} verified at {req.subcluster}: "
                    f"{n}/{n} tests passed, {_published(req)}")  # fmt: skip
        return _with_notes(text, [*o.notes, *o.said])

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        cleaned = _value(results, "cleanup")
        if cleaned is not None:
            return [_clean(line) for line in cleaned.retired]
        o = _value(results, "outcome")
        if o is None:
            return [_clean(f"{r.state}: {r}") for r in results if r.state != Ok]
        if o.release is None:
            return []
        lines = [
            _clean(
                f"{o.release.key} from {o.request.repository}: "
                + (
                    "installed now"
                    if o.installed_now
                    else "nothing installed now"
                    if o.status in (REFUSED, AWAITING_CONFIGURATION)
                    else "already installed"
                )
                + f", status {o.status}"
                + (", tags changed" if o.tags_changed else "")
            )
        ]
        runs = [("configuration hook", o.hook)] if o.hook is not None else []
        for what, t in runs + [("test", t) for t in o.tests]:
            line = f"{what} {t.name}: {t.verdict} in {t.seconds:.2f}s"
            last = (t.output_tail.strip().splitlines() or [""])[-1]
            if not t.ok and last:
                line += f"; last output: {last[:200]}"
            lines.append(_clean(line))
        return lines


def _cleanup_line(c: CleanupOutcome) -> str:
    if not c.retired:
        return _clean(f"cleanup: nothing to retire, {c.kept} preview version(s) installed")
    return _clean(
        f"cleanup: {len(c.retired)} retired ({'; '.join(c.retired)}), {c.kept} preview "
        "version(s) kept"
    )


# runtime environment


@nagiosplugin.guarded(verbose=0)
def main(argv: Sequence[str] | None = None) -> None:
    started = time.monotonic()
    # What the probe creates must be readable by every account (jobs, the GIP provider) and
    # writable by none but the probe's, whatever umask Nagios or a shell hands down.
    os.umask(0o022)
    begun = _options.start(argv, OPTIONS, lambda: help_text(__doc__ or ""), 0)
    request, problem, cleaning = None, begun.problem, False
    if begun.args is not None:
        cleaning = begun.args.cleanup
        try:
            request = build_request(begun.args, started)
        except BadInput as e:
            problem = str(e)
    check = nagiosplugin.Check(
        PreviewClient(request, started, problem, cleanup=cleaning),
        OutcomeContext("outcome"),
        LocalTestContext("local_test"),
        CleanupContext("cleanup"),
        PerfdataContext("perfdata"),
        PreviewClientSummary(),
    )
    check.main(verbose=begun.verbose, timeout=begun.timeout)


if __name__ == "__main__":
    main()
