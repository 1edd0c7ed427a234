"""The bulletin: a static site showing which preview version is live at which site.

:func:`build_map` (in :mod:`bulletin.collect`) joins the repository index, the sites and what
each site publishes into a plain :class:`VersionMap`; :func:`write_bulletin` (in
:mod:`bulletin.render`) writes it as ``index.html``, ``map.json`` and ``feed.atom``.  This
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
from bulletin.render import render_atom, render_html, render_json, write_bulletin

__all__ = [
    "MAP_FORMAT",
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
    "write_bulletin",
]
