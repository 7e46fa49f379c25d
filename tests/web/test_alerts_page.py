"""The notifier's alerts page in Debian's Chromium: what a leader sees (their own agency's alerts
by name, not a sibling district's), acknowledging from the page (recorded as the API records it),
an operator's silences, the CSRF refusal, Vietnamese and English, and a phone's width."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from services.notifier.adapters.tables import silences
from tests.web import notifier_fixtures
from tests.web.notifier_fixtures import (
    AGENCY_SYSTEM,
    LEADER,
    LOGIN_URL,
    OPERATOR,
    OWN,
    SIBLING,
    signed_in,
)
from tests.web.screens import WIDTHS, check_and_keep

pytestmark = [pytest.mark.infra, pytest.mark.web]
notifier_site = notifier_fixtures.notifier_site  # the served notifier (a module fixture)
PAGE = "/pages/alerts"
OWN_NAME, SIBLING_NAME = "Công an huyện Hướng Hóa", "Công an huyện Đakrông"
PROVINCE_POLICE = "Công an tỉnh Quảng Trị"
INDICATOR_NAME = "Số vụ phạm tội về ma túy được phát hiện, bắt giữ"
ACK_BUTTON = "Xác nhận đã nhận, đang xử lý"
SILENCE_REASON = "Bảo trì hệ thống tiếp nhận báo cáo của huyện"

# every visible form control has a label the browser associates with it
UNLABELLED_JS = """
() => [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.type !== 'hidden' && el.labels.length === 0)
  .map((el) => el.name || el.id)
"""


async def _alert_of(site, agency: str, kind: str) -> dict:
    async with site.api() as api:
        found = (await api.get("/alerts", params={"agency": agency, "state": "firing"})).json()
    return next(a for a in found if a["kind"] == kind)


async def _silences_stored(site) -> int:
    # counted in the table: GET /silences?active=false cannot read a silence lifted at the very
    # moment it started (ends_at == starts_at), which the manual clock makes here
    async with site.container.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(silences))).scalar_one()


async def test_a_leader_sees_their_own_alerts_by_name_and_not_a_siblings(browser, notifier_site):
    context = await signed_in(browser, notifier_site, LEADER)
    page = await context.new_page()
    response = await page.goto(f"{notifier_site.url}{PAGE}")
    assert response.status == 200
    assert await page.get_attribute("html", "lang") == "vi"
    table = page.locator("table.alerts")
    text = await table.inner_text()
    assert OWN_NAME in text and SIBLING_NAME not in text
    assert OWN not in text and SIBLING not in text  # names, never codes
    lagging = table.locator("tbody tr", has_text="Chậm tiến độ").filter(has_text=INDICATOR_NAME)
    row = await lagging.first.inner_text()
    assert "Tháng 6/2024" in row  # the period as leaders read it
    assert f"Đã chuyển lên 1 cấp: {PROVINCE_POLICE}" in row  # four days open: one step up
    assert "20/06/2024 09:00" in row  # since when, in Vietnam time
    badge = lagging.first.locator(".status.status-lagging")
    assert (await badge.inner_text()).strip() == "Chậm tiến độ"  # the status in words and colour
    missing = table.locator("tbody tr", has_text="Chưa nộp báo cáo")
    assert "Chưa nộp (quá hạn)" in await missing.first.inner_text()
    assert await page.locator("#silences").count() == 0  # silences are not a leader's
    await context.close()


async def test_acknowledging_from_the_page_records_the_leader(browser, notifier_site):
    alert = await _alert_of(notifier_site, OWN, "lagging")
    assert alert["acked_by"] is None
    context = await signed_in(browser, notifier_site, LEADER)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    row = page.locator(f"#alert-{alert['id']}")
    await row.get_by_role("button", name=ACK_BUTTON).click()
    await page.wait_for_url(f"**{PAGE}?done=acknowledged*")
    notice = await page.locator("p.notice[role=status]").inner_text()
    assert f"cảnh báo số {alert['id']} đã được xác nhận" in notice
    shown = await page.locator(f"#alert-{alert['id']}").inner_text()
    assert f"Đã xác nhận: {LEADER.name}" in shown
    assert await page.locator(f"#alert-{alert['id']}").get_by_role("button").count() == 0
    after = await _alert_of(notifier_site, OWN, "lagging")  # read back through the API
    assert after["acked_by"] == LEADER.name
    assert after["acked_by_subject"] == f"test-leader-{OWN}"
    async with notifier_site.api() as api:
        audit = (await api.get("/v1/audit", params={"principal": f"test-leader-{OWN}"})).json()
    [entry] = [e for e in audit["items"] if e["action"] == "acknowledge"]
    assert entry["outcome"] == "allowed" and entry["agency"] == OWN
    assert entry["detail"] == {"alert": alert["id"]}  # the API's entry, exactly
    await context.close()


async def test_a_form_without_its_csrf_field_is_refused(browser, notifier_site):
    alert = await _alert_of(notifier_site, OWN, "report_missing")
    context = await signed_in(browser, notifier_site, LEADER)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    form = page.locator(f"#alert-{alert['id']} form")
    await form.evaluate("(form) => form.querySelector('input[name=csrf]').remove()")
    async with page.expect_response(f"**{PAGE}/{alert['id']}/ack") as answer:
        await form.get_by_role("button", name=ACK_BUTTON).click()
    assert (await answer.value).status == 403
    assert "Yêu cầu bị từ chối" in await page.locator("h1").inner_text()
    assert "không được gửi từ trang của hệ thống Tiendo" in await page.locator("p.error").inner_text()
    assert (await _alert_of(notifier_site, OWN, "report_missing"))["acked_by"] is None
    await context.close()


async def test_an_operator_has_no_acknowledge_button_and_is_refused_in_vietnamese(browser, notifier_site):
    alert = await _alert_of(notifier_site, SIBLING, "lagging")
    context = await signed_in(browser, notifier_site, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    assert SIBLING_NAME in await page.locator("table.alerts").inner_text()  # every agency
    assert await page.get_by_role("button", name=ACK_BUTTON).count() == 0
    csrf = next(c["value"] for c in await context.cookies() if c["name"] == "tiendo_csrf")
    answer = await page.request.post(
        f"{notifier_site.url}{PAGE}/{alert['id']}/ack", form={"csrf": csrf}, max_redirects=0
    )
    assert answer.status == 403
    assert "không được xác nhận cảnh báo này" in await answer.text()
    assert (await _alert_of(notifier_site, SIBLING, "lagging"))["acked_by"] is None
    await context.close()


async def test_an_operator_creates_and_lifts_a_silence(browser, notifier_site):
    context = await signed_in(browser, notifier_site, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    form = page.locator("form.silence")
    await form.get_by_label("Cơ quan, đơn vị").select_option(label=OWN_NAME)
    await form.get_by_label("Chỉ tiêu").select_option(label=INDICATOR_NAME)
    await form.get_by_label("Kỳ (để trống").fill("2024-06")
    await form.get_by_label("Thời gian tạm dừng (số giờ)").fill("2")
    await form.get_by_label("Lý do").fill(SILENCE_REASON)
    await form.get_by_role("button", name="Tạm dừng cảnh báo").click()
    await page.wait_for_url(f"**{PAGE}?done=silenced*")
    assert "Đã tạo lệnh tạm dừng cảnh báo số" in await page.locator("p.notice").inner_text()
    async with notifier_site.api(OPERATOR) as api:
        [made] = [s for s in (await api.get("/silences")).json() if s["reason"] == SILENCE_REASON]
    assert (made["agency"], made["indicator"], made["period"]) == (OWN, "drug_cases_detected", "2024-06")
    assert made["created_by"] == OPERATOR.name and made["created_by_subject"] == "test-operator-all"
    row = page.locator(f"#silence-{made['id']}")
    assert OWN_NAME in await row.inner_text()
    await row.get_by_role("button", name="Hủy tạm dừng").click()
    await page.wait_for_url(f"**{PAGE}?done=lifted*")
    assert f"Đã hủy lệnh tạm dừng cảnh báo số {made['id']}" in await page.locator("p.notice").inner_text()
    assert await page.locator(f"#silence-{made['id']}").count() == 0
    async with notifier_site.api(OPERATOR) as api:
        assert all(s["id"] != made["id"] for s in (await api.get("/silences")).json())
    await context.close()


async def test_a_silence_with_a_wrong_field_is_shown_next_to_the_field(browser, notifier_site):
    context = await signed_in(browser, notifier_site, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    before = await _silences_stored(notifier_site)
    form = page.locator("form.silence")
    await form.get_by_label("Kỳ (để trống").fill("2024-13")
    await form.get_by_label("Thời gian tạm dừng (số giờ)").fill("0")
    await form.get_by_label("Lý do").fill(SILENCE_REASON)
    async with page.expect_response("**/pages/silences") as answer:
        await form.get_by_role("button", name="Tạm dừng cảnh báo").click()
    assert (await answer.value).status == 422
    period_error = page.locator("#silence-period-error")
    assert "Kỳ không hợp lệ" in await period_error.inner_text()
    assert "lớn hơn 0" in await page.locator("#silence-hours-error").inner_text()
    assert await page.locator("#silence-period").get_attribute("aria-describedby") == "silence-period-error"
    assert await page.locator("#silence-reason").input_value() == SILENCE_REASON  # kept
    assert await page.locator("#silence-reason-error").count() == 0
    assert await _silences_stored(notifier_site) == before
    await context.close()


async def test_a_silence_of_every_alert_is_refused_beside_the_agency(browser, notifier_site):
    """The use case refuses a silence naming no agency, indicator or period; the page says so."""
    context = await signed_in(browser, notifier_site, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    before = await _silences_stored(notifier_site)
    form = page.locator("form.silence")
    await form.get_by_label("Thời gian tạm dừng (số giờ)").fill("24")
    await form.get_by_label("Lý do").fill(SILENCE_REASON)
    async with page.expect_response("**/pages/silences") as answer:
        await form.get_by_role("button", name="Tạm dừng cảnh báo").click()
    assert (await answer.value).status == 422
    assert "Vui lòng chọn cơ quan, đơn vị" in await page.locator("#silence-agency-error").inner_text()
    assert await _silences_stored(notifier_site) == before
    await context.close()


async def test_the_page_in_english_with_lang_en(browser, notifier_site):
    context = await signed_in(browser, notifier_site, OPERATOR)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    assert (await page.locator("h1").inner_text()).strip() == "Open alerts"
    text = await page.locator("table.alerts").inner_text()
    assert "Huong Hoa District Police" in text and "June 2024" in text and "Lagging" in text
    assert await page.locator("form.silence").get_by_label("Duration (hours)").count() == 1
    await page.goto(f"{notifier_site.url}{PAGE}")  # the choice is remembered (tiendo_lang)
    assert await page.get_attribute("html", "lang") == "en"
    await context.close()


@pytest.mark.parametrize("person", [LEADER, OPERATOR], ids=["leader", "operator"])
async def test_no_sideways_scroll_on_a_phone_and_every_field_labelled(browser, notifier_site, person):
    context = await signed_in(browser, notifier_site, person, width=390)
    page = await context.new_page()
    await page.goto(f"{notifier_site.url}{PAGE}")
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"sideways scroll at 390 px: {widths}"
    assert await page.evaluate(UNLABELLED_JS) == []
    await context.close()


async def test_an_anonymous_visitor_is_sent_to_the_login_page(notifier_site):
    async with httpx.AsyncClient(base_url=notifier_site.url) as client:
        response = await client.get(PAGE)
        posted = await client.post(f"{PAGE}/1/ack", data={"csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{LOGIN_URL}?next=")
    assert posted.status_code == 303 and "pages%2Falerts" in posted.headers["location"]


async def test_an_agency_system_is_refused_the_page(browser, notifier_site):
    context = await signed_in(browser, notifier_site, AGENCY_SYSTEM)
    page = await context.new_page()
    response = await page.goto(f"{notifier_site.url}{PAGE}")
    assert response.status == 403
    assert "không được xem cảnh báo" in await page.locator("p.error").inner_text()
    await context.close()


async def test_screenshots_at_phone_and_desktop_width(browser, notifier_site, tmp_path):
    """Always taken; kept in docs/screens/ when TIENDO_SCREENSHOTS=1 (tests/web/screens.py)."""
    shots = []
    for width in WIDTHS:
        context = await signed_in(browser, notifier_site, OPERATOR, width=width)
        page = await context.new_page()
        try:
            await page.goto(f"{notifier_site.url}{PAGE}")
            target = tmp_path / f"alerts-{width}.png"
            await page.screenshot(path=str(target), full_page=True)
            shots.append(target)
        finally:
            await context.close()
    check_and_keep(shots)
