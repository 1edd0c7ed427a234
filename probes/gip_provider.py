"""Print the preview tags of one subcluster as GLUE 1.3 and GLUE 2.0 LDIF (a GIP provider).

bdii-update runs it every few minutes.  Every tag in the subcluster's tags files (every VO
directory, and the legacy <info-dir>/<vo>/<vo>.list files) is published as a live
RunTimeEnvironment (GLUE 2.0 state installedverified); versions whose state record says broken
are published in GLUE 2.0 only, as installedbroken, for each VO they were tagged for, and retired
ones (tree kept for its grace period) as pendingremoval.  Tokens that are not printable ASCII
are not published (with a warning).  A missing
info dir or preview root is not an error: the subcluster is published with what there is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from pps.errors import BadInput, PPSError
from pps.glue import (
    STATE_BROKEN,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    PublishedTag,
    write_site_ldif,
)
from pps.names import check_site_name, check_subcluster, parse_version_tag, version_tag
from probes._site import SiteLayout
from probes._state import BROKEN, RETIRED, StateRecord, iter_state_files, read_state
from probes._tagsfile import parse_tags, tags_files_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

PROG = "pps-gip-provider"
#: What a tag may look like to be published: printable ASCII, no spaces (GLUE 1.3 IA5 values).
_PUBLISHABLE = re.compile(r"[!-~]{1,255}\Z")


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def state_records(preview_root: Path) -> list[StateRecord]:
    """Every readable state record under *preview_root* (unreadable ones are skipped, said)."""
    records = []
    for path in iter_state_files(SiteLayout(preview_root).state_dir):
        try:
            record = read_state(path)
        except (BadInput, OSError) as e:
            _warn(f"skipping {path}: {e}")
            continue
        if record is not None:
            records.append(record)
    return records


def site_tags(
    info_dir: Path, subcluster: str, records: Sequence[StateRecord]
) -> list[PublishedTag]:
    """The tags to publish for *subcluster*: the tags files, then broken versions."""
    versions: dict[str, str] = {}
    broken: dict[str, PublishedTag] = {}
    for r in records:
        for vo in r.vos:
            try:
                tag = version_tag(vo, r.component, r.version)
            except BadInput:
                continue
            versions[tag.casefold()] = r.version
            if r.status == BROKEN:
                broken[tag.casefold()] = PublishedTag(tag, STATE_BROKEN, r.version)
            elif r.status == RETIRED:
                broken[tag.casefold()] = PublishedTag(tag, STATE_PENDING_REMOVAL, r.version)
    published: dict[str, PublishedTag] = {}
    for _vo, path, content in tags_files_of(info_dir, subcluster):
        if isinstance(content, Exception):
            _warn(f"skipping {path}: {content}")
            continue
        for tag in parse_tags(content):
            if not _PUBLISHABLE.match(tag):
                _warn(f"skipping {tag!r} in {path}: not a RunTimeEnvironment value")
                continue
            key = tag.casefold()
            if key in published:
                continue
            parsed = parse_version_tag(tag)
            version = versions.get(key) or (parsed.version if parsed else "")
            published[key] = PublishedTag(tag, STATE_VERIFIED, version)
    # The probe's latest verdict wins over a tags file that still lists a broken version.
    published.update(broken)
    return sorted(published.values(), key=lambda t: t.tag.casefold())


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see --help)")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__)
    p.add_argument("--site", required=True, help="The site name (GOCDB), e.g. INFN-PISA.")
    p.add_argument(
        "--subcluster", required=True, metavar="ID", help="The GlueSubClusterUniqueID to publish."
    )
    p.add_argument(
        "--cluster",
        metavar="ID",
        help="The GlueClusterUniqueID the subcluster belongs to (default: the subcluster).",
    )
    p.add_argument(
        "--info-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="The information directory holding the tags files.",
    )
    p.add_argument(
        "--preview-root",
        required=True,
        type=Path,
        metavar="DIR",
        help="The preview root whose state records say which versions are broken.",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
        site = check_site_name(args.site)
        subcluster = check_subcluster(args.subcluster)
        cluster = check_subcluster(args.cluster, "cluster") if args.cluster else subcluster
        tags = site_tags(args.info_dir, subcluster, state_records(args.preview_root))
        ldif = write_site_ldif(site=site, cluster=cluster, subcluster=subcluster, tags=tags)
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
