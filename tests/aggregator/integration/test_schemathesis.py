"""Schemathesis on the aggregator's read API (docs/openapi-aggregator.json) over a real
projection in PostgreSQL: no 5xx, every answer declared."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone

import pytest

from services.aggregator.adapters.codecs import with_lean_codecs
from services.aggregator.bootstrap import bootstrap
from services.aggregator.entrypoints.app import create_app
from shared.auth import Role
from shared.auth.testing import auth_settings, bearer
from shared.clock import ManualClock
from tests.aggregator import helpers
from tests.api_fuzz import BOUNDED, CHECKS, QUIET, schema_of, serving, unpooled_engine

pytestmark = [pytest.mark.infra, QUIET]
VN = timezone(timedelta(hours=7))
schema, deferred = schema_of("aggregator")


@pytest.fixture(scope="module")
async def projected(kafka_bootstrap, module_db):
    """Figures, a correction and reports folded into the module's database by a real consumer."""
    topics = helpers.unique_topics("fuzz")
    await helpers.create_topics(kafka_bootstrap, topics)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    events = helpers.corrected_figures()
    async with helpers.running(settings):
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events)
        await helpers.until_caught_up(kafka_bootstrap, topics)
    return settings


@pytest.fixture(scope="module")
def aggregator_app(projected, module_db):
    agg = bootstrap(projected, clock=ManualClock(helpers.NOW), plan=helpers.PLAN)
    agg = dataclasses.replace(agg, engine=with_lean_codecs(unpooled_engine(module_db)))
    with serving(deferred, create_app(agg, run_background=False, auth=auth_settings())) as app:
        yield app


@schema.parametrize()
@BOUNDED
def test_the_aggregator_api_answers_every_generated_request_without_a_server_error(case, aggregator_app):
    case.call_and_validate(checks=CHECKS, headers=bearer(Role.COMMITTEE))
