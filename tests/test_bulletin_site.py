"""The bulletin site (issue 14): a cell in words for every state, the release records on the
version page, the site page, map.json against its shipped schema, the Atom feed (feedparser),
the atomic swap, and hostile values kept as text on every page and in the feed."""

from __future__ import annotations

import json
import os
import threading
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin import (
    AdopterRecord,
    BugRecord,
    FeedbackRecord,
    LivePoint,
    MoveRecord,
    OutcomeRecord,
    Records,
    ReleaseRecord,
    build_map,
    render_atom,
    render_html,
    render_json,
    render_site,
    render_version,
    write_site,
)
from bulletin.collect import LEGEND, STATES
from bulletin.render import SCHEMA_PATH, site_files
from pps.errors import BadInput
from pps.glue import (
    STATE_BROKEN,
    STATE_NOT_VERIFIED,
    STATE_PENDING_REMOVAL,
    STATE_VERIFIED,
    PublishedTag,
    write_site_ldif,
)
from pps.names import PREVIEW_CAPABILITY
from tests.bulletin_helpers import GENERATED, LooseSite, index, ldif, release, site, tag

UI = ("glite-UI", "3.2.8-0")
WN = ("glite-WN", "3.3.0-1")
OLD = ("glite-UI", "3.2.7-0")
HOOK = "create executable /opt/pps/preview/hooks/configure"
FAILED_TEST = "local test 'inherited-env' failed: GLITE_LOCATION=/opt/glite is missing"


def pending_ldif(name: str, t: str, removal: str) -> str:
    return write_site_ldif(
        site=name,
        cluster=f"ce01.{name.lower()}.example.org",
        subcluster=f"ce01.{name.lower()}.example.org",
        tags=[
            PublishedTag(PREVIEW_CAPABILITY, STATE_VERIFIED),
            PublishedTag(t, STATE_PENDING_REMOVAL, removal=removal),
        ],
    )


def ui_record(**overrides: object) -> ReleaseRecord:
    fields: dict[str, object] = {
        "component": UI[0],
        "version": UI[1],
        "state": "rolling-out",
        "verified": "2010-05-21T10:00:00Z",
        "first_live": "2010-05-21T12:30:00Z",
        "bugs": (BugRecord("GGUS-1234", "glite-UI crashes on long proxies"),),
        "adopters": (
            AdopterRecord(
                "LIVE-SITE",
                True,
                "2010-05-22T09:00:00Z",
                "success",
                "jobs ran",
                "2PH",
                "2010-05-24T09:00:00Z",
            ),
            AdopterRecord("NOTVER-SITE", True),
        ),  # fmt: skip
        "outcomes": (
            OutcomeRecord("LIVE-SITE", "OK", "live", "2010-06-01T11:00:00Z", live=True),
            OutcomeRecord("BROKEN-SITE", "CRITICAL", FAILED_TEST, "2010-06-01T11:01:00Z"),
            OutcomeRecord(
                "AWAIT-SITE",
                "WARNING",
                f"awaiting local configuration: {HOOK}",
                "2010-06-01T11:02:00Z",
            ),
            OutcomeRecord("PENDING-SITE", "OK", "retired", "2010-05-30T08:00:00Z", retire=True),
        ),  # fmt: skip
        "moves": (
            MoveRecord("7", "verify", "verified", "2010-05-21T10:00:00Z", "verified"),
            MoveRecord("8", "accept", "rolling-out", "2010-05-22T09:00:00Z", "ok", "LIVE-SITE"),
        ),
        "live_over_time": (
            LivePoint("2010-05-21T12:30:00Z", 1),
            LivePoint("2010-05-23T12:30:00Z", 2),
        ),
    }
    fields.update(overrides)
    return ReleaseRecord(**fields)  # type: ignore[arg-type]


def records(**overrides: object) -> Records:
    old = ReleaseRecord(
        *OLD,
        state="closed-success",
        ended="2010-05-01T00:00:00Z",
        outcome="success",
        moves=(MoveRecord("3", "close", "closed-success", "2010-05-01T00:00:00Z", "fine"),),
    )
    return Records({UI: ui_record(**overrides), OLD: old}, source="state store /srv/pps/state")


def every_state_map(**overrides: object):
    """A site in each of the bulletin's states (for glite-UI 3.2.8-0, or as named)."""
    idx = index(
        release(*UI, notes_url="https://pps.example.org/notes/ui",
                feedback_url="mailto:pps-feedback@example.org"),
        release(*WN, update_class="nbc-client"),
        release(*OLD, stage="production"),
    )  # fmt: skip
    sites = [
        site("LIVE-SITE", "silver"),
        site("NOTVER-SITE", "silver"),
        site("BROKEN-SITE", "silver"),
        site("AWAIT-SITE", "silver"),
        site("PENDING-SITE", "silver"),
        site("NOTINST-SITE", "silver"),
        site("GOLD-SITE", "gold"),
        site("DOWN-SITE", "silver"),
        site("STALE-SITE", "silver"),
    ]
    published = {
        "LIVE-SITE": ldif("LIVE-SITE", tag("dteam", *UI)),
        "NOTVER-SITE": ldif("NOTVER-SITE", (tag("dteam", *UI), STATE_NOT_VERIFIED)),
        "BROKEN-SITE": ldif("BROKEN-SITE", (tag("dteam", *UI), STATE_BROKEN)),
        "AWAIT-SITE": ldif("AWAIT-SITE"),
        "PENDING-SITE": pending_ldif("PENDING-SITE", tag("dteam", *UI), "2010-06-03T08:00:00Z"),
        "NOTINST-SITE": ldif("NOTINST-SITE"),
        "GOLD-SITE": ldif("GOLD-SITE", tag("dteam", *UI)),
        "STALE-SITE": ldif("STALE-SITE", tag("dteam", *OLD)),
    }
    errors = {"DOWN-SITE": "connection refused"}
    return build_map(
        idx,
        sites,
        published=published,
        errors=errors,
        generated=GENERATED,
        records=records(**overrides),
        source="the BDII at ldap://bdii.example.org:2170",
    )


#: (site, version, state, detail, seen): what each cell must say.
EXPECTED = [
    ("LIVE-SITE", UI, "live", "live for dteam", "2010-06-01T12:00:00Z"),
    ("NOTVER-SITE", UI, "installed not verified", "published for dteam, not verified",
     "2010-06-01T12:00:00Z"),
    ("BROKEN-SITE", UI, "broken", f"installation broken for dteam: {FAILED_TEST}",
     "2010-06-01T12:00:00Z"),
    ("AWAIT-SITE", UI, "awaiting local configuration", HOOK, "2010-06-01T11:02:00Z"),
    ("PENDING-SITE", UI, "pending removal",
     "being removed for dteam; since 2010-05-30 08:00 UTC; tree stays until 2010-06-03 08:00 UTC",
     "2010-06-01T12:00:00Z"),
    ("NOTINST-SITE", UI, "not installed", "not pushed to the site yet", "2010-06-01T12:00:00Z"),
    ("GOLD-SITE", WN, "not for this site",
     "partner class gold does not take nbc-client updates", "2010-06-01T12:00:00Z"),
    ("DOWN-SITE", UI, "site unreachable", "connection refused", ""),
    ("STALE-SITE", OLD, "stale",
     "still published for dteam, but the preview ended (closed-success, stage production)",
     "2010-06-01T12:00:00Z"),
]  # fmt: skip


def cell(vmap, name: str, key: tuple[str, str]):
    v = next(v for v in vmap.versions if (v.component, v.version) == key)
    return next(s for s in v.at_sites if s.site == name)


def test_every_state_has_its_words_its_detail_and_when_it_was_seen() -> None:
    vmap = every_state_map()
    got = [(n, k, cell(vmap, n, k).state, cell(vmap, n, k).detail, cell(vmap, n, k).seen)
           for n, k, *_ in EXPECTED]  # fmt: skip
    assert got == EXPECTED
    assert {state for _, _, state, _, _ in EXPECTED} == set(STATES)
    data = json.loads(render_json(vmap))
    assert data["components"]["glite-UI"]["3.2.8-0"]["cells"]["AWAIT-SITE"] == {
        "state": "awaiting local configuration",
        "detail": HOOK,
        "seen": "2010-06-01T11:02:00Z",
    }


def test_the_index_shows_the_matrix_in_words_with_a_legend_for_every_state() -> None:
    html = render_html(every_state_map())
    assert "<caption>glite-UI: the state of each version at each site</caption>" in html
    assert "<caption>glite-UI: its versions</caption>" in html
    for name, (_, version), state, detail, _ in EXPECTED:
        # a live cell names the VOs it is live for; every other cell says why
        words = "dteam" if state in ("live", "installed not verified") else detail
        cls = state.replace(" ", "-")
        want = f'<span class="lbl">{version}: </span><b class="state-{cls}">{state}</b> {words}'
        assert want in html.replace("&#39;", "'"), (name, state)
    for state in STATES:
        assert f"<dd>{LEGEND[state]}</dd>" in html.replace("&#39;", "'")
    # the lifecycle state, the clocks: verified 10:00, first live 12:30 the same day
    assert '<td><span class="lbl">State: </span>rolling-out</td>' in html
    assert '<span class="lbl">Verified to first site live: </span>2.5 h</td>' in html
    assert '<span class="lbl">Sites live / targeted: </span>3 / 9</td>' in html
    # the ended version is a column only because a site still publishes it
    assert '<th scope="col"><a href="v/glite-UI-3.2.7-0.html">3.2.7-0</a></th>' in html
    assert "from\nthe BDII at ldap://bdii.example.org:2170 and the release records" in html


def test_the_version_page_carries_the_release_records() -> None:
    vmap = every_state_map()
    v = next(v for v in vmap.versions if (v.component, v.version) == UI)
    html = render_version(vmap, v)
    assert (
        '<tr><th scope="row">GGUS-1234</th><td>glite-UI crashes on long proxies</td></tr>' in html
    )
    assert '<a href="https://pps.example.org/notes/ui">' in html
    assert '<a href="mailto:pps-feedback@example.org">pps-feedback@example.org</a>' in html
    assert "<p>No feedback received yet.</p>" in html
    # a whole job in each language jdl_templates writes (J's jdl_templates.jobs)
    assert '<h3 id="jobs">A whole job, for VO dteam</h3>' in html
    assert '<code id="job-jdl"># A preview job: runs the program where glite-UI 3.2.8-0' in html
    for lang in ("xrsl", "adl", "condor"):
        assert f'<code id="job-{lang}">' in html
        assert f'data-copy="job-{lang}"' in html
    assert "Requirements = Member(&#34;VO-dteam-PPS-glite-UI-3.2.8-0&#34;" in html
    assert '<button type="button" class="copy" hidden data-copy="req-1">' in html
    assert '<svg class="chart" role="img"' in html and '<path d="M' in html
    assert "2010-05-21 12:30 UTC: 1; 2010-05-23 12:30 UTC: 2" in html
    assert '<th scope="row">LIVE-SITE</th>' in html and "jobs ran" in html
    said = every_state_map(feedback=(FeedbackRecord("2010-05-25T10:00:00Z", "works for me"),))
    html = render_version(said, said.versions[1])
    assert "No feedback received yet." not in html and "works for me" in html


def test_the_site_page_says_what_is_live_and_what_waits_and_why() -> None:
    vmap = every_state_map()
    await_page = render_site(vmap, next(s for s in vmap.sites if s.name == "AWAIT-SITE"))
    assert "<title>Site AWAIT-SITE</title>" in await_page
    assert "<p>No preview version is live here.</p>" in await_page
    assert "awaiting local configuration</span></td><td>" + HOOK in await_page
    live_page = render_site(vmap, next(s for s in vmap.sites if s.name == "LIVE-SITE"))
    assert '<a href="../v/glite-UI-3.2.8-0.html">glite-UI 3.2.8-0</a>' in live_page
    assert "not installed</span></td><td>not pushed to the site yet</td>" in live_page  # glite-WN
    gold = render_site(vmap, next(s for s in vmap.sites if s.name == "GOLD-SITE"))
    assert "Its partner class (gold) does not take:" in gold


def test_map_json_validates_against_the_schema_shipped_in_the_package() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(render_json(every_state_map()))
    assert data["format"] == "pps-map/2" and schema["properties"]["format"]["const"] == "pps-map/2"
    jsonschema.validate(data, schema)
    data["components"]["glite-UI"]["3.2.8-0"]["cells"]["LIVE-SITE"]["state"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_feed_has_an_entry_per_version_step_and_close_with_stable_ids() -> None:
    feed = feedparser.parse(render_atom(every_state_map()))
    assert not feed.bozo, feed.bozo_exception
    ids = [e.id for e in feed.entries]
    assert sorted(ids) == sorted([
        "urn:pps:release:glite-UI:3.2.8-0",
        "urn:pps:release:glite-UI:3.2.8-0:event:7",
        "urn:pps:release:glite-UI:3.2.8-0:event:8",
        "urn:pps:release:glite-UI:3.2.7-0",
        "urn:pps:release:glite-UI:3.2.7-0:event:3",
        "urn:pps:release:glite-WN:3.3.0-1",
    ])  # fmt: skip
    titles = {e.id: e.title for e in feed.entries}
    assert titles["urn:pps:release:glite-UI:3.2.7-0:event:3"] == (
        "glite-UI 3.2.7-0: closed: success (closed-success)"
    )
    again = feedparser.parse(render_atom(every_state_map()))
    assert [e.id for e in again.entries] == ids
    assert feed.entries[0].id == "urn:pps:release:glite-UI:3.2.8-0:event:8"  # newest first


def test_embargoed_release_has_no_page_no_cell_no_feed_entry() -> None:
    idx = index(release(*UI), release("glite-SEC", "1.0.1", embargo=True))
    step = MoveRecord("1", "verify", "verified", "2010-05-21T10:00:00Z")
    sec = ReleaseRecord("glite-SEC", "1.0.1", "verified", moves=(step,))
    vmap = build_map(
        idx,
        [site("S")],
        published={"S": ldif("S", tag("dteam", "glite-SEC", "1.0.1"))},
        generated=GENERATED,
        records=Records({("glite-SEC", "1.0.1"): sec}),
    )
    for name, data in site_files(vmap).items():
        assert "glite-SEC" not in name and b"glite-SEC" not in data, name


def test_write_site_swaps_the_whole_site_in_and_refuses_a_foreign_directory(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bulletin"
    write_site(every_state_map(), out)
    old_page = out / "v/glite-WN-3.3.0-1.html"
    assert old_page.is_file()
    # the next build has no glite-WN: its page goes, nothing of the old site is left behind
    vmap = build_map(index(release(*UI)), [site("S")], published={"S": ldif("S")},
                     generated=GENERATED)  # fmt: skip
    write_site(vmap, out)
    assert not old_page.exists() and (out / "v/glite-UI-3.2.8-0.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bulletin"]  # no temporary left
    foreign = tmp_path / "docs"
    (foreign / "keep").mkdir(parents=True)
    with pytest.raises(BadInput, match="holds files that no bulletin build wrote"):
        write_site(vmap, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["keep"]


def test_a_reader_never_sees_half_a_site(tmp_path: Path) -> None:
    """While builds replace the site over and over, every read of the index finds a complete
    page, and the version page it links to exists."""
    out = tmp_path / "bulletin"
    big = every_state_map()
    write_site(big, out)
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                text = (out / "index.html").read_text(encoding="utf-8")
                version = (out / "v/glite-UI-3.2.8-0.html").read_text(encoding="utf-8")
            except OSError as e:
                problems.append(str(e))
                continue
            if not text.endswith("</html>\n") or not version.endswith("</html>\n"):
                problems.append("a page was cut")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(15):
            write_site(big, out)
    finally:
        stop.set()
        reader.join()
    assert problems == []


# ------------------------------------------------------------------ hostile values
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def page_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "\"'><svg onload=alert(3)>",
    "javascript:alert(4)",
    "data:text/html,<script>alert(5)</script>",
]
hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.builds(lambda a, b: a + b, st.sampled_from(PAYLOADS), st.text(max_size=20)),
)


def hostile_map(text: str, site_name: str):
    idx = index(release(*UI, notes_url=text, feedback_url=text))
    rec = ui_record(
        summary=text,
        outcome="success",
        bugs=(BugRecord("B-1", text),),
        feedback=(FeedbackRecord("2010-05-25T10:00:00Z", text),),
        adopters=(AdopterRecord(site_name, True, "2010-05-22T09:00:00Z", "warning", text),),
        outcomes=(OutcomeRecord(site_name, "CRITICAL", text, "2010-06-01T11:00:00Z"),),
        moves=(MoveRecord("9", "close", "closed-success", "2010-06-01T00:00:00Z", text, text),),
    )
    bad_vo_tag = f"VO-{text}-PPS-{UI[0]}-{UI[1]}"
    return build_map(
        idx,
        [LooseSite(site_name, "silver", ("dteam",)), site("OTHER", "silver")],
        published={site_name: ldif("X", bad_vo_tag), "OTHER": ldif("OTHER", tag("dteam", *UI))},
        errors={},
        generated=GENERATED,
        records=Records({UI: rec}),
        source=text,
    )


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "a", "header", "p", "h1", "h2",
    "h3", "main", "nav", "ul", "li", "section", "div", "table", "caption", "thead", "tbody",
    "tr", "th", "td", "span", "time", "code", "pre", "dl", "dt", "dd", "em", "strong", "label",
    "input", "select", "option", "button", "details", "summary", "svg", "desc", "line", "text",
    "path", "figure", "figcaption", "footer", "small", "b",
}  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile, name=st.sampled_from(PAYLOADS))
def test_hostile_values_stay_text_on_every_page(text: str, name: str) -> None:
    vmap = hostile_map(text, name)
    for rel, data in site_files(vmap).items():
        if not rel.endswith(".html"):
            continue
        html = data.decode("utf-8")
        tags = page_tags(html)
        assert {t for t, _ in tags} <= ALLOWED_TAGS, rel
        scripts = [a for t, a in tags if t == "script"]
        assert len(scripts) == 1 and scripts[0]["src"] in ("bulletin.js", "../bulletin.js"), rel
        for t, attrs in tags:
            assert not any(k.startswith("on") for k in attrs), (rel, t, attrs)
            href = attrs.get("href") or ""
            assert not href.lower().startswith(("javascript:", "data:")), (rel, href)
        # the values are on the pages, as text
        assert "window.__pwned" not in html or "&lt;" in html


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile, name=st.sampled_from(PAYLOADS))
def test_hostile_values_stay_text_in_the_feed_and_the_map(text: str, name: str) -> None:
    vmap = hostile_map(text, name)
    feed = feedparser.parse(render_atom(vmap))
    assert not feed.bozo, feed.bozo_exception
    for e in feed.entries:
        for link in e.get("links", []):
            assert link["href"].startswith(("v/", "https://", "http://")), link
        assert all(c["type"] == "text/plain" for c in e.get("content", []))
    data = json.loads(render_json(vmap))
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    v = data["components"]["glite-UI"]["3.2.8-0"]
    assert v["notes_url"] in ("", text) and not v["notes_url"].startswith(("javascript", "data"))


def test_pages_put_the_hostile_text_on_the_page_as_text() -> None:
    vmap = hostile_map(PAYLOADS[0], PAYLOADS[1])
    files = site_files(vmap)
    version = files["v/glite-UI-3.2.8-0.html"].decode()
    assert "<td>&lt;script&gt;window.__pwned=1&lt;/script&gt;</td>" in version  # the bug title
    assert "&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in version  # the site name
    index_html = files["index.html"].decode()
    assert "from\n&lt;script&gt;window.__pwned=1&lt;/script&gt;.\n" in index_html
    assert os.path.basename([k for k in files if k.startswith("s/") and "OTHER" not in k][0])
