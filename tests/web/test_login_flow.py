"""One login for the people's pages, in Debian's Chromium: the board sends a visitor without a
session to intake's login page, a wrong password is told in Vietnamese, a district leader sees
their own agency and is refused a sibling's, the page's logout button ends the session, and a
leader follows the link in their email to their figure's page."""

from __future__ import annotations

import asyncio
import email.policy
from dataclasses import replace
from datetime import timedelta
from email.parser import BytesParser

import pytest

from services.notifier.adapters.plan_directory import load_directory
from services.notifier.adapters.rendering import RenderContext, render
from services.notifier.domain.policy import DigestPolicy
from shared.settings import DEFAULT_PLAN
from tests.notifier.helpers import T0, kpi_event
from tests.notifier.unit.on_fakes import NotifierOnFakes
from tests.web.conftest import (
    LAGGARD,
    LEADER,
    LOGIN_BUTTON,
    LOGIN_LABEL,
    PASSWORD,
    PASSWORD_LABEL,
    SECRETARY,
    logged_in,
)

pytestmark = [pytest.mark.infra, pytest.mark.web]
LAGGARD_NAME = "Công an huyện Hướng Hóa"
SIBLING = "CA-DAKRONG"  # a district police beside the laggard's, under the provincial police
FORBIDDEN_VI = "Tài khoản của đồng chí không được xem số liệu của cơ quan này."


async def test_the_board_sends_a_visitor_without_a_session_to_the_login_page_in_vietnamese(
    page, board_url, intake_url
):
    response = await page.goto(f"{board_url}/board")
    assert response.status == 200 and page.url.startswith(f"{intake_url}/login?next=")
    assert await page.get_attribute("html", "lang") == "vi"
    assert await page.locator("h1").inner_text() == "Đăng nhập"
    assert await page.get_by_label(LOGIN_LABEL).count() == 1
    assert await page.get_by_label(PASSWORD_LABEL).count() == 1
    assert "Bảng tổng hợp" not in await page.locator("main").inner_text()


async def test_a_wrong_password_is_told_in_vietnamese_and_opens_nothing(page, board_url, intake_url):
    await page.goto(f"{board_url}/board")
    await page.get_by_label(LOGIN_LABEL).fill(SECRETARY.login)
    await page.get_by_label(PASSWORD_LABEL).fill("khong-phai-mat-khau")
    await page.get_by_role("button", name=LOGIN_BUTTON).click()
    error = page.locator("#login-error")
    await error.wait_for()
    assert await error.inner_text() == "Tên đăng nhập hoặc mật khẩu không đúng."
    assert page.url.startswith(f"{intake_url}/login")
    assert await page.get_by_label(LOGIN_LABEL).input_value() == SECRETARY.login  # kept for a retry
    await page.goto(f"{board_url}/board")
    assert page.url.startswith(f"{intake_url}/login?next=")  # still no session


async def test_a_district_leader_lands_on_their_agency_and_is_refused_a_sibling_s(page, board_url):
    await logged_in(page, board_url, LEADER, lands_on=f"/agencies/{LAGGARD}")  # the board: every agency
    assert await page.locator("h1").inner_text() == LAGGARD_NAME
    assert LEADER.name in await page.locator("header form.account").inner_text()
    assert await page.locator("table.kpis tbody tr").count() > 0
    for path in (f"/agencies/{SIBLING}", f"/agencies/{SIBLING}/figures/drug_cases_detected/2024"):
        response = await page.goto(board_url + path)
        assert response.status == 403, path
        assert await page.get_attribute("html", "lang") == "vi"
        assert await page.locator("h1").inner_text() == "Không có quyền truy cập"
        assert await page.locator("p.error").inner_text() == FORBIDDEN_VI
        assert "Công an huyện Đakrông" not in await page.locator("main").inner_text()
    response = await page.goto(f"{board_url}/agencies/{LAGGARD}/figures/drug_cases_detected/2024")
    assert response.status == 200


async def test_the_logout_button_ends_the_session(page, board_url, intake_url):
    await logged_in(page, board_url)
    assert SECRETARY.name in await page.locator("header form.account").inner_text()
    await page.locator("header form.account").get_by_role("button", name="Đăng xuất").click()
    await page.wait_for_url(f"{intake_url}/login?*logged_out=1*")
    assert "Đồng chí đã đăng xuất." in await page.locator("#login-error").inner_text()
    assert "tiendo_session" not in {c["name"] for c in await page.context.cookies()}
    await page.goto(f"{board_url}/agencies/{LAGGARD}")
    assert page.url.startswith(f"{intake_url}/login?next=")


async def test_a_leader_goes_from_the_email_to_their_figure_s_page(page, board_url, intake_url):
    """The digest a leader receives (rendered by the notifier with NOTIFIER_PAGES_URL = the board's
    address) links each alert to its figure's page: opened without a session it asks for the login,
    then shows that figure."""

    def leader_s_email() -> bytes:  # the use case on fakes runs its own event loop
        directory = load_directory(DEFAULT_PLAN)
        policy = DigestPolicy(timezone=directory.timezone, group_wait=timedelta(minutes=1))
        notifier = NotifierOnFakes(directory, policy)
        notifier.event(kpi_event(agency=LAGGARD, indicator="drug_cases_detected", period="2024"), T0)
        [digest, *_] = [
            d for d in notifier.tick(T0 + policy.group_wait) if LAGGARD in directory.led_by(d.recipient.email)
        ]
        context = replace(RenderContext(directory, "Tiendo <tiendo@tiendo.local>"), pages_url=board_url)
        return render(digest, context).as_bytes()

    raw = await asyncio.to_thread(leader_s_email)
    text = BytesParser(policy=email.policy.default).parsebytes(raw).get_body(("plain",)).get_content()
    [link] = [
        line.split(": ", 1)[1] for line in text.splitlines() if "Xem số liệu và lịch sử báo cáo" in line
    ]
    assert link == f"{board_url}/agencies/{LAGGARD}/figures/drug_cases_detected/2024"
    await page.goto(link)
    await page.wait_for_url(f"{intake_url}/login?next=*")
    await page.get_by_label(LOGIN_LABEL).fill(LEADER.login)
    await page.get_by_label(PASSWORD_LABEL).fill(PASSWORD)
    await page.get_by_role("button", name=LOGIN_BUTTON).click()
    await page.wait_for_url(link)
    assert LAGGARD_NAME in await page.locator("main").inner_text()
