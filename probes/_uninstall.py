"""Taking pps off a site: every pps tag withdrawn, every tree pps installed removed.

``check_preview_client --uninstall`` (after the site's Nagios services for pps are gone, or
they would install the previews again) withdraws, from the subcluster's tags files, every tag in
pps's name space (``VO-<vo>-PPS-...`` of the file's own VO, and ``PPS-PREVIEW``) and nothing
else; removes every tree its state records name as pps's own (device and inode, and the install
marker) unless a process uses it, with the record; removes the component directories pps made
once they are empty, and what pps keeps in ``<preview_root>/.pps`` except the lock the run
holds.  It needs no repository.  A tree still in use stays, with its record, for the next
``--uninstall``; a path pps did not make is left alone.  Imported only for ``--uninstall``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pps.errors import BadInput, PPSError
from pps.names import PREVIEW_CAPABILITY
from probes import _tagsfile
from probes._install import COMPONENT_MARKER
from probes._records import RETIRED, iter_record_files, read_record, utc_now, write_record
from probes._retire import users_of
from probes._run import Outcome, Request, Run, lexists, owns, prepare
from probes._site import remove_tree

#: Status of an uninstall's outcome (reported like a retirement: OK, or WARNING with notes).
UNINSTALLED = RETIRED


def _is_pps_tag(tag: str, vo: str) -> bool:
    key = tag.casefold()
    return key == PREVIEW_CAPABILITY.casefold() or key.startswith(f"vo-{vo}-pps-".casefold())


def uninstall(req: Request) -> Outcome:
    """Remove pps from this site (the caller holds the site lock)."""
    run = Run(req)
    prepare(run)
    layout = run.layout
    # The tags first (no tag may name a tree that is gone): every one in pps's name space.
    withdrawn = 0
    for vo, where, content in _tagsfile.tags_files_of(req.info_dir, req.subcluster):
        if isinstance(content, Exception):
            run.notes.append(f"left {where} alone: {content}")
            continue
        ours = [t for t in _tagsfile.parse_tags(content) if _is_pps_tag(t, vo)]
        if ours and _tagsfile.remove_tags(req.info_dir, req.subcluster, vo, ours):
            withdrawn += len(ours)
            run.changed = True
    # ... and every RTE and machine attribute of pps's (the site file's other publishers)
    taken_back: list[str] = []
    pubs = run.publishers()
    if pubs is not None:
        from probes._publish import uninstall as take_back

        try:
            taken_back = take_back(pubs)
        except (PPSError, OSError) as e:
            run.notes.append(f"left what the publishers announce alone: {e}")
    removed: list[str] = []
    kept = False
    for path in iter_record_files(layout.state_dir):
        try:
            record = read_record(path)
        except BadInput as e:
            run.notes.append(f"left {path} alone: {e}")
            kept = True
            continue
        if record is None:
            continue
        key = f"{record.component} {record.version}"
        run.withdraw(record.component, record.version, run.every_vo(record))
        tree = layout.install_dir(record.component, record.version)
        if lexists(tree):
            if not owns(tree, record):
                run.notes.append(f"{tree} was not installed by pps: left alone")
                path.unlink()
                continue
            users = users_of(tree)
            if users:
                if record.status != RETIRED:
                    write_record(path, record.replace(status=RETIRED, retired_at=utc_now()))
                run.notes.append(
                    f"{tree} stays while in use by {', '.join(users[:3])}: run --uninstall "
                    "again once it is free"
                )
                kept = True
                continue
            remove_tree(tree)
        path.unlink()
        removed.append(key)
    _remove_component_dirs(layout.root)
    keep = {layout.lock_file.name} | ({layout.state_dir.name} if kept else set())
    _empty_pps_dir(layout.pps_dir, keep)
    versions = f"{len(removed)} version(s) removed" + (
        f" ({', '.join(removed)})" if removed else ""
    )
    message = (
        f"uninstalled pps from {req.subcluster}: {versions}, {withdrawn} pps tag(s) withdrawn"
        + "".join(f", {line}" for line in taken_back)
        + f"; what is left of it: {layout.pps_dir} (rm -rf {layout.pps_dir})"
    )
    return run.outcome(UNINSTALLED, None, message)


def _remove_component_dirs(root: Path) -> None:
    """Component directories pps made (they carry its marker) that hold nothing else now."""
    for entry in os.scandir(root):
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        names = os.listdir(entry.path)
        if names == [COMPONENT_MARKER]:
            remove_tree(Path(entry.path))


def _empty_pps_dir(pps_dir: Path, keep: set[str]) -> None:
    """What pps keeps in ``.pps`` (state, cache, incoming pushes, trust) but the names in
    *keep* (the lock; the state while a tree stays)."""
    for entry in os.scandir(pps_dir):
        if entry.name not in keep:
            remove_tree(Path(entry.path))
