"""Schemathesis against a service's OpenAPI, in process, bounded and reproducible (issue 14).

The schema is the committed document (docs/openapi-<service>.json; each service has a test that
it equals what the app serves), loaded at import so that `schema.parametrize()` makes one test
item per operation. Each operation goes through schemathesis' examples, coverage (boundary and
invalid values) and fuzzing phases, positive and negative inputs, on a fixed derandomised budget.

The app exists only once the session's PostgreSQL/Kafka do, so the schema is bound to a
`DeferredApp` that a module fixture points at the real one. schemathesis serves ASGI apps from
an event-loop thread of its own, not the test session's loop: an app under fuzz gets an engine
that keeps no connection between requests (NullPool), as a pooled asyncpg connection belongs to
the loop that opened it, and its lifespan is ended by the fixture (`shutdown_lifespans`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: no 5xx, and every answer (4xx included) is one the document declares, in the declared shape
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: fuzzing examples per operation (the coverage phase adds its own boundary cases)
MAX_EXAMPLES = 100
BOUNDED = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))


class DeferredApp:
    """An ASGI app that forwards to `target`, set once the real app can be built."""

    def __init__(self) -> None:
        self.target: Any = None
        self.calls = 0  # HTTP requests forwarded, to see how much a run exercised

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "the fixture that builds the app under fuzz did not run"
        self.calls += scope["type"] == "http"
        await self.target(scope, receive, send)


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
        shutdown_lifespans()  # runs the app's shutdown in schemathesis' loop, where it started
        deferred.target = None


def unpooled_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, poolclass=NullPool)
