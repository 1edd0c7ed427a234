"""Render a :class:`~bulletin.collect.VersionMap` as the static bulletin: HTML, JSON and Atom.

The presentation half of the bulletin (:mod:`bulletin.collect` gathers).  Everything shown was
read from sites, the BDII or the index, so the HTML and the Atom feed are rendered by jinja2 with
autoescaping on, and only http(s) URLs and ``mailto:`` one plain address ever become links
(:func:`pps.text.is_link_url`, which ``pps release create`` applies too).  The page is one
self-contained file (inline CSS from ``static/``, no script, no external resource: the bulletin
is read on closed networks too).  ``map.json`` is the map's
:meth:`~bulletin.collect.VersionMap.to_dict`, sorted the way the map is.  Files are written
atomically.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import jinja2
from markupsafe import Markup

import pps
from bulletin.collect import VersionInfo, VersionMap, is_web_url, iso_utc
from pps.fsutil import atomic_write
from pps.text import is_link_url

HERE = Path(__file__).resolve().parent
HTML_NAME = "index.html"
JSON_NAME = "map.json"
FEED_NAME = "feed.atom"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.tests["web_url"] = is_web_url
_env.tests["link_url"] = is_link_url
#: A link's text: the URL, or a mailto link's address.
_env.filters["link_text"] = lambda url: url[7:] if url[:7].lower() == "mailto:" else url
_env.filters["state_class"] = lambda state: "state-" + state.replace(" ", "-")


def _css() -> str:
    return (HERE / "static" / "bulletin.css").read_text(encoding="utf-8")


def render_html(vmap: VersionMap) -> str:
    """The bulletin page (``index.html``)."""
    components = [(c, sorted_newest_first(vs)) for c, vs in vmap.components()]
    return _env.get_template("index.html.j2").render(
        vmap=vmap,
        components=components,
        generated_text=vmap.generated.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        css=Markup(_css()),
        pps_version=pps.__version__,
        json_name=JSON_NAME,
        feed_name=FEED_NAME,
    )


def sorted_newest_first(versions: list[VersionInfo]) -> list[VersionInfo]:
    """The map keeps versions oldest first; a reader wants the newest on top."""
    return list(reversed(versions))


def render_json(vmap: VersionMap) -> str:
    """The map as ``map.json`` text (format ``pps-map/1``)."""
    return json.dumps(vmap.to_dict(), indent=2) + "\n"


def _entry_updated(version: VersionInfo, fallback: datetime) -> str:
    """RFC 3339 time of a feed entry: the release's creation time when it is one."""
    text = version.created.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return iso_utc(fallback)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return iso_utc(moment)


def render_atom(vmap: VersionMap) -> str:
    """An Atom feed (RFC 4287) with one entry per public version."""
    entries = [
        (v, _entry_updated(v, vmap.generated))
        for v in sorted(vmap.versions, key=lambda v: (v.created, v.component, v.version))
    ]
    return _env.get_template("feed.atom.j2").render(
        vmap=vmap,
        entries=list(reversed(entries)),
        html_name=HTML_NAME,
    )


def write_bulletin(vmap: VersionMap, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``index.html``, ``map.json`` and ``feed.atom`` into *out_dir* (created if needed);
    return their paths in that order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        (out / HTML_NAME, render_html(vmap)),
        (out / JSON_NAME, render_json(vmap)),
        (out / FEED_NAME, render_atom(vmap)),
    ]
    for path, text in files:
        atomic_write(path, text.encode("utf-8"))
    return [path for path, _ in files]
