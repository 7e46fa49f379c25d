"""`python -m services.aggregator`: apply the migrations, then serve API, consumer and relay."""

from __future__ import annotations

import asyncio
import gc

from services.aggregator.settings import AggregatorSettings
from shared import http_server
from shared.db import upgrade_async
from shared.kafka import DLQ, EVENTS, STATUS, TopicSpec, ensure_topics
from shared.observability import configure_logging


async def serve(settings: AggregatorSettings, *, background: bool = True) -> None:
    """`background=False`: the read API and the people's pages only (`tiendo aggregator web`), no
    consumer, relay or KPI gauges — a replica people may reach, whose /metrics names no agency;
    the worker replicas (`tiendo aggregator run`) apply the migrations and create the topics."""
    from services.aggregator.entrypoints.app import create_app

    if not background:
        await _serve(create_app(settings=settings, run_background=False), settings)
        return
    await upgrade_async("aggregator", settings.database_url)
    # explicit creation (never auto-created); safe when intake does the same concurrently
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        [
            TopicSpec(settings.events_topic, EVENTS.partitions, EVENTS.retention_ms),
            TopicSpec(settings.status_topic, STATUS.partitions, STATUS.retention_ms),
            TopicSpec(settings.dlq_topic, DLQ.partitions, DLQ.retention_ms),
        ],
    )
    await _serve(create_app(settings=settings), settings)


async def _serve(app, settings: AggregatorSettings) -> None:
    server = http_server.make_server(
        app,
        host=settings.http_host,
        port=settings.http_port,
        limits=http_server.ServerLimits.of(settings),
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
    await server.serve()


def main(background: bool = True) -> None:
    # The ledgers are many long-lived small objects, and a batch makes ~10 containers per event
    # that reference counting frees: collections far apart (docs/benchmarks-aggregator.md, "gc").
    gc.set_threshold(200_000, 50, 1000)
    settings = AggregatorSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings, background=background))


if __name__ == "__main__":
    main()
