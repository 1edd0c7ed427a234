"""Install, test and tag a preview version of a grid client at this site (Nagios plugin).

Reads the repository index; unless the same tarball is already installed, fetches it, checks its
size and sha256, unpacks it safely beside production under the preview root and runs the site's
configuration hook when the release needs one; runs the release's local tests in the preview
environment (the site's production profile.d first); then publishes the version's
RunTimeEnvironment tag for every VO when all tests pass, or withdraws it when one fails. Meant to
run again and again (Nagios, and every push): an installed version is only re-tested.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import nagiosplugin
from nagiosplugin import Critical, Ok, Warn

from pps.errors import BadInput, PPSError
from pps.fsutil import locked
from probes._converge import REFUSED, Outcome, Request, converge
from probes._site import SiteLayout
from probes._state import AWAITING_CONFIGURATION, BROKEN

_log = logging.getLogger("nagiosplugin." + __name__)

DEFAULT_TIMEOUT = 600.0


# data acquisition


class PreviewClient(nagiosplugin.Resource):
    """Domain model: one preview release at this site, converged and re-tested.

    ``probe()`` does the whole run under the site lock and reports what happened as metrics:
    the run's outcome, one metric per local test, and counts and sizes for perfdata.
    """

    def __init__(self, request: Request | None, started: float, usage_error: str = "") -> None:
        self.request = request
        self.started = started
        self.usage_error = usage_error

    @property
    def name(self) -> str:
        return "PREVIEW_CLIENT"

    def probe(self) -> list[nagiosplugin.Metric]:
        if self.request is None:
            raise nagiosplugin.CheckError(self.usage_error)
        lock = SiteLayout(self.request.preview_root).lock_file
        waiting = True
        try:
            _log.info("waiting for the site lock %s", lock)
            with locked(lock):
                waiting = False
                outcome = converge(self.request)
        except nagiosplugin.Timeout as e:
            if waiting:
                raise nagiosplugin.Timeout(
                    f"{e} waiting for the lock {lock} (another run holds it)"
                ) from None
            raise
        except PPSError as e:  # repository unreachable, unknown release, corrupt index...
            raise nagiosplugin.CheckError(str(e)) from None
        except OSError as e:
            _log.debug("internal error", exc_info=True)
            where = f": {e.filename}" if e.filename else ""
            raise nagiosplugin.CheckError(f"{e.strerror or e}{where}") from None
        passed = sum(1 for t in outcome.tests if t.ok)
        metrics = [nagiosplugin.Metric("outcome", outcome, context="outcome")]
        metrics += [nagiosplugin.Metric(t.name, t, context="local_test") for t in outcome.tests]
        if outcome.status not in (REFUSED, AWAITING_CONFIGURATION):
            metrics += [
                nagiosplugin.Metric("tests_passed", passed, min=0, context="perfdata"),
                nagiosplugin.Metric(
                    "tests_failed", len(outcome.tests) - passed, min=0, context="perfdata"
                ),
            ]
        metrics += [
            nagiosplugin.Metric("size", outcome.release.size, "B", min=0, context="perfdata"),
            nagiosplugin.Metric(
                "time", round(time.monotonic() - self.started, 3), "s", min=0, context="perfdata"
            ),
        ]
        return metrics


# data evaluation


class OutcomeContext(nagiosplugin.Context):
    """The run as a whole: refused releases are critical, unconfigured ones a warning."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        outcome: Outcome = metric.value
        if outcome.status == REFUSED:
            return self.result_cls(Critical, outcome.message, metric)
        if outcome.status == AWAITING_CONFIGURATION:
            return self.result_cls(Warn, outcome.message, metric)
        return self.result_cls(Ok, None, metric)


class LocalTestContext(nagiosplugin.Context):
    """One local test: critical unless it passed."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        test = metric.value
        state = Ok if test.ok else Critical
        return self.result_cls(state, f"test {test.name} {test.verdict}", metric)


class PerfdataContext(nagiosplugin.Context):
    """Numbers reported as performance data, never judged."""

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, metric.value, metric.uom, min=metric.min)


# data presentation


def _clean(text: str) -> str:
    """One line without the perfdata separator, as Nagios wants status and long output."""
    return " ".join(text.replace("|", "/").split())


def _outcome(results: nagiosplugin.Results) -> Outcome | None:
    for result in results:
        if result.metric is not None and result.metric.context == "outcome":
            return result.metric.value
    return None


class PreviewClientSummary(nagiosplugin.Summary):
    """The status line names the release, the subcluster, the tests and the tags."""

    def ok(self, results: nagiosplugin.Results) -> str:
        o = _outcome(results)
        assert o is not None
        req, n = o.request, len(o.tests)
        return _clean(
            f"{req.component} {req.version} verified at {req.subcluster}: "
            f"{n}/{n} tests passed, tagged for {','.join(req.vos)}"
        )

    def problem(self, results: nagiosplugin.Results) -> str:
        o = _outcome(results)
        if o is None or o.status != BROKEN:
            return _clean(str(results.first_significant))
        req, failed = o.request, o.failed_tests
        passed = len(o.tests) - len(failed)
        return _clean(
            f"{req.component} {req.version} broken at {req.subcluster}: "
            + "; ".join(f"test {t.name} {t.verdict}" for t in failed)
            + f" ({passed}/{len(o.tests)} tests passed), tag withdrawn for {','.join(req.vos)}"
        )

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        o = _outcome(results)
        if o is None:
            return [_clean(f"{r.state}: {r}") for r in results if r.state != Ok]
        lines = [
            _clean(
                f"{o.release.key} from {o.request.repository}: "
                + ("installed now" if o.installed_now else "already installed")
                + f", status {o.status}"
                + (", tags changed" if o.tags_changed else "")
            )
        ]
        for t in o.tests:
            line = f"test {t.name}: {t.verdict} in {t.seconds:.2f}s"
            last = (t.output_tail.strip().splitlines() or [""])[-1]
            if not t.ok and last:
                line += f"; last output: {last[:200]}"
            lines.append(_clean(line))
        return lines


# runtime environment


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Reports bad usage as UNKNOWN (Nagios' convention) instead of exiting 2 (CRITICAL)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"usage: {message} (see --help)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="check_preview_client", description=__doc__)
    add = p.add_argument
    add("--component", required=True, help="The component to converge, e.g. glite-UI.")
    add("--version", required=True, help="The version of the component, e.g. 3.2.8-0.")
    add(
        "--repository",
        required=True,
        metavar="PATH_OR_URL",
        help="The repository to read index.json and the tarball from: a directory, or an "
        "http(s) URL of the same layout.",
    )
    add(
        "--preview-root",
        required=True,
        type=Path,
        metavar="DIR",
        help="The directory preview versions are installed under, beside production; the "
        "probe writes nothing else except the tags files.",
    )
    add(
        "--info-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="The information directory holding the tags files "
        "(<info-dir>/<subcluster>/<vo>/<vo>.list).",
    )
    add(
        "--subcluster",
        required=True,
        metavar="ID",
        help="The GlueSubClusterUniqueID whose tags are published.",
    )
    add(
        "--vo",
        dest="vos",
        action="append",
        required=True,
        metavar="VO",
        help="A VO to tag the version for; repeat the option for each VO.",
    )
    add(
        "--profile-d",
        required=True,
        type=Path,
        metavar="DIR",
        help="The site's production profile.d, whose *.sh scripts the preview environment "
        "sources first.",
    )
    add(
        "--config-hook",
        type=Path,
        metavar="PATH",
        help="The site's local configuration hook, run for releases that need site "
        "configuration (default: <preview-root>/hooks/configure).",
    )
    add(
        "-t",
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"Abort the whole run with UNKNOWN after this many seconds (default: "
        f"{DEFAULT_TIMEOUT:g}), including the wait for another run to finish.",
    )
    add(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="Say more: each test with -v, progress with -vv, details with -vvv.",
    )
    return p


def _request(args: argparse.Namespace, started: float) -> Request:
    hook = args.config_hook or args.preview_root / "hooks" / "configure"
    return Request(
        component=args.component,
        version=args.version,
        repository=args.repository,
        preview_root=args.preview_root.absolute(),
        info_dir=args.info_dir.absolute(),
        subcluster=args.subcluster,
        vos=tuple(args.vos),
        profile_d=args.profile_d.absolute(),
        config_hook=hook.absolute(),
        deadline=started + args.timeout,
    )


@nagiosplugin.guarded(verbose=0)
def main(argv: Sequence[str] | None = None) -> None:
    started = time.monotonic()
    request, problem, verbose, timeout = None, "", 0, 0
    try:
        args = make_parser().parse_args(argv)
        verbose, timeout = args.verbose, max(1, math.ceil(args.timeout))
        request = _request(args, started)
    except (_UsageError, BadInput) as e:
        problem = str(e)
    check = nagiosplugin.Check(
        PreviewClient(request, started, problem),
        OutcomeContext("outcome"),
        LocalTestContext("local_test"),
        PerfdataContext("perfdata"),
        PreviewClientSummary(),
    )
    check.main(verbose=verbose, timeout=timeout)


if __name__ == "__main__":
    main()
