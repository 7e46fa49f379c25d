"""The HTTP door: thin FastAPI routes over the intake use case.

Order of checks, cheapest and least revealing first: token (401, or 429 after repeated failures:
adapters/tokens.py; or, for the reporting form, a leader's CSRF-checked session: form.py) → content type (415) → size (413) → rate (429) → JSON (400) → each event
(schema 422, authorization 403, plan rules 422). One event comes in structured content mode
(`application/cloudevents+json`) or binary mode (`application/json`, attributes in `ce-*`
headers: domain/binary_mode.py), batches structured. Slow clients are cut by shared/http_server.py.
The body is read raw (not through FastAPI's parameter parsing): the limits apply to bytes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from functools import cache
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic_core import to_json
from starlette.requests import ClientDisconnect

from services.intake.adapters.tokens import Denied
from services.intake.bootstrap import Container
from services.intake.domain.binary_mode import attribute_headers, name_headers, parse_binary
from services.intake.domain.parsing import fast_parse, parse_json
from services.intake.domain.problems import PROBLEM_JSON, FieldError, Problem
from services.intake.domain.ratelimit import AuthGuard
from services.intake.entrypoints import asyncapi_docs
from services.intake.entrypoints import openapi_docs as docs
from services.intake.entrypoints.form import FORM_ROUTES, install_form
from services.intake.entrypoints.login import install_login
from services.intake.service_layer.ports import KafkaUnavailable, RegistryUnavailable
from shared.api_docs import serve_api_docs
from shared.auth import SESSION_COOKIE, Role
from shared.auth import authenticate as authenticate_session
from shared.events.codec import BATCH, CONTENT_TYPE, STRUCTURED
from shared.lifespan import container_lifespan
from shared.observability import mount_health_and_metrics

log = logging.getLogger(__name__)
ROUTES = {
    "/v1/events",
    "/v1/events/batch",
    "/healthz",
    "/readyz",
    "/metrics",
    "/asyncapi.yaml",
    "/asyncapi",
    "/v1/auth/token",
    "/.well-known/jwks.json",
    "/login",
    "/logout",
    *FORM_ROUTES,
}


def problem_response(problem: Problem) -> JSONResponse:
    headers = {}
    if problem.retry_after is not None:
        headers["Retry-After"] = str(problem.retry_after)
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tiendo-intake"'
    return JSONResponse(problem.as_dict(), problem.status, headers=headers, media_type=PROBLEM_JSON)


class _Rejected(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def create_app(container: Container) -> FastAPI:
    settings = container.settings
    guard = AuthGuard.of(
        address_burst=settings.auth_address_burst,
        address_per_min=settings.auth_address_per_min,
        token_burst=settings.auth_token_burst,
        token_per_min=settings.auth_token_per_min,
    )

    app = FastAPI(
        title="Tiendo intake API",
        version="1.0.0",
        lifespan=container_lifespan(container),
        description=docs.DESCRIPTION,
    )
    app.add_middleware(_LatencyMiddleware, histogram=container.metrics.request_seconds)
    serve_api_docs(app)

    @app.exception_handler(_Rejected)
    async def _rejected(_: Request, exc: _Rejected) -> JSONResponse:
        return problem_response(exc.problem)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, __: ClientDisconnect) -> Response:
        # The client left, or the server closed a body that came too slowly (shared.http_server):
        # nobody reads this answer, and it is no error of intake's.
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem_response(
            Problem(
                "internal-error",
                "intake failed unexpectedly; nothing was accepted. "
                "Send the request again later; if it persists, tell the operators",
            )
        )

    async def authenticate(request: Request) -> str:
        if "authorization" not in request.headers and SESSION_COOKIE in request.cookies:
            return await session_agency(request)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Rejected(
                Problem(
                    "unauthenticated",
                    "send your agency's API token as `Authorization: Bearer "
                    "tdo_...`; the operators issue one with `tiendo agency token create AGENCY`",
                )
            )
        # The socket's peer, or the client a trusted reverse proxy names (uvicorn's forwarded-allow-ips).
        client = request.client.host if request.client else ""
        agency = await container.tokens.authenticate(token.strip(), client, guard)
        if isinstance(agency, Denied) and agency.retry_after is not None:
            wait = max(1, math.ceil(agency.retry_after))
            raise _Rejected(
                Problem(
                    "rate-limited",
                    f"too many failed authentications from this address or for this token; retry in {wait} s",
                    retry_after=wait,
                )
            )
        if isinstance(agency, Denied) or agency not in container.plans.agency_codes:
            raise _Rejected(
                Problem(
                    "unauthenticated",
                    "the API token is not valid: unknown, mistyped or revoked; "
                    "ask the operators for a new one",
                )
            )
        return agency

    async def session_agency(request: Request) -> str:
        """The reporting form's credential (entrypoints/form.py): a leader's session, verified and
        CSRF-checked by shared.auth like every page's, answering for that leader's agency; from
        here on the same checks as an agency token (its source, units and indicators only)."""
        try:
            principal = await authenticate_session(request)
        except HTTPException as error:
            why = "the session is not valid (expired or forged): log in again"
            if error.status_code == 403:  # shared.auth's CSRF refusal
                why = "the request did not come from a Tiendo page (X-CSRF-Token must be the tiendo_csrf cookie)"
            raise _Rejected(Problem("unauthenticated", why)) from None
        agency = principal.agency if principal is not None else None
        if (
            principal is None
            or principal.role is not Role.LEADER
            or agency not in container.plans.agency_codes
        ):
            raise _Rejected(
                Problem(
                    "source-mismatch",
                    "only a leader of an agency of the plan reports from a session, for that agency",
                    (FieldError("/source", "is not your agency"),),
                )
            )
        assert agency is not None  # a plan's agency codes are strings
        return agency

    def expect_content_type(request: Request, *wanted: str) -> str:
        got = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if got not in wanted:
            hint = f" (for a JSON array of events use {BATCH} and /v1/events/batch)" if got == BATCH else ""
            takes = (
                wanted[0]
                if len(wanted) == 1
                else (
                    f"{STRUCTURED} (structured mode) or {CONTENT_TYPE} (binary "
                    "mode: the attributes in ce-* headers, the data as the body)"
                )
            )
            raise _Rejected(
                Problem(
                    "unsupported-media-type",
                    f"Content-Type is {got or 'missing'!r}; this endpoint takes {takes}{hint}",
                    extra={"accepted": list(wanted)},
                )
            )
        return got

    async def read_body(request: Request, limit: int, what: str) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _Rejected(_too_large(int(declared), limit, what))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Rejected(_too_large(size, limit, what, at_least=True))
            chunks.append(chunk)
        return b"".join(chunks)

    def take_rate(agency: str, cost: int) -> None:
        wait = container.limiter.take(agency, cost, container.monotonic())
        if wait > 0:
            raise _Rejected(
                Problem(
                    "rate-limited",
                    f"{agency} may send {settings.rate_per_s:g} events/s (bursts of "
                    f"{settings.rate_burst}); retry in {math.ceil(wait)} s",
                    retry_after=max(1, math.ceil(wait)),
                )
            )

    async def submit(documents: list[Any], agency: str):
        try:
            return await container.intake.submit(documents, agency=agency, path="http")
        except KafkaUnavailable as exc:
            raise _Rejected(
                Problem(
                    "kafka-unavailable",
                    f"the event store did not confirm the write ({exc}); "
                    "nothing was accepted, send the same event(s) again later: re-sent events are "
                    "recognised as duplicates",
                    retry_after=settings.retry_after_s,
                )
            ) from None
        except RegistryUnavailable:
            raise _Rejected(
                Problem(
                    "registry-unavailable",
                    "duplicate checking is unavailable; nothing was accepted, send again later",
                    retry_after=settings.retry_after_s,
                )
            ) from None

    @app.post("/v1/events", tags=["events"], summary="Send one event", **docs.single_event())
    async def post_event(request: Request) -> Response:
        agency = await authenticate(request)
        binary = expect_content_type(request, STRUCTURED, CONTENT_TYPE) == CONTENT_TYPE
        body = await read_body(request, settings.max_event_bytes, "an event")
        if binary:
            attributes = attribute_headers(request.headers.raw)
            size = len(body) + sum(len(n) + len(v) for n, v in attributes)
            if size > settings.max_event_bytes:  # extensions are bounded by the event's size only
                raise _Rejected(
                    Problem(
                        "too-large",
                        f"the data and ce-* headers are {size} bytes; an event may "
                        f"be at most {settings.max_event_bytes} bytes",
                    )
                )
        take_rate(agency, 1)
        if binary:
            document = parse_binary(body, attributes)
        else:
            document = fast_parse(body, batch=False) or parse_json(body)
        if isinstance(document, Problem):
            raise _Rejected(document)
        outcome = (await submit([document], agency))[0]
        if outcome.problem is not None:
            raise _Rejected(name_headers(outcome.problem) if binary else outcome.problem)
        return JSONResponse(outcome.as_dict(), 202 if outcome.status == "accepted" else 200)

    @app.post("/v1/events/batch", tags=["events"], summary="Send up to 500 events", **docs.batch())
    async def post_batch(request: Request) -> Response:
        agency = await authenticate(request)
        expect_content_type(request, BATCH)
        body = await read_body(request, settings.max_batch_bytes, "a batch")
        fast = fast_parse(body, batch=True)
        if fast is not None and not all(_extensions_fit(e, settings.max_event_bytes // 2) for e in fast):
            fast = None  # the slow path measures each event exactly
        documents = fast if fast is not None else parse_json(body)
        if isinstance(documents, Problem):
            raise _Rejected(documents)
        if not isinstance(documents, list):
            raise _Rejected(
                Problem(
                    "not-a-cloudevent",
                    "a batch is a JSON array of CloudEvents; got a single "
                    "value (send one event to /v1/events with application/cloudevents+json)",
                )
            )
        if len(documents) > settings.max_batch_events:
            raise _Rejected(
                Problem(
                    "too-large",
                    f"the batch holds {len(documents)} events; at most "
                    f"{settings.max_batch_events} per batch, split it",
                )
            )
        take_rate(agency, max(1, len(documents)))
        if fast is None and len(body) > settings.max_event_bytes:  # only then can one event exceed the limit
            documents = [_limit_event(d, settings.max_event_bytes) for d in documents]
        outcomes = await submit(documents, agency)
        counts = {s: sum(o.status == s for o in outcomes) for s in ("accepted", "duplicate", "rejected")}
        # Serialised in pydantic's core: json.dumps of 500 results cost more than their Kafka write.
        body = {**counts, "results": [{"index": i, **o.as_dict()} for i, o in enumerate(outcomes)]}
        return Response(to_json(body), media_type="application/json")

    install_login(app, container, guard)  # the token endpoint, the issuer's keys, the login page
    install_form(app, container)  # the reporting form for people (GET /report and its assets)

    rendered: dict[str, str] = {}  # the AsyncAPI document and its page, made on first request

    @app.get("/asyncapi.yaml", include_in_schema=False)
    async def asyncapi_yaml() -> Response:
        """The AsyncAPI 3.0 document of the topics (docs/asyncapi.yaml)."""
        text = rendered.get("yaml") or rendered.setdefault("yaml", asyncapi_docs.render())
        return Response(text, media_type="application/yaml")

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(rendered.get("html") or rendered.setdefault("html", asyncapi_docs.render_html()))

    mount_health_and_metrics(
        app, container.registry, {"kafka": container.publisher.ready, "postgres": container.database_ready}
    )
    app.openapi = lambda: docs.openapi(app)  # type: ignore[method-assign]
    return app


def _too_large(size: int, limit: int, what: str, at_least: bool = False) -> Problem:
    return Problem(
        "too-large",
        f"the body is {'over ' if at_least else ''}{size} bytes; {what} may be at most "
        f"{limit} bytes ({limit // 1024} KiB)",
    )


def _extensions_fit(event: Any, budget: int) -> bool:
    """The schema bounds every field but extension attributes (text fields are at most 2,000
    characters): under 32 KiB in all. So an event whose extensions fit in half the per-event
    limit fits the limit, without serialising it again to measure it."""
    extra = event.model_extra
    return not extra or len(json.dumps(extra, ensure_ascii=False)) <= budget


def _limit_event(document: Any, limit: int) -> Any:
    size = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    return _too_large(size, limit, "an event") if size > limit else document


class _LatencyMiddleware:
    """Request latency by route and status (pure ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app, histogram) -> None:
        self.app, self.histogram = app, cache(histogram.labels)  # bounded: the routes and statuses

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            path = scope["path"]
            route = path if path in ROUTES else ("/metrics" if path.startswith("/metrics") else "other")
            self.histogram(route, str(status[0])).observe(time.perf_counter() - started)
