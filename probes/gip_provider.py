"""Print the preview tags of one subcluster as GLUE LDIF, for bdii-update (a GIP provider or
plugin).

Provider mode (the default; install it in BDII_PROVIDER_DIR): full entries.  The GLUE 1.3
SubCluster entry with every value a SubCluster publishes (from the site file's [glue] table,
documented defaults otherwise), the live tags as its RunTimeEnvironment values, and one GLUE 2.0
ApplicationEnvironment per tag with its state.  Use it where nothing else publishes the
subcluster; --glue2-only prints the GLUE 2.0 entries alone.

Plugin mode (--mode plugin; install it in BDII_PLUGIN_DIR): only a change record adding the
live tags to the RunTimeEnvironment values of the SubCluster entry the site's own CE provider
publishes under the same DN; bdii-update merges it into that entry.  GLUE 2.0 entries cannot come
from a plugin (bdii-update only merges a plugin's records into entries a provider printed), so a
plugin-mode site also installs '--glue2-only' as a provider.

Tags: every tag in the subcluster's tags files (every VO directory, and the legacy
<info-dir>/<vo>/<vo>.list files) is live: GLUE 2.0 state installedverified, installednotverified
while the probe's last tests of the version could not complete.  Versions whose state record says
broken are published in GLUE 2.0 only, as installedbroken, for each VO they were tagged for, and
retired ones (tree kept for its grace period) as pendingremoval.  Tokens that are not printable
ASCII, or that contain 'dn:', are not published (with a warning).  A missing info dir or preview
root is not an error: the subcluster is published with what there is.

ARC-CE sites (a site file whose publish has "arc-rte"): provider mode also prints the pps RTEs
A-REX has enabled (<controldir>/rte/enabled/ENV/PPS/...) as A-REX's own provider publishes them,
GLUE 2.0 ApplicationEnvironments with AppName ENV/PPS/<COMPONENT> and AppVersion <VERSION>
(probes/_arc_rte.py), so the operator's embedded default reads an ARC site without a BDII.  At
the site A-REX publishes them itself: do not install this provider in an ARC-CE's BDII.  A site
file whose publish has neither "tags" nor "condor" publishes no broken or retired tags either.

HTCondor nodes (publish has "condor"): the tags the probe's config.d snippet advertises in
PPS_RTE are published as a tags file's are (the pool has no GLUE of its own).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pps.errors import BadInput, PPSError
from pps.glue import (
    DEFAULT_VALIDITY,
    GLUE2_SUFFIX,
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    PublishedTag,
    SubClusterInfo,
    default_manager_id,
    is_utc_timestamp,
    utc_timestamp,
    write_plugin_ldif,
    write_site_ldif,
)
from pps.names import check_site_name, check_subcluster, parse_version_tag, version_tag
from probes._records import BROKEN, RETIRED, VERIFIED, VersionRecord, iter_record_files, read_record
from probes._site import SiteLayout
from probes._siteconfig import DEFAULT_PATH, DEFAULTS, read_site_file
from probes._tagsfile import parse_tags, tags_files_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

PROG = "pps-gip-provider"
MODES = ("provider", "plugin")
#: What a tag may look like to be published: printable ASCII, no spaces (GLUE 1.3 IA5 values).
_PUBLISHABLE = re.compile(r"[!-~]{1,255}\Z")


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def state_records(preview_root: Path) -> list[VersionRecord]:
    """Every readable state record under *preview_root* (unreadable ones are skipped, said)."""
    records = []
    for path in iter_record_files(SiteLayout(preview_root).state_dir):
        try:
            record = read_record(path)
        except (BadInput, OSError) as e:
            _warn(f"skipping {path}: {e}")
            continue
        if record is not None:
            records.append(record)
    return records


def _removal_date(record: VersionRecord, retire_grace: int) -> str:
    """When a retired version's tree goes: its retirement plus the grace period."""
    if not record.retired_at or not is_utc_timestamp(record.retired_at):
        return ""
    import calendar  # only for retired versions

    retired = calendar.timegm(time.strptime(record.retired_at, "%Y-%m-%dT%H:%M:%SZ"))
    return utc_timestamp(retired + retire_grace)


def site_tags(
    info_dir: Path,
    subcluster: str,
    records: Sequence[VersionRecord],
    retire_grace: int = DEFAULTS["retire_grace"],
    *,
    advertised: Sequence[str] = (),
    unlisted: bool = True,
) -> list[PublishedTag]:
    """The tags to publish for *subcluster*: the tags files, then broken and retired versions.

    *advertised*: tags HTCondor's ``PPS_RTE`` holds (read as a tags file's).  *unlisted*: publish
    the broken and retired versions too (False at an ARC-CE that publishes no tags: A-REX
    publishes a disabled RTE nowhere, so nothing else says them).

    The probe's state record of a tagged version says its GLUE 2.0 state: verified ->
    installedverified, broken -> installedbroken, retired -> pendingremoval, anything else (tests
    that could not complete, the tag kept one more run) -> installednotverified.  Tags without a
    record (capability tags, tags pps did not write) are installedverified."""
    by_tag: dict[str, tuple[str, VersionRecord]] = {}
    for r in records:
        for vo in r.vos:
            try:
                tag = version_tag(vo, r.component, r.version)
            except BadInput:
                continue
            by_tag[tag.casefold()] = (tag, r)

    def published(tag: str, record: VersionRecord | None, version: str) -> PublishedTag:
        if record is None:
            return PublishedTag(tag, STATE_VERIFIED, version)
        state = {VERIFIED: STATE_VERIFIED, BROKEN: STATE_BROKEN, RETIRED: STATE_PENDING_REMOVAL}
        installed = record.installed_at or ""
        return PublishedTag(
            tag,
            state.get(record.status, STATE_NOT_VERIFIED),
            record.version,
            installed=installed if is_utc_timestamp(installed) else "",
            removal=_removal_date(record, retire_grace) if record.status == RETIRED else "",
        )

    out: dict[str, PublishedTag] = {}
    listed: list[tuple[str, Sequence[str]]] = []
    for _vo, path, content in tags_files_of(info_dir, subcluster):
        if isinstance(content, Exception):
            _warn(f"skipping {path}: {content}")
            continue
        listed.append((path, parse_tags(content)))
    if advertised:
        listed.append(("HTCondor's PPS_RTE", advertised))
    for path, found in listed:
        for tag in found:
            if not _PUBLISHABLE.match(tag):
                _warn(f"skipping {tag!r} in {path}: not a RunTimeEnvironment value")
                continue
            if "dn:" in tag:
                _warn(f"skipping {tag!r} in {path}: bdii-update cannot carry a value with 'dn:'")
                continue
            key = tag.casefold()
            if key not in out:
                parsed = parse_version_tag(tag)
                record = by_tag[key][1] if key in by_tag else None
                out[key] = published(tag, record, parsed.version if parsed else "")
    # The probe's latest verdict wins over a tags file that still lists a broken version, and
    # broken or retired versions are published (GLUE 2.0 only) whatever the tags files say.
    for key, (tag, r) in by_tag.items():
        if unlisted and r.status in (BROKEN, RETIRED):
            out[key] = published(tag, r, r.version)
    return sorted(out.values(), key=lambda t: t.tag.casefold())


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see --help)")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="--site, --subcluster, --cluster, --info-dir and --preview-root have keys of the "
        "same name in the site file (dashes as underscores); a flag given here wins.",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="provider",
        help="provider: full GLUE 1.3 + 2.0 entries (default); plugin: only the RTE values, "
        "merged by bdii-update into the site's own SubCluster entry.",
    )
    p.add_argument(
        "--glue2-only",
        action="store_true",
        help="Provider mode: print only the GLUE 2.0 ApplicationEnvironment entries (beside a "
        "plugin-mode run for GLUE 1.3).",
    )
    p.add_argument(
        "--publish-cluster",
        action="store_true",
        default=None,
        help="Provider mode: also print the GlueCluster entry the SubCluster hangs under (site "
        "file: [glue] publish_cluster), for a site where nothing else publishes it.",
    )
    p.add_argument(
        "--site-config",
        metavar="FILE",
        help=f"The probe's site file (default: {DEFAULT_PATH}, used when it exists).",
    )
    p.add_argument(
        "--no-site-config", action="store_true", help="Read no site file: only the flags."
    )
    p.add_argument("--site", help="The site name (GOCDB), e.g. INFN-PISA.")
    p.add_argument("--subcluster", metavar="ID", help="The GlueSubClusterUniqueID to publish.")
    p.add_argument(
        "--cluster",
        metavar="ID",
        help="The GlueClusterUniqueID the subcluster belongs to (default: the subcluster).",
    )
    p.add_argument(
        "--info-dir",
        type=Path,
        metavar="DIR",
        help=f"The information directory holding the tags files (default {DEFAULTS['info_dir']}).",
    )
    p.add_argument(
        "--preview-root",
        type=Path,
        metavar="DIR",
        help="The preview root whose state records say which versions are broken (default "
        f"{DEFAULTS['preview_root']}).",
    )
    return p


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The site file's values (when there is one) under the flags'."""
    if args.no_site_config and args.site_config:
        raise BadInput("--site-config and --no-site-config exclude each other")
    if args.mode == "plugin" and (args.glue2_only or args.publish_cluster):
        raise BadInput("--glue2-only and --publish-cluster are for --mode provider")
    path = args.site_config or DEFAULT_PATH
    have_file = not args.no_site_config and (args.site_config is not None or Path(path).exists())
    values: dict[str, Any] = dict(DEFAULTS)
    if have_file:
        values.update(read_site_file(path))
    if args.site is not None:
        values["site"] = check_site_name(args.site)
    if args.subcluster is not None:
        values["subcluster"] = check_subcluster(args.subcluster)
    if args.cluster is not None:
        values["cluster"] = check_subcluster(args.cluster, "cluster")
    for key in ("info_dir", "preview_root"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    for key in ("site", "subcluster"):
        if key not in values:
            why = f"the site file {path} has no {key!r}"
            if not have_file:
                why = "--no-site-config" if args.no_site_config else f"no site file at {path}"
            raise BadInput(f"--{key} is needed ({why})")
    values.setdefault("cluster", values["subcluster"])
    return values


def render(args: argparse.Namespace, values: dict[str, Any]) -> str:
    """The LDIF of *values* (settled settings) in the mode *args* ask for."""
    subcluster = values["subcluster"]
    records = state_records(Path(values["preview_root"]))
    publish = values.get("publish", ("tags",))
    tags = site_tags(
        Path(values["info_dir"]), subcluster, records, values["retire_grace"],
        advertised=_condor_tags(values) if "condor" in publish else (),
        unlisted="tags" in publish or "condor" in publish,
    )  # fmt: skip
    common = {"site": values["site"], "cluster": values["cluster"], "subcluster": subcluster}
    if args.mode == "plugin":
        return write_plugin_ldif(tags=tags, **common)
    glue: dict[str, Any] = values.get("glue", {})
    publish_cluster = args.publish_cluster
    if publish_cluster is None:
        publish_cluster = glue.get("publish_cluster", False)
    info = SubClusterInfo(**{k: glue[k] for k in SubClusterInfo.keys() if k in glue})
    created = utc_timestamp()
    ldif = write_site_ldif(
        tags=tags,
        manager_id=glue.get("manager_id", ""),
        info=info,
        glue13=not args.glue2_only,
        cluster_entry=publish_cluster,
        validity=glue.get("validity", DEFAULT_VALIDITY),
        glue2_parent=glue.get("glue2_parent", GLUE2_SUFFIX),
        created=created,
        **common,
    )
    if "arc-rte" in values.get("publish", ()):
        ldif += _arc_records(values, glue, created)
    return ldif


def _condor_tags(values: dict[str, Any]) -> list[str]:
    """The tags the HTCondor snippet advertises (the pool has no GLUE of its own)."""
    from probes._condor import CondorPublisher

    condor = CondorPublisher(values.get("condor_config", ""), values["preview_root"])
    try:
        return condor.advertised()
    except (PPSError, OSError) as e:  # the rest is published all the same
        _warn(f"not publishing HTCondor's PPS_RTE: {e}")
        return []


def _arc_records(values: dict[str, Any], glue: dict[str, Any], created: str) -> str:
    """An ARC site's enabled pps RTEs, as A-REX's own provider publishes them (GLUE 2.0)."""
    from probes._arc_rte import ArcRtePublisher, app_environment_records

    arc = ArcRtePublisher(
        values.get("arc_conf", "/etc/arc.conf"), values["preview_root"],
        runtimedir=values.get("arc_runtimedir", ""),
    )  # fmt: skip
    try:
        names = arc.enabled()
    except (PPSError, OSError) as e:  # the tags are published all the same
        _warn(f"not publishing the ARC RTEs: {e}")
        return ""
    records = app_environment_records(
        site=values["site"],
        subcluster=values["subcluster"],
        names=names,
        manager_id=glue.get("manager_id", "") or default_manager_id(values["subcluster"]),
        created=created,
        validity=glue.get("validity", DEFAULT_VALIDITY),
        parent=glue.get("glue2_parent", GLUE2_SUFFIX),
    )
    return "".join("\n" + r for r in records)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
        ldif = render(args, _settings(args))
    except (_UsageError, PPSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 1
    sys.stdout.write(ldif)
    return 0


if __name__ == "__main__":
    sys.exit(main())
