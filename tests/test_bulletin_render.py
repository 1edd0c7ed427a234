"""bulletin.render: the page, map.json and the Atom feed, and escaping of what sites publish."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from bulletin import (
    build_map,
    render_atom,
    render_html,
    render_site,
    render_version,
    write_bulletin,
)
from pps.glue import STATE_BROKEN
from tests.bulletin_helpers import GENERATED, LooseSite, index, ldif, release, site, tag

UI8 = ("glite-UI", "3.2.8-0")
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_SITE = "<script>window.__pwned = 1</script>"
HOSTILE_TAG = 'VO-dteam-PPS-<img src=x onerror="window.__pwned=2">-1'
HOSTILE_ERROR = "<b>timeout</b> & <script>window.__pwned = 3</script>"


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def hostile_map(notes_url: str = "javascript:alert(1)"):
    idx = index(
        release(*UI8, notes_url=notes_url, feedback_url="https://pps.example.org/fb?a=1&b=2"),
        release("glite-SEC", "1.0.1", embargo=True, notes_url="https://secret.example.org/"),
    )
    sites = [
        site("SITE-A", "silver", ("dteam", "vo.neugrid.eu")),
        LooseSite(HOSTILE_SITE, "none", ("dteam",)),
        site("SITE-C", "gold", ("ops",)),
    ]
    published = {
        "SITE-A": ldif("SITE-A", tag("dteam", *UI8), tag("dteam", "glite-SEC", "1.0.1")),
        HOSTILE_SITE: ldif("EVIL", (tag("dteam", *UI8), STATE_BROKEN), HOSTILE_TAG),
    }
    errors = {"SITE-C": HOSTILE_ERROR}
    return build_map(idx, sites, published=published, errors=errors, generated=GENERATED)


def all_pages(vmap: object) -> list[str]:
    """The index, every version page and every site page."""
    return [
        render_html(vmap),  # type: ignore[arg-type]
        *(render_version(vmap, v) for v in vmap.versions),  # type: ignore[arg-type, attr-defined]
        *(render_site(vmap, s) for s in vmap.sites),  # type: ignore[arg-type, attr-defined]
    ]


def test_page_is_accessible_html_with_states_in_words() -> None:
    vmap = hostile_map()
    assert "<title>Preview versions at the grid sites</title>" in render_html(vmap)
    html = render_version(vmap, vmap.versions[0])
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">\n')
    assert "<title>glite-UI 3.2.8-0</title>" in html
    assert "<caption>glite-UI 3.2.8-0 at each site</caption>" in html
    assert '<th scope="col">State</th>' in html
    assert (
        '<tr data-state="live">\n<th scope="row"><a href="../s/SITE-A.html">SITE-A</a></th>\n'
        '<td><span class="state state-live">live</span></td>\n'
        '<td><span class="lbl">Details: </span>live for dteam</td>\n'
    ) in html
    assert '<span class="state state-broken">broken</span>' in html
    assert '<span class="state state-site-unreachable">site unreachable</span>' in html
    assert '<time datetime="2010-06-01T12:00:00Z">2010-06-01 12:00 UTC</time>' in html
    assert (
        '<code id="req-3">Requirements = Member(&#34;VO-vo.neugrid.eu-PPS-glite-UI-3.2.8-0&#34;, '
        "other.GlueHostApplicationSoftwareRunTimeEnvironment);</code></pre>"
    ) in html


def test_page_loads_nothing_from_outside_and_runs_no_script() -> None:
    for html, root in zip(all_pages(hostile_map()), ["", "../", "../", "../", "../"]):
        tags = elements(html)
        assert [t for t, _ in tags if t in ("img", "iframe", "object", "embed")] == []
        # one script: the bulletin's own file, no inline script (the CSP forbids any)
        assert [a for t, a in tags if t == "script"] == [
            {"src": root + "bulletin.js", "defer": None}
        ]
        assert (
            html.count("</script>") == 1
            and f'<script src="{root}bulletin.js" defer></script>' in html
        )
        for _, attrs in tags:
            assert not any(name.startswith("on") for name in attrs)
        links = [attrs["href"] for t, attrs in tags if t == "link"]
        assert links == [root + "bulletin.css", root + "feed.atom"]
        csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv")]
        assert csp == [
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'"
        ]


def test_everything_read_from_sites_is_shown_as_text() -> None:
    vmap = hostile_map()
    html = render_html(vmap)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in html
    assert "&lt;b&gt;timeout&lt;/b&gt; &amp; &lt;script&gt;window.__pwned = 3" in html
    for page in all_pages(vmap):
        assert page.count("<script") == 1 and "<img" not in page and "<b>" not in page


def test_only_http_urls_become_links() -> None:
    vmap = hostile_map("javascript:alert(1)")
    html = render_version(vmap, vmap.versions[0])
    hrefs = [attrs["href"] for t, attrs in elements(html) if t == "a"]
    assert "javascript:alert(1)" not in html
    assert "https://pps.example.org/fb?a=1&b=2" in hrefs
    local = ("#", "../index.html", "../map.json", "../map.schema.json", "../feed.atom", "../s/")
    assert all(h.startswith(("https://", *local)) for h in hrefs), hrefs
    assert "<p>No release notes page was given.</p>" in html


def test_a_web_url_with_markup_stays_inside_its_attribute() -> None:
    url = 'https://pps.example.org/notes?x="><script>window.__pwned=4</script>'
    vmap = hostile_map(url)
    html = render_version(vmap, vmap.versions[0])
    assert html.count("<script") == 1
    hrefs = [attrs["href"] for t, attrs in elements(html) if t == "a"]
    assert url in hrefs


def test_embargoed_release_is_on_no_page() -> None:
    vmap = hostile_map()
    for text in (*all_pages(vmap), render_atom(vmap)):
        assert "glite-SEC" not in text and "secret.example.org" not in text


def test_empty_map_says_so() -> None:
    html = render_html(build_map(index(), [], generated=GENERATED))
    assert "No preview version is in the repository." in html
    assert "No site is configured." in html


def test_versions_are_listed_newest_first() -> None:
    idx = index(*(release("glite-UI", v) for v in ("3.2.9-0", "3.2.10-0", "3.2.8-0")))
    html = render_html(build_map(idx, [], generated=GENERATED))
    order = [
        html.index(f'<a href="v/glite-UI-{v}.html">') for v in ("3.2.10-0", "3.2.9-0", "3.2.8-0")
    ]
    assert order == sorted(order)


def test_atom_feed_is_well_formed_with_one_entry_per_public_version() -> None:
    feed = ET.fromstring(render_atom(hostile_map()))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "urn:pps:bulletin"
    assert feed.findtext(f"{ATOM}updated") == "2010-06-01T12:00:00Z"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == ["urn:pps:release:glite-UI:3.2.8-0"]
    entry = entries[0]
    assert entry.findtext(f"{ATOM}updated") == "2010-05-20T09:30:00Z"
    # the javascript: notes URL is no link; the entry links to the version's page
    assert [link.get("href") for link in entry.findall(f"{ATOM}link")] == [
        "v/glite-UI-3.2.8-0.html"
    ]
    content = entry.findtext(f"{ATOM}content")
    assert content is not None
    assert "is live at 1 of 3 sites (SITE-A); broken at " + HOSTILE_SITE in content
    assert 'VO dteam: Requirements = Member("VO-dteam-PPS-glite-UI-3.2.8-0"' in content


def test_atom_entry_links_to_web_notes_and_falls_back_to_generated_time() -> None:
    idx = index(release(*UI8, notes_url="https://pps.example.org/n", created="last tuesday"))
    feed = ET.fromstring(render_atom(build_map(idx, [], generated=GENERATED)))
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.find(f"{ATOM}link").get("href") == "https://pps.example.org/n"  # type: ignore[union-attr]
    assert entry.findtext(f"{ATOM}updated") == "2010-06-01T12:00:00Z"


def test_write_bulletin_writes_the_whole_site(tmp_path: Path) -> None:
    vmap = hostile_map()
    paths = write_bulletin(vmap, tmp_path / "out" / "bulletin")
    assert [p.name for p in paths] == ["index.html", "map.json", "feed.atom"]
    assert all(p.parent == tmp_path / "out" / "bulletin" for p in paths)
    assert paths[0].read_text(encoding="utf-8") == render_html(vmap)
    assert json.loads(paths[1].read_text()) == vmap.to_dict()
    ET.parse(paths[2])
    assert sorted(p.name for p in paths[0].parent.iterdir()) == [
        ".pps-bulletin",
        "bulletin.css",
        "bulletin.js",
        "feed.atom",
        "index.html",
        "map.json",
        "map.schema.json",
        "s",
        "v",
    ]
    assert sorted(p.name for p in (paths[0].parent / "v").iterdir()) == ["glite-UI-3.2.8-0.html"]
    assert len(list((paths[0].parent / "s").iterdir())) == 3


def test_output_is_the_same_for_the_same_input(tmp_path: Path) -> None:
    a = [p.read_bytes() for p in write_bulletin(hostile_map(), tmp_path / "a")]
    b = [p.read_bytes() for p in write_bulletin(hostile_map(), tmp_path / "b")]
    assert a == b
