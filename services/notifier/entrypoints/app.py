"""The notifier's ASGI app: ack links, alerts and silences API, health and metrics, loops."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from services.notifier.bootstrap import Container
from services.notifier.entrypoints import api, loops
from shared.api_docs import serve_api_docs
from shared.http_params import answer_invalid_requests_safely
from shared.observability import mount_health_and_metrics


def create_app(container: Container, *, run_loops: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = loops.start_all(container) if run_loops else []
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await container.engine.dispose()

    app = FastAPI(title="Tiendo notifier", lifespan=lifespan)
    app.state.container = container
    app.include_router(api.router)
    answer_invalid_requests_safely(app)
    serve_api_docs(app)

    async def database() -> str | None:
        async with container.engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM notifier.outbox LIMIT 1"))
        return None

    mount_health_and_metrics(app, container.registry, {"database": database})
    return app
