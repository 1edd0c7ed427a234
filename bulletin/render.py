"""Render a :class:`~bulletin.collect.VersionMap` as the static bulletin site: HTML, JSON, Atom.

The presentation half of the bulletin (:mod:`bulletin.collect` gathers).  The site is:

* ``index.html``: per component, its versions (stage, lifecycle state, type, update class, sites
  live of targeted, time from the verification to the first and to every targeted site live,
  age) and a site x version matrix whose cells say the state in words, with the time last seen;
* ``v/<component>-<version>.html``: one page per version (notes, fixed bugs, the tag, the
  Requirements line and a whole job per VO with a copy button, the sites and their states, a
  chart of sites live over time drawn here as SVG, the early adopters, the feedback);
* ``s/<site>.html``: one page per site (what is live there, what waits and why);
* ``map.json`` (format :data:`~bulletin.collect.MAP_FORMAT`, its JSON Schema beside it as
  ``map.schema.json``, shipped in ``static/``) and ``feed.atom`` (an entry per new version, per
  lifecycle step, per close; stable ids);
* ``bulletin.css`` and ``bulletin.js``: the only other files a page loads.  The script only adds
  filtering, sorting and the copy buttons; every page works without it, from any web server and
  from ``file://``, and loads nothing from elsewhere.

Everything shown was read from sites, the BDII or the release records, so it is rendered by
jinja2 with autoescaping on (no ``|safe`` on data), and only http(s) URLs and ``mailto:`` one
plain address become links (:func:`pps.text.is_link_url`).  Each page carries a
Content-Security-Policy that allows no inline script.  :func:`write_site` writes the whole site
into a new directory and swaps it in at once: a reader sees the old site or the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

import pps
from bulletin.collect import (
    AWAITING,
    BROKEN,
    LEGEND,
    LIVE,
    NOT_INSTALLED,
    NOT_TARGETED,
    NOT_VERIFIED,
    PENDING_REMOVAL,
    STALE,
    STATES,
    UNREACHABLE,
    SiteInfo,
    SiteState,
    VersionInfo,
    VersionMap,
    is_web_url,
    iso_utc,
    parse_utc,
)
from pps.errors import BadInput
from pps.fsutil import fsync_dir
from pps.text import is_link_url, printable

HERE = Path(__file__).resolve().parent
HTML_NAME = "index.html"
JSON_NAME = "map.json"
SCHEMA_NAME = "map.schema.json"
FEED_NAME = "feed.atom"
CSS_NAME = "bulletin.css"
JS_NAME = "bulletin.js"
#: The schema of :data:`~bulletin.collect.MAP_FORMAT`, shipped in the package.
SCHEMA_PATH = HERE / "static" / "map.schema-2.json"
#: A file in every bulletin directory this module wrote: only such a directory is replaced.
MARKER = ".pps-bulletin"
#: No inline script, nothing from elsewhere: the page's own style sheet and script only.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
#: The states a site is waiting in (the site page's second table).
WAITING = (BROKEN, AWAITING, PENDING_REMOVAL, NOT_INSTALLED, STALE, UNREACHABLE)


def _finalize(value: object) -> object:
    """Every value a template writes: text is made printable (no control character reaches a
    page or the feed, where XML forbids most of them); newlines stay (a job's lines)."""
    if value.__class__ is str and not value.isprintable():
        # most such text is printable lines (a job's): that one stays as it is, found in C
        if value.replace("\n", "").isprintable():
            return value
        return printable(value, multiline=True)
    return value


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    # the templates ship with the package and do not change while a build runs: no stat of
    # the template file at each of the build's hundreds of pages
    auto_reload=False,
)
_env.tests["web_url"] = is_web_url
_env.tests["link_url"] = is_link_url
#: A link's text: the URL, or a mailto link's address.
_env.filters["link_text"] = lambda url: url[7:] if url[:7].lower() == "mailto:" else url
_env.filters["state_class"] = lambda state: "state-" + state.replace(" ", "-")


@functools.cache
def slug(name: str) -> str:
    """A file name for *name*: itself when it is a plain name, else a cleaned form with a hash
    (a site name from an inventory or the BDII may hold anything)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}", name) and not name.endswith("."):
        return name
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:40] or "site"
    return f"{clean}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def version_page(v: VersionInfo) -> str:
    return version_file(v.component, v.version)


def version_file(component: str, version: str) -> str:
    """The page of *component* *version*, relative to the site's directory."""
    return f"v/{slug(f'{component}-{version}')}.html"


def site_page(name: str) -> str:
    return f"s/{slug(name)}.html"


def duration(seconds: float) -> str:
    """A span for people: ``45 min``, ``3.5 h``, ``2.1 days``."""
    if seconds < 3600:
        return f"{max(0, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} days".replace(".0 days", " days")


def _since(start: str, end: str) -> str:
    """From *start* to *end* in words ("" when either is unknown)."""
    a, b = parse_utc(start) if start else None, parse_utc(end) if end else None
    if a is None or b is None:
        return ""
    if b < a:
        return "already live when verified"
    return duration((b - a).total_seconds())


@functools.lru_cache(maxsize=4096)
def _short_time(iso: str) -> str:
    moment = parse_utc(iso) if iso else None
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


_env.filters["when"] = _short_time


@functools.lru_cache(maxsize=1 << 16)
def _e(value: str) -> str:
    """*value* escaped for HTML text or a quoted attribute, made printable first (what
    ``_finalize`` and autoescape do for the templates, for the rows written here)."""
    if not value.isprintable():
        value = printable(value, multiline=True)
    return str(escape(value))


def _seen(seen: str, read_at: str) -> str:
    """When a state was seen, short: the time alone on the build's day."""
    if not seen:
        return ""
    if seen[:10] == read_at[:10]:
        return f"seen {_e(seen[11:16])}"
    return f"seen {_e(_short_time(seen).removesuffix(' UTC'))}"


def _cell_words(s: SiteState) -> str:
    if s.state in (LIVE, NOT_VERIFIED) and s.live_vos:
        return ", ".join(s.live_vos)
    return s.detail


def matrix_cell(s: SiteState, version: str, read_at: str) -> str:
    """One cell of the index's matrix: the state in words, why, when it was seen (compact:
    a matrix of 500 sites x 50 versions stays a few MB)."""
    cls = s.state.replace(" ", "-")
    words = _cell_words(s)
    seen = _seen(s.seen, read_at)
    return (
        f'<td><span class="lbl">{_e(version)}: </span><b class="state-{cls}">{s.state}</b>'
        + (f" {_e(words)}" if words else "")
        + (f" <small>{seen}</small>" if seen else "")
        + "</td>"
    )


#: Rows and cells are written through small caches: a site is in the same state with the
#: same words for most versions, and a version for most sites (500 x 50 cells, a few hundred
#: different ones).
_ROW_CACHE = 1 << 16


@functools.lru_cache(maxsize=_ROW_CACHE)
def _at_site_row(site: str, state: str, detail: str, seen_at: str, root: str) -> str:
    cls = state.replace(" ", "-")
    seen = (f'<time datetime="{_e(seen_at)}">{_e(_short_time(seen_at))}</time>'
            if seen_at else "never")  # fmt: skip
    return (
        f'<tr data-state="{state}">\n<th scope="row"><a href="{root}'
        f'{_e(site_page(site))}">{_e(site)}</a></th>\n'
        f'<td><span class="state state-{cls}">{state}</span></td>\n'
        f'<td><span class="lbl">Details: </span>{_e(detail)}</td>\n'
        f'<td><span class="lbl">Seen: </span>{seen}</td>\n</tr>\n'
    )


def at_site_rows(v: VersionInfo, root: str) -> Markup:
    """The rows of a version page's table of sites."""
    return Markup("".join(_at_site_row(s.site, s.state, s.detail, s.seen, root)
                          for s in v.at_sites))  # fmt: skip


def matrix_rows(vmap: VersionMap, columns: list[VersionInfo]) -> Markup:
    """The body of a component's matrix: a row per site, a cell per version."""
    read_at = vmap.generated_iso
    out = []
    memo: dict[tuple[Any, ...], str] = {}
    for i, info in enumerate(vmap.sites):
        parts = []
        for v in columns:
            s = v.at_sites[i]
            key = (v.version, s.state, s.detail, s.live_vos, s.seen)
            cell = memo.get(key)
            if cell is None:
                cell = memo[key] = matrix_cell(s, v.version, read_at)
            parts.append(cell)
        cells = "".join(parts)
        out.append(
            f'<tr>\n<th scope="row"><a href="{_e(site_page(info.name))}">{_e(info.name)}</a>'
            f"</th>\n{cells}\n</tr>\n"
        )
    return Markup("".join(out))


class _Row:
    """One version as the index's table shows it."""

    def __init__(self, v: VersionInfo, generated: datetime) -> None:
        self.v = v
        rec = v.record
        self.live = len(v.sites)
        self.targets = len(v.targets)
        self.to_first = _since(rec.verified, rec.first_live) if rec and rec.verified else ""
        self.to_all = _since(rec.verified, rec.all_live) if rec and rec.verified else ""
        created = parse_utc(v.created) if v.created else None
        self.age = duration((generated - created).total_seconds()) if created else "unknown"
        self.page = version_page(v)


def _chart(v: VersionInfo, generated: datetime) -> dict[str, Any] | None:
    """The SVG chart of sites live over time: a step line, drawn here (no script)."""
    rec = v.record
    if rec is None or not rec.live_over_time:
        return None
    points = [(parse_utc(p.at), p.live) for p in rec.live_over_time]
    pts = [(t, n) for t, n in points if t is not None]
    if not pts:
        return None
    start, end = pts[0][0], max(generated, pts[-1][0])
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(n for _, n in pts), len(v.targets), 1)
    width, height, left, bottom = 560.0, 180.0, 40.0, 30.0
    plot_w, plot_h = width - left - 10, height - bottom - 10

    def x(t: datetime) -> float:
        return round(left + plot_w * (t - start).total_seconds() / span, 1)

    def y(n: int) -> float:
        return round(10 + plot_h * (1 - n / top), 1)

    path = [f"M{x(start)},{y(0)}"]
    for t, n in pts:
        path.append(f"H{x(t)}V{y(n)}")
    path.append(f"H{x(end)}")
    summary = "; ".join(f"{_short_time(p.at)}: {p.live}" for p in rec.live_over_time[-12:])
    return {
        "width": int(width),
        "height": int(height),
        "path": "".join(path),
        "left": left,
        "right": width - 10,
        "base": y(0),
        "top_y": y(top),
        "top": top,
        "start": _short_time(iso_utc(start)),
        "end": _short_time(iso_utc(end)),
        "text_y": height - 8,
        "summary": summary,
        "now": pts[-1][1],
    }


#: The job languages of the version page, in order: (jdl_templates.jobs language, title).
JOB_LANGUAGES = (
    ("jdl", "gLite WMS JDL"),
    ("xrsl", "ARC xRSL"),
    ("adl", "ARC ADL"),
    ("condor", "HTCondor submit file"),
)


def _jobs(v: VersionInfo) -> tuple[str, list[tuple[str, str, str]]]:
    """A whole job in each language ``jdl_templates`` writes, for one VO of the version (the
    one live at most sites): (that VO, [(language, title, text)]).  A language that cannot
    express this version (no ARC RunTimeEnvironment name for it) is left out."""
    if not v.vos:
        return "", []
    vo = max(v.vos, key=lambda u: (len(u.sites), u.vo == "dteam")).vo
    try:
        from jdl_templates.jobs import render_job
    except ImportError:  # jdl_templates without its multi-language jobs: the JDL alone
        import jdl_templates

        try:
            text = jdl_templates.render("job", component=v.component, version=v.version, vo=vo)
        except BadInput:
            return vo, []
        return vo, [("jdl", "gLite WMS JDL", text)]
    jobs = []
    for lang, title in JOB_LANGUAGES:
        try:
            text = render_job(lang, "job", vo=vo, previews=[(v.component, v.version)])
        except (BadInput, ValueError):
            continue
        jobs.append((lang, title, text))
    return vo, jobs


@functools.cache
def legend_html() -> Markup:
    """The legend's entries (a ``<div>`` per state), the same on every page: written once."""
    return Markup(
        "".join(
            f'<div><dt><span class="state {_e("state-" + state.replace(" ", "-"))}">{_e(state)}'
            f"</span></dt><dd>{_e(LEGEND[state])}</dd></div>\n"
            for state in STATES
        )
    )


def _common(vmap: VersionMap, root: str) -> dict[str, Any]:
    return {
        "vmap": vmap,
        "root": root,
        "generated_text": vmap.generated.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "pps_version": pps.__version__,
        "csp": CSP,
        "legend": [(s, LEGEND[s]) for s in STATES],
        "legend_html": legend_html(),
        "names": {
            "html": HTML_NAME,
            "json": JSON_NAME,
            "feed": FEED_NAME,
            "schema": SCHEMA_NAME,
            "css": CSS_NAME,
            "js": JS_NAME,
        },  # fmt: skip
        "site_page": site_page,
        "version_page": version_page,
    }


def sorted_newest_first(versions: list[VersionInfo]) -> list[VersionInfo]:
    """The map keeps versions oldest first; a reader wants the newest on top."""
    return list(reversed(versions))


def _matrix_versions(versions: list[VersionInfo]) -> list[VersionInfo]:
    """The matrix's columns: versions in preview, and ended ones some site still publishes or
    is removing."""
    return [
        v
        for v in versions
        if v.in_preview or any(s.state in (STALE, PENDING_REMOVAL) for s in v.at_sites)
    ]


def render_html(vmap: VersionMap) -> str:
    """The bulletin's first page (``index.html``)."""
    components = []
    for c, vs in vmap.components():
        newest = sorted_newest_first(vs)
        rows = [_Row(v, vmap.generated) for v in newest]
        columns = _matrix_versions(newest)
        components.append((c, rows, columns, matrix_rows(vmap, columns) if columns else ""))
    return _env.get_template("index.html.j2").render(components=components, **_common(vmap, ""))


def render_version(vmap: VersionMap, v: VersionInfo) -> str:
    """The page of one version."""
    return _env.get_template("version.html.j2").render(
        site_rows=at_site_rows(v, "../"),
        v=v,
        row=_Row(v, vmap.generated),
        chart=_chart(v, vmap.generated),
        jobs=_jobs(v),  # (vo, [(language, title, text)])
        **_common(vmap, "../"),
    )


def here_rows(pairs: list[tuple[VersionInfo, SiteState]], root: str, seen: bool) -> Markup:
    """The rows of a site page's table: a version, its state there, why (and when seen)."""
    return Markup("".join(_here_row(v.component, v.version, s.state, s.detail,
                                    s.seen if seen else None, root)
                          for v, s in pairs))  # fmt: skip


@functools.lru_cache(maxsize=_ROW_CACHE)
def _here_row(
    component: str, version: str, state: str, detail: str, seen_at: str | None, root: str
) -> str:
    """One row of :func:`here_rows` (*seen_at* None: without the Seen column)."""
    cls = state.replace(" ", "-")
    row = (
        f'<tr><th scope="row"><a href="{root}{_e(version_file(component, version))}">'
        f'{_e(component)} {_e(version)}</a></th><td><span class="state state-{cls}">{state}'
        f"</span></td><td>{_e(detail)}</td>"
    )
    if seen_at is not None:
        when = (f'<time datetime="{_e(seen_at)}">{_e(_short_time(seen_at))}</time>'
                if seen_at else "never")  # fmt: skip
        row += f"<td>{when}</td>"
    return row + "</tr>\n"


def render_site(vmap: VersionMap, info: SiteInfo, position: int | None = None) -> str:
    """The page of one site (*position*: its place in ``vmap.sites``, found when not given):
    what is live there, what waits and why."""
    i = position if position is not None else vmap.sites.index(info)
    here: list[tuple[VersionInfo, SiteState]] = [(v, v.at_sites[i]) for v in vmap.versions]
    live = [(v, s) for v, s in here if s.state in (LIVE, NOT_VERIFIED)]
    waiting = [
        (v, s)
        for v, s in here
        if s.state in WAITING and (v.in_preview or s.state in (STALE, PENDING_REMOVAL))
    ]
    other = [(v, s) for v, s in here if s.state == NOT_TARGETED and v.in_preview]
    return _env.get_template("site.html.j2").render(
        info=info,
        live=here_rows(live, "../", seen=False),
        waiting=here_rows(waiting, "../", seen=True),
        other=other,
        **_common(vmap, "../"),
    )


def render_json(vmap: VersionMap) -> str:
    """The map as ``map.json`` text (format :data:`~bulletin.collect.MAP_FORMAT`): compact,
    one line (the C encoder; a reader that wants it indented has ``python3 -m json.tool``)."""
    return json.dumps(vmap.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n"


def schema_text() -> str:
    """The JSON Schema of ``map.json``, as shipped in the package."""
    return SCHEMA_PATH.read_text(encoding="utf-8")


def _entry_updated(version: VersionInfo, fallback: datetime) -> str:
    """RFC 3339 time of a feed entry: the release's creation time when it is one."""
    moment = parse_utc(version.created) if version.created.strip() else None
    return iso_utc(moment if moment is not None else fallback)


def _feed_id(v: VersionInfo, *rest: str) -> str:
    parts = [v.component, v.version, *rest]
    return "urn:pps:release:" + ":".join(quote(p, safe="._-") for p in parts)


#: What a lifecycle step is called in the feed.
_MOVE_TITLES = {
    "unverified": "in the unverified repository",
    "verify": "verified: staged rollout begins",
    "reject": "rejected at verification",
    "accept": "accepted by an early adopter",
    "close": "closed",
    "remove": "withdrawn from preview",
    "withdrawn": "withdrawn from preview",
    "unembargo": "embargo lifted",
}


def _feed_entries(vmap: VersionMap) -> list[dict[str, Any]]:
    entries = []
    for v in vmap.versions:
        entries.append(
            {"kind": "new", "v": v, "id": _feed_id(v), "updated": _entry_updated(v, vmap.generated),
             "title": f"{v.component} {v.version} ({v.stage})"}
        )  # fmt: skip
        if v.record is None:
            continue
        seen_states = {"certified", "unverified"}
        for m in v.record.moves:
            if m.kind == "accept" and m.state in seen_states:
                continue  # a later adopter: the state did not move
            if m.kind == "unverified":
                continue  # the new-version entry says it
            seen_states.add(m.state)
            at = parse_utc(m.at)
            title = _MOVE_TITLES.get(m.kind, m.kind)
            if m.kind == "close":
                title = f"closed: {m.state.removeprefix('closed-')}"
            entries.append(
                {"kind": "move", "v": v, "move": m, "id": _feed_id(v, "event", m.key),
                 "updated": iso_utc(at) if at else iso_utc(vmap.generated),
                 "title": f"{v.component} {v.version}: {title} ({m.state})"}
            )  # fmt: skip
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    return entries


def render_atom(vmap: VersionMap) -> str:
    """An Atom feed (RFC 4287): an entry per public version, per lifecycle step, per close."""
    return _env.get_template("feed.atom.j2").render(
        vmap=vmap, entries=_feed_entries(vmap), html_name=HTML_NAME, version_page=version_page
    )


def site_files(vmap: VersionMap) -> dict[str, bytes]:
    """Every file of the bulletin site, by its path relative to the site's directory."""
    files: dict[str, bytes] = {
        HTML_NAME: render_html(vmap).encode("utf-8"),
        JSON_NAME: render_json(vmap).encode("utf-8"),
        FEED_NAME: render_atom(vmap).encode("utf-8"),
        SCHEMA_NAME: schema_text().encode("utf-8"),
        CSS_NAME: (HERE / "static" / CSS_NAME).read_bytes(),
        JS_NAME: (HERE / "static" / JS_NAME).read_bytes(),
        MARKER: b"written by pps bulletin build: replaced as a whole at each build\n",
    }
    for v in vmap.versions:
        files[version_page(v)] = render_version(vmap, v).encode("utf-8")
    for i, info in enumerate(vmap.sites):
        files[site_page(info.name)] = render_site(vmap, info, i).encode("utf-8")
    return files


@functools.cache
def _libc() -> Any:
    """The C library (None where it cannot be loaded)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def _sync_all(fds: list[int], dirs: Iterable[Path]) -> None:
    """Put the files open as *fds* and the directories *dirs* on disk: one ``syncfs`` of their
    file system where Linux has it (one journal commit, not one per page: a build writes
    hundreds of pages), else an ``fdatasync`` of each file and an fsync of each directory."""
    syncfs = getattr(_libc(), "syncfs", None)
    if fds and syncfs is not None and syncfs(fds[0]) == 0:
        return
    for fd in fds:
        os.fdatasync(fd)
    for d in dirs:
        fsync_dir(d)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


#: The files of every site, whatever it holds.
FIXED_FILES = (HTML_NAME, JSON_NAME, FEED_NAME, SCHEMA_NAME, CSS_NAME, JS_NAME, MARKER)


def expected_files(versions: Iterable[tuple[str, str]], sites: Iterable[str]) -> list[str]:
    """The files a site of these public *versions* (component, version) and *sites* will hold,
    relative to its directory (what :func:`prepare_site` creates ahead)."""
    return [
        *FIXED_FILES,
        *(version_file(c, v) for c, v in versions),
        *(site_page(name) for name in sites),
    ]


def _check_out(out_dir: str | os.PathLike[str]) -> Path:
    """*out_dir* as a Path, if a build may replace it (BadInput otherwise)."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise BadInput(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise BadInput(
                f"--out {out} holds files that no bulletin build wrote: give a new or an empty "
                "directory (it is replaced as a whole at each build)"
            )
    return out


#: What :class:`PreparedSite`'s helper process runs: create each file named on its input (one
#: a line) in its current directory, empty, as :func:`write_site` would (mode 0644 less the
#: umask); one that cannot be created is left to :func:`write_site`.
_CREATE_FILES = """
import os, sys
for name in sys.stdin.read().split("\\n"):
    if name:
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        except OSError:
            pass
"""


class PreparedSite:
    """The new directory of a build, beside its ``--out``, with the files the site will hold
    created ahead, empty, by a helper process (:func:`prepare_site`).

    Creating a file is the slow part of writing one (a new inode, a journal entry: hundreds
    of milliseconds for a site of 500 pages on a busy disk, where writing into a file that
    exists takes a few), and it waits on the disk, not on the CPU: done while the build reads
    the sites, it costs the build nothing.  A process, not a thread: a thread would need the
    interpreter's lock back after each file, taking it from the read each time.  The directory
    is private (``mkdtemp``) until :func:`write_site` swaps it in; :meth:`discard` removes it
    when the build stops before."""

    def __init__(self, out: Path, names: Iterable[str]) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        #: The files asked for ahead (relative names: :func:`slug`'s, no newline in them).
        self.names = list(dict.fromkeys(n for n in names if "\n" not in n))
        #: The directories made (relative names, "" the site's own).
        self.dirs: set[str] = {""}
        for rel in self.names:
            parent = rel.rpartition("/")[0]
            if parent not in self.dirs:
                (self.path / parent).mkdir(parents=True, exist_ok=True)
                self.dirs.add(parent)
        self._proc: subprocess.Popen[bytes] | None = None
        if not self.names:
            return
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _CREATE_FILES], cwd=self.path,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._proc.stdin is not None:
                with self._proc.stdin as feed:
                    feed.write("\n".join(self.names).encode("utf-8", "surrogateescape"))
        except OSError:
            self.wait()  # no helper: write_site creates the files itself

    def wait(self) -> None:
        """Until the helper process has created what it could."""
        if self._proc is not None:
            self._proc.wait()

    def discard(self) -> None:
        """Remove the directory, if it was not swapped in."""
        self.wait()
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


def prepare_site(out_dir: str | os.PathLike[str], names: Iterable[str]) -> PreparedSite:
    """Start a build into *out_dir*: checked as :func:`write_site` checks it (BadInput), then
    a new directory beside it where a helper process creates the files *names* (relative
    paths, see :func:`expected_files`) while the caller reads the sites.  Give it to
    :func:`write_site`; :meth:`PreparedSite.discard` it in a ``finally``."""
    return PreparedSite(_check_out(out_dir), names)


def write_site(
    vmap: VersionMap,
    out_dir: str | os.PathLike[str],
    *,
    prepared: PreparedSite | None = None,
) -> list[Path]:
    """Write the whole bulletin site into *out_dir* at once: built in a new directory beside
    it, then swapped in, so a reader sees the old site or the new one, never half of one.
    *out_dir* must be missing, empty, or a bulletin written here before (BadInput otherwise:
    nothing else is ever replaced).  *prepared*: the new directory :func:`prepare_site` made
    for *out_dir* (its files created ahead); a new one otherwise.  Returns the paths of
    ``index.html``, ``map.json`` and ``feed.atom``."""
    out = _check_out(out_dir)
    files = site_files(vmap)
    if prepared is None or prepared.out != out:
        prepared = PreparedSite(out, ())
    new = prepared.path
    try:
        prepared.wait()
        made_dirs = prepared.dirs
        # Plain writes into the new directory (no reader sees it before the swap), then one
        # sync, so the site the swap puts in place is on disk, whole.
        fds = []
        try:
            for rel, data in files.items():
                parent = rel.rpartition("/")[0]
                if parent not in made_dirs:
                    (new / parent).mkdir(parents=True, exist_ok=True)
                    made_dirs.add(parent)
                try:  # made ahead (empty, by the helper process)?
                    fd = os.open(new / rel, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
                except FileNotFoundError:
                    fd = os.open(new / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                fds.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            for rel in set(prepared.names).difference(files):  # made ahead, but no such page
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(new / rel)
            _sync_all(fds, (new / d for d in made_dirs))
        finally:
            for fd in fds:
                os.close(fd)
        os.chmod(new, 0o755)
        if not out.exists():
            os.rename(new, out)
            fsync_dir(out.parent)
        elif _exchange(new, out):
            fsync_dir(out.parent)
            shutil.rmtree(new)  # now the old site
        else:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
            os.rename(new, out)
            shutil.rmtree(old)
    finally:
        prepared.discard()
    return [out / HTML_NAME, out / JSON_NAME, out / FEED_NAME]


#: The name the bulletin's first callers know.
write_bulletin = write_site


def all_paths(out: str | os.PathLike[str], vmap: VersionMap) -> Iterable[Path]:
    """Every file :func:`write_site` writes for *vmap* into *out*."""
    return (Path(out) / rel for rel in site_files(vmap))
