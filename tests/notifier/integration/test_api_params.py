"""The notifier's HTTP parameters are bounded where declared: each hostile input of issue 14 is
answered 4xx (never 5xx) with a message naming the field, and nothing reaches the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from services.notifier.adapters.tables import silences
from services.notifier.bootstrap import bootstrap
from services.notifier.domain.silences import InvalidSilence
from services.notifier.entrypoints.app import create_app
from services.notifier.service_layer import operations
from shared.auth import Role
from shared.auth.testing import auth_settings, bearer
from shared.clock import ManualClock
from tests.api_fuzz import DOCS
from tests.notifier.helpers import T0, settings

pytestmark = pytest.mark.infra
BEYOND_INT64 = 2**63
SILENCE = {"agency": "CA-TINH", "reason": "bảo trì", "hours": 2}


@pytest.fixture(scope="module")
async def api(notifier_db, kafka_bootstrap, smtp_server):
    c = bootstrap(settings(notifier_db, kafka_bootstrap, smtp_server.port), clock=ManualClock(T0))
    app = create_app(c, run_loops=False, auth=auth_settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://notifier.test",
        headers=bearer(Role.COMMITTEE),
    ) as client:
        yield c, client
    await c.engine.dispose()


async def silences_stored(c) -> int:
    async with c.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(silences))).scalar_one()


def complaint(response: httpx.Response) -> str:
    return json.dumps(response.json()["detail"], ensure_ascii=False)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"hours": 1e300}, "hours"),
        ({"hours": 0}, "hours"),
        ({"hours": float("nan")}, "hours"),  # json.dumps writes NaN, which FastAPI's parser takes
        ({"hours": float("inf")}, "hours"),
        (
            {"hours": None, "starts_at": "2024-06-20T09:00:00", "ends_at": "2024-06-21T09:00:00+07:00"},
            "starts_at",
        ),
        ({"hours": None, "ends_at": "9999-12-31T23:59:59-12:00"}, "ends_at"),
        ({"starts_at": "1999-12-31T23:00:00+00:00"}, "starts_at"),
        ({"agency": "A" * 65}, "agency"),
        ({"agency": "CA-\u0000TINH"}, "agency"),
        ({"agency": "NOBODY"}, "unknown agency 'NOBODY'"),
        ({"indicator": "no_such_indicator"}, "unknown indicator"),
        ({"period": "2024-13"}, "period"),
        ({"created_by": "operator"}, "created_by"),  # the principal is the token's, not typed
        ({"reason": "x\ud800y"}, "reason"),
        ({"agency": "\udfff"}, "agency"),
    ],
)
async def test_a_hostile_silence_is_refused_with_422_and_nothing_is_stored(api, change, field):
    c, client = api
    before = await silences_stored(c)
    # json.dumps escapes a lone surrogate as \\ud800, as a hostile client would send it
    response = await client.post(
        "/silences", content=json.dumps({**SILENCE, **change}), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert field in complaint(response)
    assert await silences_stored(c) == before


async def test_a_well_formed_silence_is_still_accepted(api):
    _, client = api
    response = await client.post("/silences", json={**SILENCE, "starts_at": "2024-06-20T09:00:00+07:00"})
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["ends_at"]) == datetime.fromisoformat(
        "2024-06-20T11:00:00+07:00"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/alerts?agency=%00",
        f"/alerts?agency={'A' * 65}",
        "/alerts?agency=NOBODY",
        "/alerts?state=open",
        "/outbox?limit=-1",
        "/outbox?limit=0",
        "/outbox?limit=1001",
        "/outbox?limit=1e300",
        f"/outbox?limit={-BEYOND_INT64 - 1}",
    ],
)
async def test_a_hostile_query_is_refused_with_422(api, path):
    _, client = api
    assert (await client.get(path)).status_code == 422


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", f"/alerts/{BEYOND_INT64}/ack"),
        ("POST", "/alerts/0/ack"),
        ("POST", "/alerts/-1/ack"),
        ("DELETE", f"/silences/{BEYOND_INT64}"),
        ("DELETE", "/silences/0"),
    ],
)
async def test_an_id_outside_bigint_is_refused_with_422(api, method, path):
    _, client = api
    assert (await client.request(method, path)).status_code == 422


async def test_an_unknown_id_in_range_is_404(api):
    _, client = api
    assert (await client.post(f"/alerts/{BEYOND_INT64 - 1}/ack")).status_code == 404
    assert (await client.delete(f"/silences/{BEYOND_INT64 - 1}")).status_code == 404


@pytest.mark.parametrize(
    "hours, starts_at",
    [
        (1e300, None),
        (float("nan"), None),
        (24.0, datetime(2024, 6, 20, 9)),
        (24.0, datetime(9999, 12, 31, 23, tzinfo=UTC)),
    ],
)
async def test_the_cli_path_refuses_an_unbounded_silence_before_the_database(hours, starts_at):
    with pytest.raises(InvalidSilence):
        await operations.silence(
            None,
            agency="CA-TINH",
            indicator=None,
            period=None,
            reason="r",  # type: ignore[arg-type]
            created_by="o",
            now=T0,
            starts_at=starts_at,
            hours=hours,
        )


async def test_a_new_silence_must_last():
    # The domain keeps ends == starts for a silence lifted before it began; a new one must last.
    with pytest.raises(InvalidSilence, match="must end after it starts"):
        await operations.silence(
            None,  # type: ignore[arg-type]
            agency="CA-TINH",
            indicator=None,
            period=None,
            reason="r",
            created_by="o",
            now=T0,
            starts_at=T0,
            ends_at=T0,
        )


async def test_the_committed_openapi_document_is_current(api):
    _, client = api
    live = (await client.get("/openapi.json")).json()
    assert json.loads((DOCS / "openapi-notifier.json").read_text()) == live, (
        "regenerate docs/openapi-notifier.json (the app's /openapi.json)"
    )
