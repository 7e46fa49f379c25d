"""The people's pages in a real browser: the real aggregator app served by uvicorn on a loopback
port, its projection made by the real projector from the demo's reporting on the session's
PostgreSQL, and Debian's Chromium driven by Playwright (never a browser of Playwright's own).

People log in for real: intake's app is served too (its /login, over the session's PostgreSQL and
Kafka), signing sessions with a key made for the package; the aggregator verifies them with its
public JWKS and sends a visitor without a session to intake's /login. The cookies are the
host's (127.0.0.1), whatever the port, so one login serves both, as on a local stack."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from services.aggregator.bootstrap import bootstrap
from services.aggregator.entrypoints.app import create_app
from services.intake.__main__ import topic_specs
from services.intake.bootstrap import bootstrap as intake_bootstrap
from shared.auth import AuthSettings, Role
from shared.auth.tokens import generate_signing_key
from shared.clock import ManualClock
from shared.db import upgrade_async
from shared.demo import BEHAVIOURS
from shared.events.models import agency_event_adapter
from shared.infra import create_database, drop_database, service_database_url
from shared.kafka import ensure_topics
from shared.simulation import Simulation
from tests.aggregator.helpers import NOW, PLAN, fresh_database, settings_for, unique_topics
from tests.aggregator.streams import apply_as_arrived
from tests.intake.integration.conftest import make_settings, served_on_loopback

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAGGARD = "CA-HUONG-HOA"  # shared.demo: pace 0.5 on drug-crime detections
CORRECTION_REASON = "Trùng 2 vụ đã báo cáo ở kỳ trước"
PASSWORD = "Mat-khau-kiem-thu-2024"
LOGIN_LABEL, PASSWORD_LABEL, LOGIN_BUTTON = "Tên đăng nhập", "Mật khẩu", "Đăng nhập"


@dataclass(frozen=True)
class Account:
    login: str
    name: str
    role: Role
    agency: str | None = None


SECRETARY = Account("thu.ky.bcd", "Nguyễn Thị Thu (Thư ký Ban Chỉ đạo)", Role.COMMITTEE)
LEADER = Account("lanh.dao.huonghoa", "Trần Văn Hùng (Trưởng Công an huyện)", Role.LEADER, LAGGARD)
OPERATOR = Account("truc.van.hanh", "Phạm Minh Trực (Trực vận hành)", Role.OPERATOR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_events() -> list:
    """The demo's first half of 2024 (shared.demo BEHAVIOURS), plus the laggard correcting its
    latest drug-crime figure, with a reason."""
    events = [agency_event_adapter.validate_python(e) for e in Simulation(PLAN, BEHAVIOURS).events(NOW)]
    latest = max(
        (
            e
            for e in events
            if e.source.endswith(LAGGARD)
            and e.type.endswith("indicator.reported.v1")
            and e.data.indicator == "drug_cases_detected"
        ),
        key=lambda e: e.time,
    )
    correction = agency_event_adapter.validate_python(
        {
            "specversion": "1.0",
            "id": "web-test-correction",
            "source": latest.source,
            "type": "vn.gov.pcmt.indicator.corrected.v1",
            "time": (latest.time + timedelta(hours=3)).isoformat(),
            "data": {
                "corrects": latest.id,
                "value": max(latest.data.value - 2, 0),
                "reason": CORRECTION_REASON,
            },
        }
    )
    return [*events, correction]


@pytest.fixture(scope="package")
async def demo_data() -> dict:
    events = demo_events()
    return {"events": events, "correction": next(e for e in events if e.id == "web-test-correction")}


@pytest.fixture(scope="package")
def issuer_keys(tmp_path_factory) -> tuple[Path, Path]:
    """The package's signing key (intake signs with it) and its JWKS (the aggregator verifies)."""
    return generate_signing_key(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="package")
def board_port() -> int:
    return _free_port()


@pytest.fixture(scope="package")
async def intake_url(
    database_url: str, kafka_bootstrap: str, issuer_keys: tuple[Path, Path], board_port: int
) -> AsyncIterator[str]:
    """Intake's app on a loopback port with the people's accounts; its login page may send them
    back to the aggregator's pages (INTAKE_LOGIN_NEXT_ORIGINS)."""
    private, public = issuer_keys
    created = await create_database(database_url, "intake")
    url = service_database_url(created, "intake")
    await upgrade_async("intake", url)
    board = f"http://127.0.0.1:{board_port}"
    settings = make_settings(
        url,
        kafka_bootstrap,
        AUTH_SIGNING_KEY_FILE=private,
        INTAKE_RAW_CONSUMER=False,
        INTAKE_LOGIN_NEXT_ORIGINS=board,
        INTAKE_LOGIN_HOME=f"{board}/board",
    )
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    container = intake_bootstrap(settings, clock=ManualClock(NOW), auth=AuthSettings(jwks_file=public))
    assert container.accounts is not None
    for account in (SECRETARY, LEADER, OPERATOR):
        await container.accounts.create(
            account.login, account.name, account.role, account.agency, PASSWORD, datetime.now(UTC)
        )
    try:
        async with served_on_loopback(container, settings) as (host, port):
            yield f"http://{host}:{port}"
    finally:
        await drop_database(database_url, created)


@pytest.fixture(scope="package")
async def board_url(
    database_url: str, demo_data: dict, issuer_keys: tuple[Path, Path], board_port: int, intake_url: str
) -> AsyncIterator[str]:
    """The aggregator's app on a loopback port, its projection as the demo's stream makes it: each
    event recorded an hour after its time (so `as_of` sees what was known then), judged at NOW;
    sessions from intake's login."""
    url = await fresh_database(database_url)
    clock = ManualClock(NOW)
    # No Kafka: the pages read the projection only; the projector is driven directly.
    agg = bootstrap(settings_for("127.0.0.1:9", url, unique_topics("web")), clock=clock, plan=PLAN)
    await apply_as_arrived(agg.projector, demo_data["events"], NOW)
    await agg.projector.apply([], NOW, reevaluate={a.code for a in PLAN.agencies})
    auth = AuthSettings(jwks_file=issuer_keys[1], login_url=f"{intake_url}/login")
    app = create_app(agg, run_background=False, auth=auth)
    port = board_port
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture(scope="package")
async def browser():
    from playwright.async_api import async_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium "
            "(apt-get install chromium); Playwright's own browser download is never used",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def logged_in(page, board_url: str, account: Account = SECRETARY, lands_on: str = "/board"):
    """Log in as a person does: open the board, be sent to the login page, fill in the login and
    the password by their labels, submit, and land on `lands_on` (a leader: their agency's page)."""
    await page.goto(f"{board_url}/board")
    await page.wait_for_url("**/login?next=*")
    await page.get_by_label(LOGIN_LABEL).fill(account.login)
    await page.get_by_label(PASSWORD_LABEL).fill(PASSWORD)
    await page.get_by_role("button", name=LOGIN_BUTTON).click()
    await page.wait_for_url(f"{board_url}{lands_on}")
    return page
