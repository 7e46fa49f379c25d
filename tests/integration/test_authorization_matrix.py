"""docs/security.md's table, called: every listed endpoint of the real intake, aggregator and
notifier apps (the session's PostgreSQL; intake's Kafka, the session's) as anonymous, each role,
another agency's leader and another agency's system, each answer as documented; and every route
of the three apps is in the table.

On intake, people are their session (the login's cookie, and on a POST its CSRF cookie and
header) and an agency system is its API token (`tdo_...`, issued by `tiendo agency token
create`); on the aggregator and the notifier both are bearer tokens."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from starlette.routing import Mount

from services.aggregator.bootstrap import bootstrap as aggregator_bootstrap
from services.aggregator.entrypoints.app import create_app as aggregator_app
from services.intake.entrypoints.examples import examples
from services.notifier.adapters import repository as repo
from services.notifier.bootstrap import bootstrap as notifier_bootstrap
from services.notifier.domain import ack
from services.notifier.entrypoints.app import create_app as notifier_app
from services.notifier.service_layer import operations
from shared.auth import Role
from shared.auth.dependencies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from shared.auth.testing import auth_settings, bearer, issue_for, signing_key_file
from shared.clock import ManualClock
from shared.db import upgrade_async
from shared.events.codec import BATCH, STRUCTURED
from shared.infra import create_database, drop_database, service_database_url
from tests.aggregator.helpers import NOW, PLAN, fresh_database, settings_for, unique_topics
from tests.intake.integration.conftest import start_service
from tests.notifier.helpers import T0, kpi_event
from tests.notifier.helpers import settings as notifier_settings

pytestmark = pytest.mark.infra
SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"
OWN, OTHER = "CA-HUONG-HOA", "CA-DAKRONG"  # siblings under the provincial police
NO_KAFKA = "127.0.0.1:9"  # nothing here consumes: the apps run without their background tasks
COLUMNS = {
    "anonymous": None,
    "committee": (Role.COMMITTEE, None),
    "leader (own)": (Role.LEADER, OWN),
    "leader (other)": (Role.LEADER, OTHER),
    "operator": (Role.OPERATOR, None),
    "agency_system (own)": (Role.AGENCY_SYSTEM, OWN),
    "agency_system (other)": (Role.AGENCY_SYSTEM, OTHER),
}


@dataclass(frozen=True)
class Rule:
    service: str
    method: str
    path: str  # as documented: a route's path, its placeholders, maybe a query
    expected: dict[str, int]

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def documented_rules(text: str) -> list[Rule]:
    """The rows of the table under "Who may call what"."""
    section = text.split("## Who may call what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[:3] == ["service", "method", "path"] and header[3:] == list(COLUMNS), header
    rules = []
    for line in rows[2:]:
        service, method, path, *answers = (cell.strip() for cell in line.strip("|").split("|"))
        rules.append(Rule(service, method, path.strip("`"), dict(zip(COLUMNS, map(int, answers)))))
    return rules


RULES = documented_rules(SECURITY.read_text(encoding="utf-8"))


def test_the_table_is_read():
    assert len(RULES) >= 30 and {r.service for r in RULES} == {"intake", "aggregator", "notifier"}
    assert len({(r.service, r.method, r.path) for r in RULES}) == len(RULES), "a row is listed twice"


@pytest.fixture(scope="module")
async def aggregator(database_url: str) -> AsyncIterator[Any]:
    url = await fresh_database(database_url)
    agg = aggregator_bootstrap(
        settings_for(NO_KAFKA, url, unique_topics("matrix")), clock=ManualClock(NOW), plan=PLAN
    )
    app = aggregator_app(agg, run_background=False, auth=auth_settings())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def intake(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Any]:
    created = await create_database(database_url, "intake")
    url = service_database_url(created, "intake")
    await upgrade_async("intake", url)
    service_ = start_service(
        url,
        kafka_bootstrap,
        auth=auth_settings(),
        AUTH_SIGNING_KEY_FILE=str(signing_key_file()),
        INTAKE_RAW_CONSUMER=False,
    )
    async for service in service_:
        service.agency_tokens = {OWN: await service.token(OWN), OTHER: await service.token(OTHER)}
        yield service
    await drop_database(database_url, created)


@pytest.fixture(scope="module")
async def notifier(database_url: str) -> AsyncIterator[Any]:
    created = await create_database(database_url, "notifier")
    url = service_database_url(created, "notifier")
    await upgrade_async("notifier", url)
    c = notifier_bootstrap(notifier_settings(url, NO_KAFKA, 9), clock=ManualClock(T0))
    await c.notifier.handle(kpi_event(agency=OWN), T0)  # an alert of the agency the rows name
    app = notifier_app(c, run_loops=False, auth=auth_settings())
    async with app.router.lifespan_context(app):
        yield app
    await drop_database(database_url, created)


async def _notifier_values(app: Any) -> dict[str, str]:
    """Fresh things for one call: an unused acknowledgement link, a silence to lift."""
    c = app.state.container
    async with c.engine.connect() as conn:
        [alert] = await repo.list_alerts(conn, agency=OWN)
    claim = ack.AckClaim(
        alert.id, "truongcong-an.huonghoa@quangtri.example", T0 + timedelta(days=1), secrets.token_hex(8)
    )
    silence = await operations.silence(
        c.engine,
        agency=OWN,
        indicator=None,
        period=None,
        reason="kiểm thử",
        created_by="test",
        now=T0,
        hours=1,
    )
    return {
        "alert_id": str(alert.id),
        "token": ack.issue(c.notifier.links.secret, claim),
        "silence_id": str(silence.id),
    }


BODIES = {("notifier", "POST", "/silences"): {"agency": OWN, "reason": "Kiểm thử phân quyền", "hours": 1}}


def _report() -> dict[str, Any]:
    """A valid report of the agency the rows name, under an id never sent before."""
    doc = examples(OWN)["indicator.reported"]
    data = {k: v for k, v in doc["data"].items() if k != "unit_code"}
    return {**doc, "id": f"matrix-{uuid.uuid4().hex[:12]}", "data": data}


def _intake_request(rule: Rule, column: str) -> dict[str, Any]:
    """One call to intake as `column`: people by their session, agency systems by their token."""
    who, headers, cookies = COLUMNS[column], {}, {}
    if column.startswith("agency_system"):
        headers["authorization"] = "Bearer " + (OWN if column.endswith("(own)") else OTHER)
    elif who is not None:
        csrf = secrets.token_urlsafe(16)
        cookies = {SESSION_COOKIE: issue_for(*who), CSRF_COOKIE: csrf}
        headers[CSRF_HEADER] = csrf
    body: bytes | None = None
    if rule.route == "/v1/events":
        body, headers["content-type"] = json.dumps(_report()).encode(), STRUCTURED
    elif rule.route in ("/v1/events/batch", "/report/check"):
        kind = BATCH if rule.route == "/v1/events/batch" else "application/json"
        body, headers["content-type"] = json.dumps([_report()]).encode(), kind
    return {"headers": headers, "cookies": cookies, "content": body}


async def _intake_answers(rule: Rule, service: Any) -> dict[str, int]:
    got = {}
    for column in COLUMNS:
        call = _intake_request(rule, column)
        if call["headers"].get("authorization", "").startswith("Bearer "):
            agency = call["headers"]["authorization"].removeprefix("Bearer ")
            call["headers"]["authorization"] = "Bearer " + service.agency_tokens[agency]
        service.client.cookies.clear()
        for name, value in call.pop("cookies").items():
            service.client.cookies.set(name, value)
        response = await service.client.request(rule.method, rule.path, **call)
        service.client.cookies.clear()
        got[column] = response.status_code
    return got


async def _answers(rule: Rule, app: Any) -> dict[str, int]:
    got = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        for column, who in COLUMNS.items():
            values = {"agency": OWN, "code": OWN, "indicator": "drug_cases_detected", "period": "2024"}
            if rule.service == "notifier":
                values |= await _notifier_values(app)
            response = await client.request(
                rule.method,
                rule.path.format(**values),
                headers=bearer(*who) if who else {},
                json=BODIES.get((rule.service, rule.method, rule.route)),
            )
            got[column] = response.status_code
    return got


@pytest.mark.parametrize("rule", RULES, ids=str)
async def test_every_endpoint_answers_each_principal_as_documented(rule: Rule, intake, aggregator, notifier):
    if rule.service == "intake":
        got = await _intake_answers(rule, intake)
    else:
        got = await _answers(rule, aggregator if rule.service == "aggregator" else notifier)
    wrong = {
        column: (rule.expected[column], status)
        for column, status in got.items()
        if status != rule.expected[column]
    }
    assert not wrong, f"{rule}: (documented, answered) {wrong}"


def _routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    # FastAPI 0.16x keeps included routers as such: their effective routes, with the prefix
    flatten = getattr(fastapi.routing, "_iter_included_route_candidates", lambda routes: routes)
    for route in flatten(app.routes):
        if isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        else:
            found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


@pytest.mark.parametrize("service", ["intake", "aggregator", "notifier"])
async def test_every_route_of_the_app_is_in_the_table(service, intake, aggregator, notifier):
    app = {"intake": intake.app, "aggregator": aggregator, "notifier": notifier}[service]
    listed = {(r.method, r.route) for r in RULES if r.service == service}
    missing = [
        f"{method} {path}"
        for method, path in sorted(_routes(app))
        if not (
            (method, path) in listed
            or (method == "MOUNT" and any(p.startswith(path + "/") for _, p in listed))
        )
    ]
    assert not missing, f"routes of the {service} that docs/security.md does not list: {missing}"
    stale = sorted(
        f"{m} {p}"
        for m, p in listed
        if (m, p) not in _routes(app)
        and not any(kind == "MOUNT" and p.startswith(mount + "/") for kind, mount in _routes(app))
    )
    assert not stale, f"docs/security.md lists routes the {service} does not have: {stale}"


def test_placeholders_are_only_those_the_test_fills():
    names = {name for r in RULES for name in re.findall(r"{(\w+)}", r.path)}
    assert names <= {"agency", "code", "indicator", "period", "alert_id", "token", "silence_id"}, names
