"""The notifier's ASGI app: ack links, alerts and silences API, health and metrics, loops."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from services.notifier.adapters.tables import audit_log
from services.notifier.bootstrap import Container
from services.notifier.entrypoints import api, pages
from shared.api_docs import serve_api_docs
from shared.audit import AuditLog, audit_router
from shared.auth import AuthSettings, install_auth
from shared.http_params import answer_invalid_requests_safely
from shared.lifespan import container_lifespan
from shared.observability import mount_health_and_metrics


def create_app(container: Container, *, run_loops: bool = True, auth: AuthSettings | None = None) -> FastAPI:
    app = FastAPI(title="Tiendo notifier", lifespan=container_lifespan(container, background=run_loops))
    app.state.container = container
    app.state.audit = AuditLog(container.engine, audit_log)
    install_auth(app, auth)  # the operator API needs a principal (access.py, docs/security.md)
    app.include_router(api.router)
    pages.install(app)  # the alerts page (issue 19): the API's rules and use cases, in HTML
    app.include_router(audit_router(app.state.audit, set(container.directory.agencies)))
    answer_invalid_requests_safely(app)
    serve_api_docs(app)

    async def database() -> str | None:
        async with container.engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM notifier.outbox LIMIT 1"))
        return None

    mount_health_and_metrics(app, container.registry, {"database": database})
    return app
