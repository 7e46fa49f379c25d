"""Schemathesis against a service's OpenAPI, in process, bounded and reproducible (issue 14).

The schema is the committed document (docs/openapi-<service>.json; each service has a test that
it equals what the app serves), loaded at import so that `schema.parametrize()` makes one test
item per operation. Each operation goes through schemathesis' examples, coverage (boundary and
invalid values) and fuzzing phases, positive and negative inputs, on a fixed derandomised budget.

The app exists only once the session's PostgreSQL/Kafka do, so the schema is bound to a
`DeferredApp` that a module fixture points at the real one. schemathesis serves ASGI apps from
an event-loop thread of its own, not the test session's loop: an app under fuzz gets an engine
that keeps no connection between requests (NullPool), as a pooled asyncpg connection belongs to
the loop that opened it; its lifespan runs there too, once per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: no 5xx, and every answer (4xx included) is one the document declares, in the declared shape
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: fuzzing examples per operation (the coverage phase adds its own boundary cases)
MAX_EXAMPLES = 100
#: schemathesis' own strategies draw from `random` (its concern, not ours): not a warning of this suite
QUIET = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class DeferredApp:
    """An ASGI app that forwards to `target`, set once the real app can be built.

    schemathesis' pytest plugin runs the app's lifespan per test (per operation): its startup is
    reported complete only once the app's /readyz is green, so no test meets a half-started app
    (intake connects its Kafka producer in the background)."""

    def __init__(self, ready_timeout: float = 30.0) -> None:
        self.target: Any = None
        self.ready_timeout = ready_timeout
        self.calls = 0  # HTTP requests forwarded, to see how much a run exercised

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "the fixture that builds the app under fuzz did not run"
        if scope["type"] != "lifespan":
            self.calls += scope["type"] == "http"
            await self.target(scope, receive, send)
            return

        async def reply(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self._until_ready()
            await send(message)

        await self.target(scope, receive, reply)

    async def _until_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.target), base_url="http://ready"
        ) as c:
            while (ready := await c.get("/readyz")).status_code != 200:
                assert asyncio.get_running_loop().time() < deadline, f"not ready: {ready.text}"
                await asyncio.sleep(0.1)


def schema_of(service: str) -> tuple[Any, DeferredApp]:
    schema = schemathesis.openapi.from_path(DOCS / f"openapi-{service}.json")
    app = DeferredApp()
    schema.app = app
    return schema, app


@contextmanager
def serving(deferred: DeferredApp, app: Any) -> Iterator[Any]:
    deferred.target = app
    try:
        yield app
    finally:
        shutdown_lifespans()  # the plugin does so after each test; this covers a failed one's setup
        deferred.target = None


def unpooled_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, poolclass=NullPool)
