"""The reporting form (issue 19, page 4) in Debian's Chromium: intake's real app served by uvicorn
on a loopback port over the session's PostgreSQL and Kafka, a leader of a commune logged in by
their session cookie. What the form sends is read back from the canonical topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import expect

from services.aggregator.bootstrap import bootstrap as aggregator_bootstrap
from services.aggregator.entrypoints.app import create_app as aggregator_app
from services.intake.__main__ import topic_specs
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.domain.problems import REASONS
from services.intake.settings import IntakeSettings
from shared.auth import AuthSettings, Principal, Role, TokenIssuer
from shared.auth.tokens import generate_signing_key, load_signing_key
from shared.clock import ShiftedClock
from shared.db import upgrade_async
from shared.infra import create_database, drop_database, service_database_url
from shared.kafka import ensure_topics
from shared.web.i18n import MESSAGES
from tests.aggregator.helpers import create_topics, fresh_database, settings_for, unique_topics
from tests.intake.integration.conftest import served_on_loopback
from tests.topics import records_until
from tests.web.screens import WIDTHS, check_and_keep

pytestmark = [pytest.mark.infra, pytest.mark.web]
NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")  # the July report (15 Jun - 14 Jul) is open
AGENCY, AGENCY_NAME = "UBND-KHE-SANH", "Ủy ban nhân dân thị trấn Khe Sanh"
OTHER = "UBND-LAO-BAO"
CSRF = "csrf-" + uuid.uuid4().hex
RECEIVED = "Đã nhận"
LEADER_LOGIN, PASSWORD = "chutich.khesanh", "Mat-khau-kiem-thu-2024"
QUEUED = "Chưa có kết nối mạng: báo cáo đã được lưu và sẽ tự động gửi khi có mạng"


@dataclass
class Intake:
    url: str
    events_topic: str
    bootstrap: str
    key: Path
    jwks: Path
    container: Any = None

    def session(self, role: Role = Role.LEADER, agency: str | None = AGENCY) -> str:
        principal = Principal(f"test-{role}-{agency}", "Nguyễn Thị Lan", role, agency)
        return TokenIssuer(load_signing_key(self.key)).issue(principal)

    async def events(self, id_prefix: str, expected: int, settle: float = 1.5, timeout: float = 20.0) -> list:
        """The canonical topic's records whose id starts with `id_prefix` (all partitions, from the
        beginning): once `expected` are there, a little longer, so that a duplicate would show."""
        return await records_until(
            self.bootstrap,
            self.events_topic,
            until=lambda found: len(found) >= expected,
            timeout=timeout,
            settle=settle,
            keep=lambda r: dict(r.headers).get("ce_id", b"").decode().startswith(id_prefix),
            transform=lambda r: ({k: v.decode() for k, v in r.headers}, json.loads(r.value)),
        )


@asynccontextmanager
async def running_intake(
    database_url: str, kafka_bootstrap: str, keys: Path, now: datetime, **overrides: Any
) -> AsyncIterator[Intake]:
    """Intake's app on a loopback port, over a database of its own and topics of its own, its
    clock at `now`, with the commune leader's account (`overrides`: settings, e.g. the plans)."""
    created = await create_database(database_url, "intake")
    db = service_database_url(created, "intake")
    await upgrade_async("intake", db)
    key, jwks = generate_signing_key(keys)
    tag = uuid.uuid4().hex[:8]
    settings = IntakeSettings(
        database_url=db,
        kafka_bootstrap_servers=kafka_bootstrap,
        TIENDO_RAW_TOPIC=f"form-{tag}.raw",
        TIENDO_EVENTS_TOPIC=f"form-{tag}.events",
        TIENDO_DLQ_TOPIC=f"form-{tag}.dlq",
        INTAKE_RAW_CONSUMER=False,
        AUTH_SIGNING_KEY_FILE=str(key),
        **overrides,
    )
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    container = intake_bootstrap(settings, clock=ShiftedClock(now), auth=AuthSettings(jwks_file=jwks))
    assert container.accounts is not None
    await container.accounts.create(
        LEADER_LOGIN, "Hồ Văn Pả (Chủ tịch UBND thị trấn)", Role.LEADER, AGENCY, PASSWORD, datetime.now(UTC)
    )
    try:
        async with served_on_loopback(container, settings, patience=30) as (host, port):
            yield Intake(
                f"http://{host}:{port}", settings.events_topic, kafka_bootstrap, key, jwks, container
            )
    finally:
        await drop_database(database_url, created)


@pytest.fixture(scope="module")
async def intake(database_url: str, kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[Intake]:
    async with running_intake(
        database_url, kafka_bootstrap, tmp_path_factory.mktemp("form-keys"), NOW
    ) as served:
        yield served


async def _context(browser, intake: Intake, width: int = 1280, session: str | None = None):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN")
    await context.add_cookies(
        [
            {
                "name": "tiendo_session",
                "value": session or intake.session(),
                "url": intake.url,
                "httpOnly": True,
            },
            {"name": "tiendo_csrf", "value": CSRF, "url": intake.url},
        ]
    )
    return context


@pytest.fixture
async def form(browser, intake: Intake) -> AsyncIterator[Any]:
    """A fresh browser (its own storage) of the commune's leader, on the form."""
    context = await _context(browser, intake)
    page = await context.new_page()
    response = await page.goto(f"{intake.url}/report")
    assert response is not None and response.status == 200
    try:
        yield page
    finally:
        await context.close()


async def draft_id(page) -> str:
    stored = await page.evaluate(f"localStorage.getItem('tiendo.report.draft.{AGENCY}.2024-07')")
    return json.loads(stored)["id"]


async def fill_report(page) -> None:
    await page.fill("#value-propaganda_sessions", "3")
    await page.fill("#value-propaganda_participants", "1.250")  # Vietnamese thousands: 1250
    await page.click("#add-activity")
    await page.select_option("#a1-activity", "national_day_event")
    await page.fill("#a1-date", "2024-06-18")
    await page.fill("#a1-participants", "45")
    await page.fill("#note", "Tuyên truyền tại các tổ dân phố")


async def status_text(page) -> str:
    await page.locator("#form-status").wait_for(state="visible")
    return await page.locator("#form-status").inner_text()


def by_type(events: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for headers, data in events:
        out.setdefault(headers["ce_type"].removeprefix("vn.gov.pcmt."), []).append((headers, data))
    return out


# ------------------------------------------------------------------------------------------ tests


def test_every_problem_reason_has_a_vietnamese_and_an_english_text():
    for reason in REASONS:
        texts = MESSAGES[f"problem.{reason}"]
        assert texts["vi"] and texts["en"] and texts["vi"] != texts["en"], reason


async def test_the_form_is_in_vietnamese_and_every_field_has_a_label(form, intake):
    assert await form.get_attribute("html", "lang") == "vi"
    assert await form.locator("h1").inner_text() == "Báo cáo kết quả thực hiện"
    assert await form.locator("#agency-name").inner_text() == AGENCY_NAME
    assert await form.locator("select#period").input_value() == "2024-07"
    label = await form.locator("label[for=value-propaganda_sessions]").inner_text()
    assert "Số buổi tuyên truyền phòng, chống ma túy" in label and "(buổi)" in label
    assert (
        "Chỉ tiêu giao (Tháng 7/2024): 1 buổi" in await form.locator("#hint-propaganda_sessions").inner_text()
    )
    # counted from activities elsewhere, never both: only the types this commune may record
    await form.click("#add-activity")
    options = await form.locator("#a1-activity option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options == ["", "inspection", "national_day_event"]
    unlabelled = await form.evaluate(
        "() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter((el) => el.labels.length === 0 || !el.labels[0].textContent.trim()).map((el) => el.id)"
    )
    assert unlabelled == []

    await form.goto(f"{intake.url}/report?lang=en")
    assert await form.get_attribute("html", "lang") == "en"
    assert await form.locator("h1").inner_text() == "Progress report"
    assert "Khe Sanh Township People's Committee" in await form.locator("#agency-name").inner_text()
    assert await form.locator("#send").inner_text() == "Send"


async def test_a_report_sent_once_and_twice_is_on_the_canonical_topic_once(form, intake):
    await fill_report(form)
    await form.click("#send")
    first = await status_text(form)
    await expect(form.locator("#form-status")).to_contain_text(RECEIVED)
    assert RECEIVED in await status_text(form), first
    prefix = await draft_id(form)

    answers: list[int] = []
    form.on("response", lambda r: answers.append(r.status) if r.url.endswith("/v1/events") else None)
    await form.click("#send")  # "Gửi" again: the same events, answered as duplicates
    await expect(form.locator("#form-status")).to_contain_text(RECEIVED)
    for _ in range(100):
        if len(answers) == 4:
            break
        await asyncio.sleep(0.05)
    assert answers == [200, 200, 200, 200]  # duplicates (202 is a first acceptance)

    events = await intake.events(prefix, 4)
    kinds = by_type(events)
    assert sorted(kinds) == ["activity.recorded.v1", "indicator.reported.v1", "report.submitted.v1"]
    assert len(events) == 4, [h["ce_id"] for h, _ in events]
    values = {d["indicator"]: d["value"] for _, d in kinds["indicator.reported.v1"]}
    assert values == {"propaganda_sessions": 3, "propaganda_participants": 1250}
    assert all(h["ce_source"] == f"/agencies/{AGENCY}" for h, _ in events)
    assert all(d["period"] == "2024-07" for _, d in kinds["indicator.reported.v1"])
    [(_, activity)] = kinds["activity.recorded.v1"]
    assert (activity["activity"], activity["date"], activity["participants"]) == (
        "national_day_event",
        "2024-06-18",
        45,
    )
    [(_, report)] = kinds["report.submitted.v1"]
    assert report == {"period": "2024-07", "note": "Tuyên truyền tại các tổ dân phố"}
    # what was sent is shown as the last value, and the report is read-only
    assert await form.locator("#last-propaganda_sessions").inner_text() == "3 (Tháng 7/2024)"
    assert await form.locator("#value-propaganda_sessions").get_attribute("readonly") is not None


async def test_a_field_error_is_shown_in_vietnamese_next_to_the_field_and_nothing_is_sent(form, intake):
    posted: list[str] = []
    form.on("request", lambda r: posted.append(r.url) if r.url.endswith("/v1/events") else None)
    await form.fill("#value-propaganda_sessions", "-3")
    await form.fill("#value-propaganda_participants", "200")
    await form.click("#send")
    error = form.locator("#error-propaganda_sessions")
    await error.wait_for(state="visible")
    assert await error.inner_text() == "Số liệu phải là một số không âm (ví dụ: 12 hoặc 2,5)."
    assert await form.get_attribute("#value-propaganda_sessions", "aria-invalid") == "true"
    assert await form.locator("#error-propaganda_participants").is_hidden()
    assert "vui lòng sửa các ô được đánh dấu" in await status_text(form)

    await form.fill("#value-propaganda_sessions", "6000")  # above the plan's cap for sessions (5000)
    await form.click("#send")
    await expect(form.locator("#error-propaganda_sessions")).to_contain_text("vượt quá mức tối đa")
    assert await form.input_value("#value-propaganda_participants") == "200"  # nothing valid lost
    assert posted == []
    assert await intake.events(await draft_id(form), 1, settle=0, timeout=3) == []


async def test_the_draft_survives_a_reload(form):
    await fill_report(form)
    await form.reload()
    assert await form.input_value("#value-propaganda_sessions") == "3"
    assert await form.input_value("#value-propaganda_participants") == "1.250"
    assert await form.locator("#a1-activity").input_value() == "national_day_event"
    assert await form.input_value("#a1-participants") == "45"
    assert await form.input_value("#note") == "Tuyên truyền tại các tổ dân phố"


async def test_offline_the_report_is_queued_and_sent_once_when_the_connection_is_back(form, intake):
    for _ in range(100):  # the service worker is active and keeps the page
        if await form.evaluate(
            "() => navigator.serviceWorker.ready.then(() => caches.match(location.href)).then(Boolean)"
        ):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the service worker did not keep the page")
    await fill_report(form)
    context = form.context
    await context.set_offline(True)
    await form.click("#send")
    assert await status_text(form) == QUEUED
    reloaded = await form.reload()  # the service worker's copy of the page, the queue in storage
    assert reloaded is not None and reloaded.from_service_worker
    assert await status_text(form) == QUEUED
    assert await form.input_value("#value-propaganda_sessions") == "3"
    prefix = await draft_id(form)
    assert await intake.events(prefix, 1, settle=0, timeout=2) == []

    await context.set_offline(False)  # `online`: the queued report goes out by itself
    await expect(form.locator("#form-status")).to_contain_text(RECEIVED)
    assert "đã được gửi lúc" in await status_text(form)
    events = await intake.events(prefix, 4)
    assert len(events) == 4 and len({h["ce_id"] for h, _ in events}) == 4


async def test_another_agency_s_source_is_refused(form, intake):
    answer = await form.evaluate(
        """async ([source, csrf]) => {
          const event = {specversion: "1.0", id: crypto.randomUUID(), source, time: new Date().toISOString(),
            type: "vn.gov.pcmt.report.submitted.v1", data: {period: "2024-07"}};
          const send = (headers) => fetch("/v1/events", {method: "POST", body: JSON.stringify(event),
            headers: {"Content-Type": "application/cloudevents+json", ...headers}});
          const other = await send({"X-CSRF-Token": csrf});
          const forged = await send({});
          return {status: other.status, body: await other.json(), forged: forged.status};
        }""",
        [f"/agencies/{OTHER}", CSRF],
    )
    assert answer["status"] == 403 and answer["body"]["reason"] == "source-mismatch"
    assert answer["forged"] == 401  # no CSRF token: not from the form's page

    async with httpx.AsyncClient(base_url=intake.url) as client:
        anonymous = await client.get("/report")
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
        client.cookies.set("tiendo_session", intake.session(Role.COMMITTEE, None))
        committee = await client.get("/report")
        assert committee.status_code == 403 and "không gắn với cơ quan" in committee.text


async def test_screenshots_at_phone_and_desktop_width(browser, intake, tmp_path):
    """Always taken; kept in docs/screens/ when TIENDO_SCREENSHOTS=1 (tests/web/screens.py)."""
    shots = []
    for width in WIDTHS:
        context = await _context(browser, intake, width=width)
        try:
            page = await context.new_page()
            await page.goto(f"{intake.url}/report")
            await page.fill("#value-propaganda_sessions", "-1")  # an error shown beside its field
            await page.click("#send")
            await page.locator("#error-propaganda_sessions").wait_for(state="visible")
            target = tmp_path / f"form-{width}.png"
            await page.screenshot(path=str(target), full_page=True)
            shots.append(target)
        finally:
            await context.close()
    check_and_keep(shots)


async def test_no_sideways_scroll_on_a_phone(browser, intake):
    context = await _context(browser, intake, width=390)
    try:
        page = await context.new_page()
        await page.goto(f"{intake.url}/report")
        await page.click("#add-activity")
        await page.click("#add-activity")
        await page.fill("#value-propaganda_sessions", "-1")
        await page.click("#send")
        await page.locator("#error-propaganda_sessions").wait_for(state="visible")
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], widths
    finally:
        await context.close()


@pytest.fixture(scope="module")
async def board(intake: Intake, database_url: str) -> AsyncIterator[str]:
    """The aggregator consuming intake's canonical topic, its pages served on loopback; the
    leader's session from intake's login is the host's cookie, so it serves both."""
    topics = {**unique_topics("form-board"), "TIENDO_EVENTS_TOPIC": intake.events_topic}
    await create_topics(intake.bootstrap, topics)
    settings = settings_for(intake.bootstrap, await fresh_database(database_url), topics)
    app = aggregator_app(
        aggregator_bootstrap(settings, clock=ShiftedClock(NOW)),
        auth=AuthSettings(jwks_file=intake.jwks, login_url=f"{intake.url}/login"),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the aggregator did not start"
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_a_leader_logs_in_reports_and_sees_the_figure_on_their_agency_s_page(browser, intake, board):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.goto(f"{intake.url}/report")  # no session: the login page, then back here
        await page.wait_for_url("**/login?next=*")
        await page.get_by_label("Tên đăng nhập").fill(LEADER_LOGIN)
        await page.get_by_label("Mật khẩu").fill(PASSWORD)
        await page.get_by_role("button", name="Đăng nhập").click()
        await page.wait_for_url(f"{intake.url}/report")
        await page.fill("#value-propaganda_sessions", "4")
        await page.fill("#value-propaganda_participants", "310")
        await page.click("#send")
        await expect(page.locator("#form-status")).to_contain_text(RECEIVED)

        figure = f"{board}/agencies/{AGENCY}/figures/propaganda_sessions/2024-07"
        loop = asyncio.get_running_loop()
        deadline, shown = loop.time() + 30, ""
        while loop.time() < deadline:
            response = await page.goto(figure)
            assert response is not None and response.status == 200
            shown = await page.locator(".current").inner_text()
            if shown == "4":
                break
            await asyncio.sleep(0.5)
        assert shown == "4", f"the figure page shows {shown!r}"
        assert "Số buổi tuyên truyền" in await page.locator("h1").inner_text()
        await page.goto(f"{board}/agencies/{AGENCY}")
        assert AGENCY_NAME in await page.locator("h1").inner_text()
        # Back on the form, the target's figure on record, read from the aggregator's API with
        # the leader's session (INTAKE_FIGURES_URL; the month's target is 1 session).
        intake.container.settings.figures_url = board
        await page.goto(f"{intake.url}/report")
        record = page.locator("#record-propaganda_sessions")
        assert (await record.inner_text()).startswith("4 ")
        assert (
            "Số liệu đã ghi nhận (Tháng 7/2024):"
            in await page.locator("#hint-propaganda_sessions").inner_text()
        )
    finally:
        intake.container.settings.figures_url = None
        await context.close()
