"""Intake served by shared.http_server on loopback: a client without a credential cannot wear the
front door down, neither by guessing an agency's secret nor by holding connections open.

Distinct client addresses are distinct loopback addresses (127.0.0.x), as the server sees them."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.intake.__main__ import topic_specs
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.examples import examples
from shared.clock import ManualClock
from shared.events.codec import STRUCTURED
from shared.kafka import ensure_topics
from tests.unit.test_http_server_limits import read_until_closed

from .conftest import NOW, FakeMonotonic, counting, make_settings, served_on_loopback

pytestmark = pytest.mark.infra
LIMITS = dict(
    INTAKE_AUTH_ADDRESS_BURST=5,
    INTAKE_AUTH_ADDRESS_PER_MIN=1,
    INTAKE_AUTH_TOKEN_BURST=8,
    INTAKE_AUTH_TOKEN_PER_MIN=1,
    INTAKE_HTTP_HEADER_TIMEOUT_S=0.5,
    INTAKE_HTTP_BODY_TIMEOUT_S=0.5,
    INTAKE_HTTP_MAX_CONNECTIONS=40,
)
PATIENCE = 10.0  # every wait is bounded by this: a limit that does not bite fails, it does not hang


class Door:
    def __init__(self, container, monotonic: FakeMonotonic, host: str, port: int) -> None:
        self.container, self.monotonic, self.host, self.port = container, monotonic, host, port
        self.url = f"http://{host}:{port}"

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=self.url, transport=transport, timeout=PATIENCE)


@pytest.fixture(scope="module")
async def door(intake_db: str, kafka_bootstrap: str) -> AsyncIterator[Door]:
    settings = make_settings(intake_db, kafka_bootstrap, **LIMITS)
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    monotonic = FakeMonotonic()  # frozen: no budget refills unless a test moves it
    container = intake_bootstrap(settings, clock=ManualClock(NOW), monotonic=monotonic)
    async with served_on_loopback(container, settings, PATIENCE) as (host, port):
        yield Door(container, monotonic, host, port)


def event(agency: str, n: str) -> dict:
    return {**examples(agency)["report.submitted"], "id": f"front-door-{agency}-{n}"}


async def post(client: httpx.AsyncClient, token: str, doc: dict) -> httpx.Response:
    return await client.post(
        "/v1/events", json=doc, headers={"content-type": STRUCTURED, "authorization": f"Bearer {token}"}
    )


async def test_guessing_an_agencys_secret_gets_401_then_429_and_the_agency_keeps_sending(door, monkeypatch):
    tokens = door.container.tokens
    legit = await tokens.create("HQ", NOW)
    token_id = legit.split("_")[1]
    async with door.client("127.0.0.1") as agency:
        assert (await post(agency, legit, event("HQ", "before"))).status_code == 202
        argon2 = counting(monkeypatch, tokens, "_secret_matches")

        async def guess(client: httpx.AsyncClient, n: int) -> httpx.Response:
            return await post(
                client, f"tdo_{token_id}_{secrets.token_urlsafe(32)}", event("HQ", f"guess-{n}")
            )

        # One address, 24 guesses at once: 5 (its budget) are checked and refused, the rest limited.
        async with door.client("127.0.0.2") as attacker:
            answers = await asyncio.gather(*(guess(attacker, n) for n in range(24)))
        assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 19
        limited = next(r for r in answers if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["reason"] == "rate-limited"
        assert len(argon2) == 5

        # Many addresses on the same token id: the id's budget (8) bounds argon2 in all.
        for address in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
            async with door.client(address) as attacker:
                answers = await asyncio.gather(
                    *(guess(attacker, n) for n in range(12)), agency_posts(agency, legit)
                )
                *answers, legit_answers = answers
                assert {r.status_code for r in answers} <= {401, 429}
                # Meanwhile the agency's own token, verified before, is never limited.
                assert all(r.status_code == 202 for r in legit_answers), [r.text for r in legit_answers]
        assert len(argon2) == 8

        # Past the token cache's TTL the agency's token is looked up again (revocation), not hashed.
        door.monotonic.t += door.container.settings.token_cache_ttl_s + 1
        started = time.monotonic()
        assert (await post(agency, legit, event("HQ", "after-ttl"))).status_code == 202
        assert time.monotonic() - started < 2.0  # loose sanity bound, not a benchmark
        assert len(argon2) == 8

        # Another agency's new token is verified as usual from the same address as the agency.
        other = await tokens.create("CA-TINH", NOW)
        assert (await post(agency, other, event("CA-TINH", "fresh"))).status_code == 202
        assert len(argon2) == 9


async def agency_posts(agency: httpx.AsyncClient, token: str) -> list[httpx.Response]:
    return [await post(agency, token, event("HQ", f"during-{uuid.uuid4().hex[:8]}")) for _ in range(3)]


async def test_unknown_token_ids_never_reach_argon2_and_the_address_is_limited(door, monkeypatch):
    argon2 = counting(monkeypatch, door.container.tokens, "_secret_matches")
    async with door.client("127.0.0.6") as scanner:
        answers = [
            await post(scanner, f"tdo_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}", event("HQ", "x"))
            for _ in range(8)
        ]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 3
    assert argon2 == []


async def test_a_client_trickling_its_headers_is_answered_408_and_closed(door):
    reader, writer = await asyncio.open_connection(door.host, door.port)
    started = time.monotonic()
    writer.write(b"POST /v1/events HTTP/1.1\r\nHost: intake\r\n")
    for _ in range(2):
        await asyncio.sleep(0.2)
        writer.write(b"X-Trickle: 1\r\n")
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < PATIENCE


async def test_a_body_shorter_than_its_content_length_is_answered_408_after_the_body_timeout(door):
    token = await door.container.tokens.create("HQ", NOW)
    reader, writer = await asyncio.open_connection(door.host, door.port)
    started = time.monotonic()
    writer.write(
        f"POST /v1/events HTTP/1.1\r\nHost: intake\r\nContent-Type: {STRUCTURED}\r\n"
        f'Authorization: Bearer {token}\r\nContent-Length: 5000\r\n\r\n{{"id": '.encode()
    )
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert 0.4 < time.monotonic() - started < PATIENCE


async def test_connections_over_the_cap_are_refused_while_the_door_still_serves_afterwards(door):
    cap = door.container.settings.http_max_connections
    held = [await asyncio.open_connection(door.host, door.port) for _ in range(cap)]
    try:
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(door.host, door.port)
        answer = await read_until_closed(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        for _, w in held:
            w.close()
    await asyncio.sleep(0.2)
    async with door.client() as client:
        assert (await client.get("/healthz")).status_code == 200
