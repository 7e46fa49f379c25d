"""`python -m services.intake`: apply migrations, ensure topics, serve (shared.http_server)."""

from __future__ import annotations

import asyncio
import gc
import logging

from services.intake.bootstrap import bootstrap
from services.intake.entrypoints.http import create_app
from services.intake.settings import IntakeSettings
from shared import http_server
from shared.db import upgrade_async
from shared.kafka import DLQ, EVENTS, RAW, TopicSpec, ensure_topics
from shared.observability import configure_logging

log = logging.getLogger("services.intake")


def topic_specs(settings: IntakeSettings) -> list[TopicSpec]:
    return [
        TopicSpec(settings.raw_topic, RAW.partitions, RAW.retention_ms),
        TopicSpec(settings.events_topic, EVENTS.partitions, EVENTS.retention_ms),
        TopicSpec(settings.dlq_topic, DLQ.partitions, DLQ.retention_ms),
    ]


async def prepare(settings: IntakeSettings) -> None:
    await upgrade_async("intake", settings.database_url)
    try:
        await ensure_topics(settings.kafka_bootstrap_servers, topic_specs(settings))
    except Exception as exc:
        log.warning("could not ensure Kafka topics (%s); starting anyway", exc)


def app_factory():
    """One app per worker process: each has its own producer, token cache and rate buckets."""
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    app = create_app(bootstrap(settings))
    # The modules and objects loaded so far live as long as the process: keep them out of the
    # cyclic collector's way. A batch allocates tens of thousands of objects that live until
    # its answer, and each collection they trigger walked the whole heap: about a third of
    # intake's CPU went to the collector before this.
    gc.collect()
    gc.freeze()
    # Requests free their objects by reference counting; with the default threshold (700 net
    # allocations) a single batch still set off dozens of collections that found nothing to
    # free (5-8% of the time). 50,000 is a few concurrent batches, a few MB at most.
    gc.set_threshold(50_000)
    return app


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings.log_level)
    asyncio.run(prepare(settings))
    # Validation is CPU-bound Python: more than one worker is how intake uses more than one core.
    # uvloop and httptools (http_server's protocol): the event loop and HTTP parsing in C, not Python.
    http_server.run(
        "services.intake.__main__:app_factory",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        limits=http_server.ServerLimits.of(settings),
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
