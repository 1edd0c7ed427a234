"""Where a verified version is announced: the publishers, behind one small interface.

A site file's ``publish`` names them (default ``["tags"]``):

- ``tags``: the lcg-tags file the GIP provider reads (:mod:`probes._tagsfile`, the gLite world);
- ``arc-rte``: an ARC RunTimeEnvironment in A-REX's runtime directory, enabled with ``arcctl``
  (:mod:`probes._arc_rte`);
- ``condor``: the ``PPS_RTE`` machine attribute of an HTCondor pool, one ``config.d`` snippet
  (:mod:`probes._condor`).

Every publisher is driven by the same two calls of a probe run, ``Run.publish`` (a version's
tests all passed on the tree in place) and ``Run.withdraw`` (anything else), made at the same
points of the converge decision, in the same order, so a tag, an RTE and a machine attribute
never disagree about a version: each says "verified" only after the state record says so, and
each stops saying it before the tree changes.  A retirement (the repository no longer lists the
version as a preview, or ``--uninstall``) also removes what a publisher keeps for a version
(the RTE script).  :meth:`Publisher.owned` lists what pps published, for the uninstall.

Each publisher keeps the tags file's promises: symbolic links refused, anything pps did not write
never changed or disabled, foreign entries untouched, every write atomic under a lock beside
what it changes, and a steady state that reads but does not write.  A refusal is one line
(:class:`probes._safefs.UnsafePath`, :class:`PublishError`).

Imported only when the site file asks for more than ``tags``: a tags-only site's run does not
load this module nor the publishers.
"""

from __future__ import annotations

import contextlib

from pps.errors import PPSError
from probes._publish_base import Published, PublishError, remove_stale_tmp
from probes._siteconfig import PUBLISH_KINDS, check_publish

__all__ = ["KINDS", "DEFAULT_PUBLISH", "PublishError", "Published", "check_publish", "each",
           "publishers", "said", "uninstall", "TagsPublisher", "remove_stale_tmp"]  # fmt: skip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    class Publisher(Protocol):
        """One place a site announces its verified previews."""

        #: The site file's name for it: ``tags``, ``arc-rte``, ``condor``.
        kind: str
        #: What the status line should say besides (a reconfiguration not asked for...).
        said: list[str]

        def publish(self, component: str, version: str, vos: Sequence[str]) -> bool:
            """Announce *component* *version* (verified) for *vos*; True if anything changed."""

        def withdraw(self, component: str, version: str, vos: Sequence[str]) -> bool:
            """Stop announcing it (for *vos*); True if anything changed."""

        def retire(self, component: str, version: str, vos: Sequence[str]) -> bool:
            """Withdraw it and remove what the publisher keeps for it; True if changed."""

        def owned(self) -> list[Published]:
            """What pps announces here now (for the uninstall and the read-back)."""


#: The publishers a site file may name, in the order a run calls them.
KINDS = PUBLISH_KINDS
DEFAULT_PUBLISH = ("tags",)


def each(
    publishers: Sequence[Publisher],
    action: str,
    component: str,
    version: str,
    vos: Sequence[str],
    *,
    whole: bool = True,
) -> bool:
    """Call *action* (``publish``, ``withdraw``, ``retire``) on every publisher; True if any
    changed.

    A withdrawal or retirement goes on to every publisher even when one fails (the first failure
    is raised after the others have withdrawn); a publication is all or nothing: at the first
    failure what the others announced is withdrawn again, and the failure raised.  A
    withdrawal that is not *whole* (only some VOs lose the version: the site file dropped them,
    the version is still verified) leaves the publishers that announce a version to every VO at
    once (``per_vo = False``: the ARC RTE) alone."""
    changed = False
    failed: PPSError | OSError | None = None
    for publisher in publishers:
        if action != "publish" and not whole and not getattr(publisher, "per_vo", True):
            continue
        try:
            changed = getattr(publisher, action)(component, version, vos) or changed
        except (PPSError, OSError) as e:
            if action == "publish":
                # all or nothing: what the others announced already is taken back
                with contextlib.suppress(PPSError, OSError):
                    each(publishers, "withdraw", component, version, vos)
                raise
            failed = failed or e
    if failed is not None:
        raise failed
    return changed


def said(publishers: Sequence[Publisher]) -> list[str]:
    """What the publishers want the status line to say besides."""
    return [line for p in publishers for line in p.said]


def uninstall(publishers: Sequence[Publisher]) -> list[str]:
    """Take back everything the publishers other than the tags file announce (``--uninstall``:
    the tags file has its own sweep): every RTE pps wrote, the HTCondor snippet.  One sentence
    per publisher that changed something."""
    done = []
    for publisher in publishers:
        if publisher.kind == "tags":
            continue
        owned = publisher.owned()
        for item in owned:
            publisher.retire(item.component, item.version, [])
        remove = getattr(publisher, "remove", None)
        removed = remove() if remove is not None else False
        if owned or removed:
            names = ", ".join(sorted({item.name for item in owned})) or "nothing announced"
            done.append(f"{publisher.kind}: withdrew {names}")
    return done


class TagsPublisher:
    """The tags file: ``VO-<vo>-PPS-<component>-<version>`` and ``PPS-PREVIEW`` for each VO
    (the same edits a tags-only run makes in ``probes._run.Run``)."""

    kind = "tags"

    def __init__(self, info_dir: str, subcluster: str) -> None:
        self.info_dir = info_dir
        self.subcluster = subcluster
        self.said: list[str] = []

    def publish(self, component: str, version: str, vos: Sequence[str]) -> bool:
        from pps.names import PREVIEW_CAPABILITY, version_tag
        from probes import _tagsfile

        changed = False
        for vo in vos:
            tags = [version_tag(vo, component, version), PREVIEW_CAPABILITY]
            changed = _tagsfile.add_tags(self.info_dir, self.subcluster, vo, tags) or changed
        return changed

    def withdraw(self, component: str, version: str, vos: Sequence[str]) -> bool:
        from pps.errors import BadInput
        from pps.names import version_tag
        from probes import _tagsfile

        changed = False
        for vo in dict.fromkeys(vos):
            try:
                tag = version_tag(vo, component, version)
            except BadInput:
                continue  # a hand-edited record: never let it stop a withdrawal
            changed = _tagsfile.remove_tags(self.info_dir, self.subcluster, vo, [tag]) or changed
        return changed

    retire = withdraw

    def owned(self) -> list[Published]:
        from pps.names import parse_version_tag
        from probes import _tagsfile

        found = []
        for vo, where, content in _tagsfile.tags_files_of(self.info_dir, self.subcluster):
            if not isinstance(content, bytes):
                continue
            for tag in _tagsfile.parse_tags(content):
                parsed = parse_version_tag(tag)
                if parsed is not None and parsed.vo.casefold() == vo.casefold():
                    found.append(Published(self.kind, parsed.component, parsed.version, tag, where))
        return found


def publishers(
    kinds: Sequence[str],
    *,
    info_dir: str,
    subcluster: str,
    preview_root: str,
    arc_conf: str = "/etc/arc.conf",
    arcctl: str = "/usr/sbin/arcctl",
    arc_runtimedir: str = "",
    condor_config: str = "",
    condor_reconfig: str = "",
    deadline: float = float("inf"),
) -> list[Publisher]:
    """The publishers *kinds* name, in :data:`KINDS` order, each imported only when named."""
    out: list[Publisher] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        if kind == "tags":
            out.append(TagsPublisher(info_dir, subcluster))
        elif kind == "arc-rte":
            from probes._arc_rte import ArcRtePublisher

            out.append(
                ArcRtePublisher(
                    arc_conf,
                    preview_root,
                    arcctl=arcctl,
                    runtimedir=arc_runtimedir,
                    deadline=deadline,
                )  # fmt: skip
            )
        else:
            from probes._condor import CondorPublisher

            out.append(
                CondorPublisher(
                    condor_config, preview_root, reconfig=condor_reconfig, deadline=deadline
                )
            )
    return out
