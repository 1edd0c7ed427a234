"""Pushing a release to its target sites.

For each site the update class targets: upload a one-release ``index.json`` (signed when the
repository signs) and, over SSH, the one-file probe into the site's incoming area
(``<preview_root>/.pps/incoming/<component>-<version>/``), run the probe there against that
directory with ``--push-stream``, and record what it said.  The tarball is not uploaded first:
when the probe needs it, it asks, and the push streams it on the probe's standard input, which
hashes and unpacks it as it arrives (one transfer, one pass; a cut stream resumes at the next
push, see probes/_pushed.py).  Sites are worked on in parallel, bounded; a dead site is an
outcome like any other and never hides the rest.  Everything the site does (verify, install,
test, tag) is the probe's business.

The controller can stop at any moment (its ``stop`` event: Ctrl-C or SIGTERM in the CLI): it
launches no new site, interrupts the probes running now (they say UNKNOWN and release their
locks), and records those sites as INTERRUPTED.  A canary group goes first when asked; a failure
rate above ``max_fail`` stops the launching.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from distributor.push.scheduler import Seen, next_step
from distributor.push.targets import incoming_dir, probe_args
from distributor.repository.check import check_tarball
from distributor.repository.signing import load_key, signature
from distributor.store import INTERRUPTED, Outcome, Store
from distributor.transport import open_transport
from distributor.transport.base import RUN_SLACK, StreamFeed, Transport, site_budget
from distributor.transport.bundle import bundle_bytes
from pps.errors import BadInput, PPSError
from pps.inventory import Site
from pps.repository import INDEX_NAME, SIGNATURE_NAME, Index, Release, Repository
from pps.tomlfile import TomlError, loads

NAGIOS_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
DEFAULT_PROBE_TIMEOUT = 600.0
#: Sites worked on at once: network-bound work; a 2-core operator box drives dozens.
DEFAULT_PARALLEL = 16
_NAGIOS_PREFIX = re.compile(r"^\S+ (?:OK|WARNING|CRITICAL|UNKNOWN)(?: - |: )")


@dataclass(frozen=True)
class PushIndex:
    """The one-release index a push uploads beside the tarball (and its signature)."""

    data: bytes
    signature: bytes | None = None


def push_index(repo: Repository, release: Release, signing_key: Path | None) -> PushIndex:
    """The index a push uploads: only *release*, marked as a subset (a site never retires
    other versions because of it), with the repository's serial, signed when the repository
    signs."""
    index = Index([release], extra={"serial": repo.load().serial, "subset": True})
    data = index.to_json()
    if signing_key is None:
        return PushIndex(data)

    return PushIndex(data, signature(load_key(signing_key), data))


def outcome_of(site: Site, release: Release, exit_code: int, stdout: str, stderr: str,
               seconds: float, failure: str = "") -> Outcome:  # fmt: skip
    """Turn a probe run into an outcome: Nagios state from the exit code, its status line, and
    its other lines as the long output.  A run the transport had to stop (*failure*: it did
    not finish in time, printed too much, ignored an interruption) is UNKNOWN with that
    reason, whatever its status line said (kept as the first line of the long output).  The
    summary is one line of at most :data:`SUMMARY_MAX` characters."""
    state = NAGIOS_STATES.get(exit_code, "UNKNOWN")
    lines = [ln.rstrip() for ln in stdout.splitlines() if ln.strip()]
    line = lines[0].strip() if lines else ""
    if failure:
        return Outcome(site.name, release.component, release.version, "UNKNOWN",
                       one_line(failure), seconds, output="\n".join(lines))  # fmt: skip
    if not _NAGIOS_PREFIX.match(line):
        state = "UNKNOWN"  # no status line: the probe did not get to say (a crash, no Python)
    # "PREVIEW_CLIENT OK - text | perfdata": the state is a column of its own, keep the text
    summary = _NAGIOS_PREFIX.sub("", line.split("|", 1)[0].strip())
    if not summary:
        tail = [ln for ln in stderr.splitlines() if ln.strip()][-1:]
        summary = f"probe exited {exit_code} without a status line" + (
            f": {tail[0].strip()}" if tail else ""
        )
    if exit_code not in NAGIOS_STATES:
        summary = f"probe exited {exit_code}: {summary}"
    return Outcome(site.name, release.component, release.version, state, one_line(summary),
                   seconds, output="\n".join(lines[1:]),
                   live=state == "OK" and _perfdata(line).get("live") == "1")  # fmt: skip


def _perfdata(line: str) -> dict[str, str]:
    """``{label: value}`` of a status line's perfdata (``text | a=1;;; b=2s``), units kept."""
    _, _, data = line.partition("|")
    found = {}
    for item in data.split():
        label, sep, value = item.partition("=")
        if sep:
            found[label.strip("'")] = value.split(";", 1)[0]
    return found


#: The longest summary kept (a status line is a few dozen characters).
SUMMARY_MAX = 500


def one_line(text: str) -> str:
    """*text* as one line of at most :data:`SUMMARY_MAX` characters."""
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 3] + "..."


#: Site file keys compared with the inventory: where they differ, a push and Nagios would.
_COMPARED = ("vos", "subcluster", "preview_root", "info_dir", "profile_d")


def site_file_differences(t: Transport, data: bytes) -> list[str]:
    """Where the site's own site file says otherwise than the inventory (the file wins)."""
    site = t.site
    try:
        found = loads(data.decode("utf-8"))
    except (UnicodeDecodeError, TomlError) as e:
        return [f"its site file {site.site_config} cannot be read ({e}): the probe will say why"]
    said = []
    for key in _COMPARED:
        if key not in found:
            continue
        mine: object = getattr(site, key)
        theirs: object = found[key]
        if key == "vos":
            mine, theirs = sorted(site.vos), sorted(theirs) if isinstance(theirs, list) else theirs
        elif key in ("preview_root", "info_dir", "profile_d"):
            mine = t.site_path(str(mine))
        if mine != theirs:
            said.append(f"site file says {key} = {theirs!r}, the inventory {mine!r}")
    return said


class Stop(threading.Event):
    """Set to stop a push: nothing new is launched, running probes are interrupted."""


def push_to_site(
    site: Site,
    release: Release,
    repo: Repository,
    *,
    index: PushIndex,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    transport_factory: Callable[[Site], Transport] = open_transport,
    bundle: bytes | None = None,
    running: dict[str, Transport] | None = None,
    stop: Stop | None = None,
    carry_tarball: bool = True,
    probe_extra: Sequence[str] = (),
) -> Outcome:
    """Carry *release* to *site* and run the probe; every failure becomes an outcome.

    The open transport is put in *running* (by site name) while it works, so that the
    controller can interrupt it; a site interrupted that way is INTERRUPTED."""
    warnings: list[str] = []
    notes: list[str] = []  # what the push itself did at the site, for the long output

    def interrupted(summary: str, seconds: float = 0.0, output: str = "") -> Outcome:
        return Outcome(site.name, release.component, release.version, INTERRUPTED, summary,
                       seconds, output=output)  # fmt: skip

    started = time.monotonic()
    try:
        t = transport_factory(site)
        # Known to the controller before it connects: an interruption reaches it there too.
        t.deadline = started + site_budget(site, timeout)
        if running is not None:
            running[site.name] = t
        if stop is not None and stop.is_set():
            t.close()
            return interrupted("interrupted before connecting")
        with t:
            if stop is not None and stop.is_set():
                return interrupted("interrupted before the upload")
            if bundle is not None:
                t.ensure_probe(bundle)
            incoming = incoming_dir(site, release)
            if index.signature is not None:
                t.put_bytes(index.signature, f"{incoming}/{SIGNATURE_NAME}")
            t.put_bytes(index.data, f"{incoming}/{INDEX_NAME}")
            site_file = t.read_bytes(site.site_config, 1 << 20)
            if site_file is not None:
                warnings = site_file_differences(t, site_file)
            if stop is not None and stop.is_set():
                return interrupted("interrupted before the probe ran")
            args = probe_args(
                t, release, t.site_path(incoming), timeout, site_file=site_file is not None
            )
            stream = None
            if carry_tarball:  # streamed when the probe asks for it (probes/_pushed.py)
                stream = StreamFeed(repo.path_of(release.tarball))
                args.append("--push-stream")
            res = t.run("check_preview_client", args + list(probe_extra),
                        timeout=timeout + RUN_SLACK, stream=stream)  # fmt: skip
            outcome = outcome_of(site, release, res.exit_code, res.stdout, res.stderr,
                                 res.seconds, failure=res.failure)  # fmt: skip
            if stream is not None and stream.describe():
                notes.append(stream.describe())
            if stop is not None and stop.is_set() and outcome.state == "UNKNOWN":
                outcome = interrupted(outcome.summary, outcome.seconds, outcome.output)
    except (PPSError, OSError) as e:
        if stop is not None and stop.is_set():
            return interrupted(one_line(str(e)), time.monotonic() - started)
        return Outcome(site.name, release.component, release.version, "UNKNOWN",
                       one_line(str(e)), time.monotonic() - started)  # fmt: skip
    except Exception as e:  # noqa: BLE001 - one site's surprise must not end the whole push
        summary = one_line(f"internal error: {type(e).__name__}: {e}")
        return Outcome(site.name, release.component, release.version, "UNKNOWN", summary, 0.0)
    finally:
        if running is not None:
            running.pop(site.name, None)
    said = [f"warning: {w}" for w in warnings] + notes
    if said:
        outcome = Outcome(**{**outcome.__dict__,
                             "output": "\n".join([*said, outcome.output]).strip()})  # fmt: skip
    return outcome


@dataclass
class PushReport:
    release: Release
    outcomes: list[Outcome]
    #: Sites never started: the push was stopped (Ctrl-C, a failed canary, too many failures).
    not_started: list[str] = field(default_factory=list)
    #: Why the push stopped launching sites early ("" when it did not).
    stopped: str = ""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]


def push_release(
    repo: Repository,
    release: Release,
    sites: Iterable[Site],
    store: Store,
    *,
    parallel: int = DEFAULT_PARALLEL,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[Site], None] | None = None,
    transport_factory: Callable[[Site], Transport] = open_transport,
    signing_key: Path | None = None,
    canary: int = 0,
    max_fail: float | None = None,
    stop: Stop | None = None,
    withdraw: bool = False,
    probe_extra: Sequence[str] = (),
) -> PushReport:
    """Push to every site in *sites* (at most *parallel* at once), recording each outcome.

    With *canary* the first sites go first and the rest only if they all come back OK; with
    *max_fail* (a percentage of the sites) no new site starts once more have failed.  Setting
    *stop* interrupts the push.  With *withdraw* (*release* is withdrawn) no tarball goes: the
    probe at each site retires the version; a release no longer in preview is always pushed
    so, and the push is recorded as one that told its sites to retire it."""
    # One piece: the set-up, the threads and the store's push record share one lock and one
    # list of outcomes; the decisions are distributor.push.scheduler.next_step's.
    sites = list(sites)
    withdraw = withdraw or not release.in_preview
    if parallel < 1:
        raise BadInput(f"--parallel {parallel} must be at least 1")
    if not withdraw:
        check_tarball(repo, release)
    index = push_index(repo, release, signing_key)
    bundle = None
    if any(s.transport == "ssh" for s in sites):
        bundle = bundle_bytes()
    stop = stop or Stop()
    store.close_dead_pushes()
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    running: dict[str, Transport] = {}
    why = ""
    with store.push(release.component, release.version, retire=withdraw) as push_id:

        def one(site: Site) -> Outcome:
            row = store.start(push_id, site.name, release.component, release.version)
            outcome = push_to_site(
                site, release, repo, index=index, timeout=timeout,
                transport_factory=transport_factory, bundle=bundle, running=running, stop=stop,
                carry_tarball=not withdraw, probe_extra=probe_extra,
            )  # fmt: skip
            if withdraw:  # what the store records for the row, on the outcome too
                outcome = Outcome(**{**outcome.__dict__, "retire": True})
            with lock:
                outcome = store.finish(row, outcome)
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)
            return outcome

        queue = list(sites)
        canaries = frozenset(s.name for s in queue[:canary])
        told: set[str] = set()  # sites whose probe was asked to stop
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(sites)))) as pool:
            active: set[Future[Outcome]] = set()
            while True:
                with lock:
                    seen = [Seen(o.site, o.state, o.failed) for o in outcomes]
                step = next_step(
                    why=why, interrupted=stop.is_set(), outcomes=seen, total=len(sites),
                    max_fail=max_fail, canaries=canaries, queue=[s.name for s in queue],
                    active=len(active), parallel=parallel,
                )  # fmt: skip
                why, canaries = step.why, step.canaries
                if why == "interrupted":
                    for name, t in list(running.items()):
                        if name not in told:
                            told.add(name)
                            t.interrupt()
                for site in queue[: step.launch]:
                    if on_start:
                        on_start(site)
                    active.add(pool.submit(one, site))
                del queue[: step.launch]
                if step.finished:
                    break
                if active:
                    _, active = wait(active, timeout=0.2, return_when=FIRST_COMPLETED)
    started = {o.site for o in outcomes}
    order = {s.name: i for i, s in enumerate(sites)}
    outcomes.sort(key=lambda o: order[o.site])
    not_started = [s.name for s in sites if s.name not in started]
    return PushReport(release, outcomes, not_started, why)
