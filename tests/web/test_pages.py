"""The board, an agency's page and a figure's history in Debian's Chromium: what a leader reads
(names with diacritics, statuses in words, a correction and its reason), on a phone and a desktop,
with the accessibility basics measured in the browser."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pypdf
import pytest

from shared.labels import KPI_STATUS, REPORT_STATUS
from tests.aggregator.helpers import PLAN
from tests.aggregator.integration.test_periodic_report_export import kpi_table
from tests.web.conftest import CORRECTION_REASON, LAGGARD, logged_in
from tests.web.screens import WIDTHS, check_and_keep

pytestmark = [pytest.mark.infra, pytest.mark.web]
LAGGARD_NAME = "Công an huyện Hướng Hóa"
MISSING_NAME = "Ủy ban nhân dân huyện Đakrông"  # shared.demo: its June report never comes
LATE_NAME = "Công an huyện Đakrông"  # shared.demo: June report two days late

# WCAG 2.x relative luminance and contrast ratio of two computed CSS colours, in the page itself.
CONTRAST_JS = """
(element) => {
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const style = getComputedStyle(element);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
  return {
    ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    color: style.color, background: style.backgroundColor, text: element.textContent.trim(),
  };
}
"""


async def test_the_board_shows_the_laggards_by_name(page, board_url):
    await logged_in(page, board_url)
    response = await page.goto(f"{board_url}/board")
    assert response.status == 200
    section = page.locator("#indicator-drug_cases_detected")
    behind = section.locator("table.behind tbody tr", has_text=LAGGARD_NAME)
    await behind.first.wait_for()
    assert "Chậm tiến độ" in await behind.first.inner_text()
    assert LAGGARD not in await section.inner_text()  # names, not codes
    reports = page.locator("h2#reports + table")
    assert MISSING_NAME in await reports.inner_text()
    assert "Chưa nộp (quá hạn)" in await reports.inner_text()
    assert LATE_NAME in await reports.inner_text()
    assert await section.locator("svg.chart polyline.actual").count() == 1
    assert await section.locator("svg.chart polyline.expected").count() == 1
    assert await section.locator("svg.chart line.target").count() == 1


async def test_a_period_and_cut_off_are_chosen_in_the_form(page, board_url):
    await logged_in(page, board_url)
    await page.select_option("select[name=period]", "2024-H1")
    await page.fill("input[name=as_of]", "2024-06-14")
    await page.click("form.filters button")
    await page.wait_for_url("**/board?*period=2024-H1*")
    assert "as_of=2024-06-14" in page.url
    meta = await page.locator("p.meta").first.inner_text()
    assert "6 tháng đầu năm 2024" in meta and "14/06/2024" in meta
    assert await page.locator("select[name=period]").input_value() == "2024-H1"


async def test_the_periodic_report_is_downloaded_from_the_board_for_the_shown_period_and_cut_off(
    page, board_url
):
    await logged_in(page, board_url)
    await page.goto(f"{board_url}/board?period=2024-H1&as_of=2024-06-14")
    files = {}
    for kind, label in (("xlsx", "Tải báo cáo (Excel)"), ("pdf", "Tải báo cáo (PDF)")):
        async with page.expect_download() as started:
            await page.get_by_role("link", name=label).click()
        download = await started.value
        assert download.suggested_filename == f"bao-cao-2024-H1-den-2024-06-14.{kind}"
        files[kind] = Path(await download.path()).read_bytes()
    # the read API, with the same session (the page's cookie is the API's credential too)
    answer = await page.request.get(
        f"{board_url}/v1/kpis", params={"agency": LAGGARD, "period": "2024", "as_of": "2024-06-14"}
    )
    assert answer.status == 200
    [api] = [k for k in (await answer.json())["items"] if k["indicator"] == "drug_cases_detected"]
    table = kpi_table(files["xlsx"])
    laggard = table[(LAGGARD_NAME, PLAN.indicator("drug_cases_detected").name_vi, "Năm 2024")]
    assert laggard[:2] == (api["actual"], api["target"]) and laggard[0] > 0
    assert {MISSING_NAME, LATE_NAME} <= {agency for agency, _, _ in table}
    reader = pypdf.PdfReader(BytesIO(files["pdf"]))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    for words in (LAGGARD_NAME, MISSING_NAME, "6 tháng đầu năm 2024", "Quảng Trị, ngày 14 tháng 6 năm 2024"):
        assert words in text, words


async def test_from_the_board_to_an_agency_and_a_figure_s_history(page, board_url, demo_data):
    await logged_in(page, board_url)
    await page.locator("#indicator-drug_cases_detected table.behind a", has_text=LAGGARD_NAME).click()
    await page.wait_for_url(f"**/agencies/{LAGGARD}")
    assert await page.locator("h1").inner_text() == LAGGARD_NAME
    row = page.locator("table.kpis tbody tr", has_text="Số vụ phạm tội về ma túy").filter(has_text="Năm 2024")
    assert "Chậm tiến độ" in await row.inner_text()
    assert await page.locator("table.reports tbody tr").count() >= 6  # January to June
    await row.locator("a.figure").click()
    await page.wait_for_url(f"**/agencies/{LAGGARD}/figures/drug_cases_detected/2024")
    correction = demo_data["correction"]
    corrected = page.locator("table.history tr.role-correction")
    assert CORRECTION_REASON in await corrected.inner_text()
    replaced = page.locator("table.history tr.role-superseded", has_text="Đã được thay thế")
    assert await replaced.count() >= 1
    assert await replaced.locator("del").count() == await replaced.count()  # the old value struck out
    shown = await page.locator("strong.current").inner_text()
    assert shown == f"{correction.data.value:g}"


async def test_an_unknown_agency_is_a_404_page_in_vietnamese(page, board_url):
    await logged_in(page, board_url)
    response = await page.goto(f"{board_url}/agencies/KHONG-CO")
    assert response.status == 404
    assert await page.get_attribute("html", "lang") == "vi"
    assert "Không tìm thấy trang" in await page.locator("h1").inner_text()
    assert "KHONG-CO" in await page.locator("p.error").inner_text()


async def test_lang_attribute_and_english_on_request(page, board_url):
    await logged_in(page, board_url)
    assert await page.get_attribute("html", "lang") == "vi"
    assert "Bảng tổng hợp tiến độ" in await page.locator("h1").inner_text()
    await page.click("nav.lang a[hreflang=en]")
    await page.wait_for_url("**lang=en*")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.locator("h1").inner_text() == "Progress of the plan's targets"
    await page.goto(f"{board_url}/agencies/{LAGGARD}")  # the choice is remembered
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.locator("h1").inner_text() == "Huong Hoa District Police"


async def test_every_status_is_written_beside_its_colour(page, board_url):
    await logged_in(page, board_url)
    labels = {v["vi"] for v in KPI_STATUS.values()} | {v["vi"] for v in REPORT_STATUS.values()}
    for path in ("/board", f"/agencies/{LAGGARD}"):
        await page.goto(board_url + path)
        badges = page.locator(".status")
        assert await badges.count() > 3
        for badge in await badges.all():
            shown = await badge.evaluate(CONTRAST_JS)
            assert shown["text"] in labels, shown
            assert shown["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), shown


async def test_every_status_colour_has_a_contrast_of_at_least_4_5(page, board_url):
    await logged_in(page, board_url)
    statuses = sorted(KPI_STATUS) + sorted(REPORT_STATUS)
    await page.evaluate(  # one badge of each status, styled by the page's own stylesheet
        """(statuses) => { for (const s of statuses) { const e = document.createElement('span');
           e.className = 'status status-' + s; e.id = 'probe-' + s; e.textContent = s; document.body.append(e); } }""",
        statuses,
    )
    for status in statuses:
        shown = await page.locator(f"#probe-{status}").evaluate(CONTRAST_JS)
        assert shown["background"] != "rgba(0, 0, 0, 0)", (status, shown)  # every status has a colour
        assert shown["ratio"] >= 4.5, (status, shown)


@pytest.mark.parametrize("width", [390, 360])
async def test_no_sideways_scrolling_on_a_phone(browser, board_url, width):
    context = await browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True)
    page = await context.new_page()
    try:
        await logged_in(page, board_url)
        for path in (
            "/board",
            f"/agencies/{LAGGARD}",
            f"/agencies/{LAGGARD}/figures/drug_cases_detected/2024",
        ):
            await page.goto(board_url + path)
            sizes = await page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
            )
            assert sizes[0] <= sizes[1] and sizes[2] <= sizes[1], (path, sizes)
    finally:
        await context.close()


async def test_screenshots_at_phone_and_desktop_width(browser, board_url, tmp_path):
    """Always taken; kept in docs/screens/ when TIENDO_SCREENSHOTS=1 (tests/web/screens.py)."""
    shots = []
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
        page = await context.new_page()
        try:
            await logged_in(page, board_url)
            for name, path in (("board", "/board"), ("agency", f"/agencies/{LAGGARD}")):
                await page.goto(board_url + path)
                target = tmp_path / f"{name}-{width}.png"
                await page.screenshot(path=str(target), full_page=True)
                shots.append(target)
        finally:
            await context.close()
    check_and_keep(shots)
