"""The notifier's alerts page in a real browser: the real notifier app served by uvicorn on a
loopback port over its own database on the session's PostgreSQL, with alerts made the way the
service makes them (status events handled by the real Notifier, as in tests/notifier), and the
browser logged in by the session cookies a login would set (`tiendo_session` holding a token from
shared.auth.testing, `tiendo_csrf` for the forms)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from services.notifier.bootstrap import Container, bootstrap
from services.notifier.entrypoints.app import create_app
from shared.auth import CSRF_COOKIE, SESSION_COOKIE, AuthSettings, Role
from shared.auth.testing import bearer, issue_for, jwks_file
from shared.clock import ManualClock
from shared.db import upgrade_async
from shared.events import KpiStatus, ReportStatus
from shared.infra import create_database, drop_database, service_database_url
from tests.notifier.helpers import T0, kpi_event, report_event
from tests.notifier.helpers import settings as notifier_settings

OWN, SIBLING = "CA-HUONG-HOA", "CA-DAKRONG"  # district police, both under the provincial police
NO_KAFKA = "127.0.0.1:9"  # the page reads the notifier's tables; nothing consumes here
LOGIN_URL = "http://127.0.0.1:9/login"  # where an anonymous visitor is sent (never followed)
#: the page is looked at four days after the alerts opened: a lagging alert has climbed one step
#: (NOTIFIER_ESCALATION_DELAYS' first delay is three days)
SEEN_AT = T0 + timedelta(days=4)


@dataclass(frozen=True)
class Person:
    role: Role
    agency: str | None
    name: str


LEADER = Person(Role.LEADER, OWN, "Trần Văn Hùng (Trưởng Công an huyện)")
OPERATOR = Person(Role.OPERATOR, None, "Phạm Minh Trực (Trực vận hành)")
SECRETARY = Person(Role.COMMITTEE, None, "Nguyễn Thị Thu (Thư ký Ban Chỉ đạo)")
AGENCY_SYSTEM = Person(Role.AGENCY_SYSTEM, OWN, "Hệ thống Công an huyện Hướng Hóa")


@dataclass(frozen=True)
class Site:
    url: str
    container: Container

    def api(self, person: Person = SECRETARY) -> httpx.AsyncClient:
        """The notifier's own API, to read back what the page did."""
        headers = bearer(person.role, person.agency, person.name)
        return httpx.AsyncClient(base_url=self.url, headers=headers)


async def _seed(container: Container) -> None:
    """Alerts of the leader's own agency (a lagging figure, a missing report) and of a sibling."""
    handle = container.notifier.handle
    await handle(kpi_event(agency=OWN, indicator="drug_cases_detected", period="2024-06"), T0)
    await handle(report_event(agency=OWN, period="2024-06", status=ReportStatus.MISSING), T0)
    await handle(
        kpi_event(
            agency=SIBLING,
            indicator="drug_cases_detected",
            period="2024-06",
            status=KpiStatus.LAGGING,
        ),
        T0,
    )


@pytest.fixture(scope="module")
async def notifier_site(database_url: str) -> AsyncIterator[Site]:
    created = await create_database(database_url, "notifier")
    url = service_database_url(created, "notifier")
    await upgrade_async("notifier", url)
    clock = ManualClock(T0)
    container = bootstrap(notifier_settings(url, NO_KAFKA, 9), clock=clock)
    await _seed(container)
    clock.set(SEEN_AT)
    app = create_app(
        container, run_loops=False, auth=AuthSettings(jwks_file=jwks_file(), login_url=LOGIN_URL)
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield Site(f"http://{host}:{port}", container)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        await drop_database(database_url, created)


async def signed_in(browser: Any, site: Site, person: Person, width: int = 1280) -> Any:
    """A browser context holding the cookies a login sets: the session (a token of `person`) and
    the CSRF token the pages' forms repeat."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN")
    token = issue_for(person.role, person.agency, person.name)
    await context.add_cookies(
        [
            {"name": SESSION_COOKIE, "value": token, "url": site.url, "httpOnly": True, "sameSite": "Lax"},
            {"name": CSRF_COOKIE, "value": secrets.token_urlsafe(24), "url": site.url, "sameSite": "Lax"},
        ]
    )
    return context
