"""Schemathesis on the notifier's whole API (docs/openapi-notifier.json), real PostgreSQL: no 5xx."""

from __future__ import annotations

import pytest

from services.notifier.bootstrap import bootstrap
from services.notifier.entrypoints.app import create_app
from shared.auth import Role
from shared.auth.testing import auth_settings, bearer
from shared.clock import ManualClock
from tests.api_fuzz import BOUNDED, CHECKS, QUIET, schema_of, serving, unpooled_engine
from tests.notifier.helpers import T0, kpi_event, settings

pytestmark = [pytest.mark.infra, QUIET]
schema, deferred = schema_of("notifier")


@pytest.fixture(scope="module")
async def seeded_db(notifier_db, kafka_bootstrap, smtp_server) -> str:
    """An open alert, so that fuzzed ids also meet a row that exists (the module's own database)."""
    c = bootstrap(settings(notifier_db, kafka_bootstrap, smtp_server.port), clock=ManualClock(T0))
    await c.notifier.handle(kpi_event(agency="CA-HUONG-HOA"), T0)
    await c.engine.dispose()
    return notifier_db


@pytest.fixture(scope="module")
def notifier_app(seeded_db, kafka_bootstrap, smtp_server):
    c = bootstrap(
        settings(seeded_db, kafka_bootstrap, smtp_server.port),
        clock=ManualClock(T0),
        engine=unpooled_engine(seeded_db),
    )
    with serving(deferred, create_app(c, run_loops=False, auth=auth_settings())) as app:
        yield app


@schema.parametrize()
@BOUNDED
def test_the_notifier_api_answers_every_generated_request_without_a_server_error(case, notifier_app):
    case.call_and_validate(checks=CHECKS, headers=bearer(Role.COMMITTEE))
