"""The bulletin: a static site showing which preview version is live at which site.

:func:`build_map` (in :mod:`bulletin.collect`) joins the repository index, the sites and what
each site publishes into a plain :class:`VersionMap`; :func:`write_site` (in
:mod:`bulletin.render`) writes it as a static site: ``index.html``, a page per version and per
site, ``map.json`` and ``feed.atom``.  The release records it shows (lifecycle, adopters, bugs,
feedback) come in as the plain dataclasses of :mod:`bulletin.records`.  This
module only re-exports.
"""

from __future__ import annotations

from bulletin.collect import (
    MAP_FORMAT,
    STATES,
    SiteInfo,
    SiteState,
    VersionInfo,
    VersionMap,
    VoUse,
    build_map,
)
from bulletin.records import (
    AdopterRecord,
    BugRecord,
    FeedbackRecord,
    LivePoint,
    MoveRecord,
    OutcomeRecord,
    Records,
    ReleaseRecord,
)
from bulletin.render import (
    render_atom,
    render_html,
    render_json,
    render_site,
    render_version,
    write_bulletin,
    write_site,
)

__all__ = [
    "MAP_FORMAT",
    "AdopterRecord",
    "BugRecord",
    "FeedbackRecord",
    "LivePoint",
    "MoveRecord",
    "OutcomeRecord",
    "Records",
    "ReleaseRecord",
    "STATES",
    "SiteInfo",
    "SiteState",
    "VersionInfo",
    "VersionMap",
    "VoUse",
    "build_map",
    "render_atom",
    "render_html",
    "render_json",
    "render_site",
    "render_version",
    "write_bulletin",
    "write_site",
]
