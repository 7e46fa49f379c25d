"""The reporting form across the 2025 reform (issue 20) in Debian's Chromium, with the shipped
plans and the clock on 5 August 2025: the Hướng Hóa district committee, ended on 30 June, is told
so and who reports for its work now, and is offered its own periods only (to June); the new Lao
Bảo commune committee reports August."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.async_api import expect

from shared.auth import Role
from shared.settings import REPO_ROOT
from tests.web.test_reporting_form import _context, running_intake

pytestmark = [pytest.mark.infra, pytest.mark.web]
AUGUST = datetime.fromisoformat("2025-08-05T09:00:00+07:00")


@pytest.fixture(scope="module")
async def intake(database_url: str, kafka_bootstrap: str, tmp_path_factory):
    keys = tmp_path_factory.mktemp("reform-keys")
    async with running_intake(
        database_url, kafka_bootstrap, keys, AUGUST, TIENDO_PLAN_FILE=str(REPO_ROOT / "plans")
    ) as served:
        yield served


async def test_an_ended_committee_is_told_who_reports_now_and_a_new_one_reports(browser, intake):
    ended = await _context(browser, intake, width=390, session=intake.session(Role.LEADER, "UBND-HUONG-HOA"))
    try:
        page = await ended.new_page()
        response = await page.goto(f"{intake.url}/report")
        assert response is not None and response.status == 200
        await expect(page.locator("#tenure")).to_contain_text("Cơ quan đã kết thúc hoạt động ngày 30/06/2025")
        await expect(page.locator("#tenure")).to_contain_text("Ủy ban nhân dân xã Lao Bảo")
        periods = await page.locator("#period option").evaluate_all("options => options.map(o => o.value)")
        assert periods == [f"2025-{m:02d}" for m in range(1, 7)]  # its own: to the June period
        assert await page.locator("#period").input_value() == "2025-06"
    finally:
        await ended.close()
    new = await _context(browser, intake, width=390, session=intake.session(Role.LEADER, "UBND-XA-LAO-BAO"))
    try:
        page = await new.new_page()
        await page.goto(f"{intake.url}/report")
        await expect(page.locator("#agency-name")).to_have_text("Ủy ban nhân dân xã Lao Bảo")
        assert await page.locator("#tenure").count() == 0  # in force: nothing to say
        assert await page.locator("#period").input_value() == "2025-08"
    finally:
        await new.close()
