"""The bulletin page in a real browser (Debian's chromium driven by Playwright): what a user
sees, and that nothing read from the sites runs as script."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

from bulletin import build_map, write_bulletin
from pps.glue import STATE_BROKEN
from tests import bulletin_helpers
from tests.bulletin_helpers import (
    CHROMIUM_ARGS,
    GENERATED,
    LooseSite,
    chromium_or_skip,
    index,
    ldif,
    release,
    site,
    tag,
)

UI8 = ("glite-UI", "3.2.8-0")
UI10 = ("glite-UI", "3.2.10-0")
HOSTILE_SITE = "<script>window.__pwned = 1</script>"
HOSTILE_TAG = 'VO-dteam-PPS-<img src=x onerror="window.__pwned=2">-1'


def write_page(out: Path) -> Path:
    idx = index(
        release(
            *UI8,
            notes_url="https://pps.example.org/notes/glite-UI/3.2.8-0",
            feedback_url="javascript:window.__pwned=5",
        ),
        release(*UI10, update_class="nbc-client", release_type="major"),
        release("glite-SEC", "1.0.1", embargo=True),
    )
    sites = [
        site("INFN-PISA", "silver", ("dteam", "vo.neugrid.eu")),
        site("UKI-LT2-QMUL", "none", ("dteam",)),
        site("CYFRONET-LCG2", "gold", ("ops",)),
        LooseSite(HOSTILE_SITE, "none", ("dteam",)),
    ]
    published = {
        "INFN-PISA": ldif(
            "INFN-PISA", tag("dteam", *UI8), tag("vo.neugrid.eu", *UI8), tag("dteam", *UI10)
        ),
        "UKI-LT2-QMUL": ldif("UKI-LT2-QMUL", (tag("dteam", *UI8), STATE_BROKEN)),
        HOSTILE_SITE: ldif("EVIL", HOSTILE_TAG),
    }
    errors = {"CYFRONET-LCG2": "unreachable: <b>connection refused</b>"}
    vmap = build_map(idx, sites, published=published, errors=errors, generated=GENERATED)
    return write_bulletin(vmap, out)[0]


def row_of(page: Page, table: Locator, site: str) -> Locator:
    """The row of *table* whose row header (a ``th scope=row``) is exactly *site*."""
    header = page.get_by_role("rowheader", name=site, exact=True)
    row = table.get_by_role("row").filter(has=header)
    assert row.count() == 1, site
    return row


def words(row: Locator) -> list[str]:
    """The text of each cell of *row*, its white space as one space (a phone label's line)."""
    return [" ".join(t.split()) for t in row.get_by_role("cell").all_inner_texts()]


@pytest.mark.chromium
def test_user_sees_states_in_words_and_the_jdl_line_and_no_script_runs(tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    page_path = write_page(tmp_path / "bulletin")
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            assert page.title() == "Preview versions at the grid sites"
            assert page.get_by_text(HOSTILE_TAG).is_visible()
            assert "glite-SEC" not in page.inner_text("body")
            index_requests = list(requests)

            page.goto((page_path.parent / "v/glite-UI-3.2.8-0.html").as_uri())
            assert page.title() == "glite-UI 3.2.8-0"
            table = page.get_by_role("table", name="glite-UI 3.2.8-0 at each site")
            rows = {
                name: row_of(page, table, name)
                for name in ("INFN-PISA", "UKI-LT2-QMUL", "CYFRONET-LCG2", HOSTILE_SITE)
            }
            cells = {name: words(row) for name, row in rows.items()}
            seen = "Seen: 2010-06-01 12:00 UTC"
            assert cells == {
                "INFN-PISA": ["live", "Details: live for dteam, vo.neugrid.eu", seen],
                "UKI-LT2-QMUL": ["broken", "Details: installation broken for dteam", seen],
                "CYFRONET-LCG2": [
                    "site unreachable",
                    "Details: unreachable: <b>connection refused</b>",
                    "Seen: never",
                ],
                HOSTILE_SITE: ["not installed", "Details: not pushed to the site yet", seen],
            }
            page.goto((page_path.parent / "v/glite-UI-3.2.10-0.html").as_uri())
            newer = page.get_by_role("table", name="glite-UI 3.2.10-0 at each site")
            qmul = row_of(page, newer, "UKI-LT2-QMUL")
            assert words(qmul) == [
                "not for this site",
                "Details: partner class none does not take nbc-client updates",
                seen,
            ]

            page.goto((page_path.parent / "v/glite-UI-3.2.8-0.html").as_uri())
            jdl = (
                'Requirements = Member("VO-vo.neugrid.eu-PPS-glite-UI-3.2.8-0", '
                "other.GlueHostApplicationSoftwareRunTimeEnvironment);"
            )
            assert page.get_by_text(jdl, exact=True).is_visible()
            assert page.get_by_role("link", name="https://pps.example.org/notes/glite-UI/3.2.8-0")
            assert page.get_by_role("link", name=re.compile("javascript")).count() == 0
            assert "glite-SEC" not in page.inner_text("body")

            assert page.evaluate("window.__pwned") is None
            assert page.locator("img").count() == 0
            assert page.locator("script").count() == 1  # the bulletin's own file
            assert dialogs == []
            own = {page_path.parent / n for n in ("index.html", "bulletin.css", "bulletin.js")}
            assert sorted(index_requests) == sorted(p.as_uri() for p in own)
            assert all(r.startswith(page_path.parent.as_uri()) for r in requests), requests
            page.screenshot(path=str(tmp_path / "bulletin.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "bulletin.png").stat().st_size > 10_000


def test_missing_chromium_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulletin_helpers, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is not installed"):
        bulletin_helpers.chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        bulletin_helpers.chromium_or_skip()
