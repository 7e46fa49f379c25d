"""Schemathesis on intake's API (docs/openapi-intake.json) with a valid agency token, against the
session's PostgreSQL and Kafka: no 5xx, every answer declared."""

from __future__ import annotations

import pytest

from services.intake.__main__ import topic_specs
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.http import create_app
from shared.clock import ManualClock
from shared.kafka import ensure_topics
from tests.api_fuzz import BOUNDED, CHECKS, QUIET, schema_of, serving
from tests.intake.integration.conftest import NOW, FakeMonotonic, make_settings

pytestmark = [pytest.mark.infra, QUIET]
schema, deferred = schema_of("intake")


@pytest.fixture(scope="module")
async def fuzz_settings(intake_db, kafka_bootstrap):
    settings = make_settings(intake_db, kafka_bootstrap)
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    return settings


@pytest.fixture(scope="module")
async def token(fuzz_settings) -> str:
    """Made by a container of its own: the one under fuzz must first touch its engine in
    schemathesis' loop (tests/api_fuzz.py)."""
    c = intake_bootstrap(fuzz_settings, clock=ManualClock(NOW))
    try:
        return await c.tokens.create("CA-TINH", NOW)
    finally:
        await c.engine.dispose()


@pytest.fixture(scope="module")
def intake_app(fuzz_settings, token):
    container = intake_bootstrap(fuzz_settings, clock=ManualClock(NOW), monotonic=FakeMonotonic())
    with serving(deferred, create_app(container)) as app:
        yield app


@schema.parametrize()
@BOUNDED
def test_intake_answers_every_generated_request_without_a_server_error(case, intake_app, token):
    case.call_and_validate(checks=CHECKS, headers={"authorization": f"Bearer {token}"})
