"""Pushing a release to its target sites.

For each site the update class targets: upload the tarball and a one-release ``index.json`` into
the site's incoming area (``<preview_root>/.pps/incoming/<component>-<version>/``), run the probe
there against that directory, and record what it said.  Sites are worked on in parallel, bounded;
a dead site is an outcome like any other and never hides the rest.  Everything the site does
(verify, install, test, tag) is the probe's business.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from distributor.state import Outcome, StateStore
from distributor.transport import Transport, open_transport
from pps.errors import BadInput, IntegrityError, PPSError
from pps.inventory import Config, Site
from pps.repository import INDEX_NAME, SIGNATURE_NAME, Index, Release, Repository

NAGIOS_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
DEFAULT_PROBE_TIMEOUT = 600.0
_NAGIOS_PREFIX = re.compile(r"^\S+ (?:OK|WARNING|CRITICAL|UNKNOWN)(?: - |: )")


def target_sites(config: Config, release: Release, names: Sequence[str] = ()) -> list[Site]:
    """The sites *release* goes to; *names* narrows them and must all be targets."""
    targets = [s for s in config.sites if s.takes(release.update_class)]
    if not names:
        return targets
    chosen = []
    for name in names:
        site = config.site(name)
        if site not in targets:
            raise BadInput(
                f"site {name} (partner {site.partner.value}) does not take "
                f"{release.update_class.value} releases"
            )
        chosen.append(site)
    return chosen


def incoming_dir(site: Site, release: Release) -> str:
    return f"{site.preview_root.rstrip('/')}/.pps/incoming/{release.component}-{release.version}"


def probe_args(
    t: Transport, release: Release, repository: str, timeout: float, *, site_file: bool
) -> list[str]:
    """The probe's command line for *release* at the site behind *t* (the flag contract).

    A site with a site file is described by it (the same file its Nagios reads, so a push and
    a scheduled run cannot disagree); otherwise the inventory describes the site.
    """
    site = t.site
    args = [
        "--component", release.component,
        "--version", release.version,
        "--repository", repository,
        "--timeout", f"{timeout:g}",
    ]  # fmt: skip
    if site_file:
        return ["--site-config", t.site_path(site.site_config), *args]
    args = ["--no-site-config", *args]
    args += [
        "--preview-root", t.site_path(site.preview_root),
        "--info-dir", t.site_path(site.info_dir),
        "--subcluster", site.subcluster,
        "--profile-d", t.site_path(site.profile_d),
    ]  # fmt: skip
    for vo in site.vos:
        args += ["--vo", vo]
    return args


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
    from distributor.signing import load_key, signature

    return PushIndex(data, signature(load_key(signing_key), data))


def outcome_of(site: Site, release: Release, exit_code: int, stdout: str, stderr: str,
               seconds: float) -> Outcome:  # fmt: skip
    """Turn a probe run into an outcome: Nagios state from the exit code, its status line."""
    state = NAGIOS_STATES.get(exit_code, "UNKNOWN")
    line = next((ln.strip() for ln in stdout.splitlines() if ln.strip()), "")
    # "PREVIEW_CLIENT OK - text | perfdata": the state is a column of its own, keep the text
    summary = _NAGIOS_PREFIX.sub("", line.split("|", 1)[0].strip())
    if not summary:
        tail = [ln for ln in stderr.splitlines() if ln.strip()][-1:]
        summary = f"probe exited {exit_code} without a status line" + (
            f": {tail[0].strip()}" if tail else ""
        )
    if exit_code not in NAGIOS_STATES:
        summary = f"probe exited {exit_code}: {summary}"
    return Outcome(site.name, release.component, release.version, state, summary, seconds)


def push_to_site(
    site: Site,
    release: Release,
    repo: Repository,
    *,
    index: PushIndex,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    transport_factory: Callable[[Site], Transport] = open_transport,
) -> Outcome:
    """Carry *release* to *site* and run the probe; every failure becomes an outcome."""
    try:
        with transport_factory(site) as t:
            incoming = incoming_dir(site, release)
            t.put_file(repo.path_of(release.tarball), f"{incoming}/{release.tarball}")
            if index.signature is not None:
                t.put_bytes(index.signature, f"{incoming}/{SIGNATURE_NAME}")
            t.put_bytes(index.data, f"{incoming}/{INDEX_NAME}")
            has_site_file = t.exists(site.site_config)
            res = t.run(
                "check_preview_client",
                probe_args(t, release, t.site_path(incoming), timeout, site_file=has_site_file),
                timeout=timeout + 30,
            )
            return outcome_of(site, release, res.exit_code, res.stdout, res.stderr, res.seconds)
    except (PPSError, OSError) as e:
        return Outcome(site.name, release.component, release.version, "UNKNOWN", str(e), 0.0)
    except Exception as e:  # noqa: BLE001 - one site's surprise must not end the whole push
        summary = f"internal error: {type(e).__name__}: {e}"
        return Outcome(site.name, release.component, release.version, "UNKNOWN", summary, 0.0)


def check_tarball(repo: Repository, release: Release) -> None:
    """Refuse to carry a tarball that does not match its index entry (one line, before any
    site is touched): the sites would refuse it anyway, one by one."""
    path = repo.path_of(release.tarball)
    try:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise IntegrityError(f"cannot read the tarball of {release.key}: {e}") from None
    if size != release.size or digest.hexdigest() != release.sha256:
        raise IntegrityError(
            f"{path} does not match index.json (sha256 {digest.hexdigest()[:16]}..., "
            f"{size} bytes; expected {release.sha256[:16]}..., {release.size} bytes): "
            "not pushing it"
        )


@dataclass
class PushReport:
    release: Release
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]


def push_release(
    repo: Repository,
    release: Release,
    sites: Iterable[Site],
    store: StateStore,
    *,
    parallel: int = 4,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    on_outcome: Callable[[Outcome], None] | None = None,
    transport_factory: Callable[[Site], Transport] = open_transport,
    signing_key: Path | None = None,
) -> PushReport:
    """Push to every site in *sites* (at most *parallel* at once), recording each outcome."""
    sites = list(sites)
    if parallel < 1:
        raise BadInput(f"--parallel {parallel} must be at least 1")
    check_tarball(repo, release)
    index = push_index(repo, release, signing_key)
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    with store.push(release.component, release.version) as push_id:

        def one(site: Site) -> None:
            outcome = push_to_site(
                site, release, repo, index=index, timeout=timeout,
                transport_factory=transport_factory,
            )  # fmt: skip
            with lock:
                outcome = store.record(push_id, outcome)
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)

        if sites:
            with ThreadPoolExecutor(max_workers=min(parallel, len(sites))) as pool:
                for f in [pool.submit(one, s) for s in sites]:
                    f.result()
    order = {s.name: i for i, s in enumerate(sites)}
    outcomes.sort(key=lambda o: order[o.site])
    return PushReport(release, outcomes)
