"""The background loops started in the app's lifespan: consumer, digest scheduler, sender."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.notifier.bootstrap import Container

log = logging.getLogger(__name__)


async def _forever(name: str, step: Callable[[], Awaitable[int | None]], pause: float) -> None:
    """Run `step` again and again; an error (database or SMTP down) is logged, never fatal."""
    while True:
        try:
            busy = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop failed; retrying", name)
            busy = 0
        if not busy:
            await asyncio.sleep(pause)


async def scheduler(container: Container) -> None:
    async def step() -> None:
        await container.notifier.tick(container.clock.now())

    await _forever("scheduler", step, container.settings.tick_seconds)


async def sender(container: Container) -> None:
    async def step() -> int:
        sent = await container.sender.run_once()
        await container.sender.observe()
        return sent

    await _forever("sender", step, min(container.settings.tick_seconds, 0.5))


async def consumer(container: Container) -> None:
    await container.consumer().run()  # supervised: a run that dies is restarted (shared.consumers)


def start_all(container: Container) -> list[asyncio.Task]:
    return [
        asyncio.create_task(consumer(container), name="notifier-consumer"),
        asyncio.create_task(scheduler(container), name="notifier-scheduler"),
        asyncio.create_task(sender(container), name="notifier-sender"),
    ]
