"""The background loops started in the app's lifespan: consumer, digest scheduler, sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from services.notifier.bootstrap import Container

log = logging.getLogger(__name__)
SENDER = "notifier-sender"  # the task a graceful stop lets finish the email in hand


async def _forever(
    name: str, step: Callable[[], Awaitable[int | None]], pause: float, stop: asyncio.Event | None = None
) -> None:
    """Run `step` again and again (until `stop` is set); an error (database or SMTP down) is
    logged, never fatal."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            busy = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop failed; retrying", name)
            busy = 0
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


async def scheduler(container: Container) -> None:
    async def step() -> None:
        await container.notifier.tick(container.clock.now())

    await _forever("scheduler", step, container.settings.tick_seconds)


async def sender(container: Container) -> None:
    async def step() -> int:
        sent = await container.sender.run_once()
        await container.sender.observe()
        return sent

    await _forever("sender", step, min(container.settings.tick_seconds, 0.5), container.sender.stopping)


async def consumer(container: Container) -> None:
    await container.consumer().run()  # supervised: a run that dies is restarted (shared.consumers)


def start_all(container: Container) -> list[asyncio.Task]:
    return [
        asyncio.create_task(consumer(container), name="notifier-consumer"),
        asyncio.create_task(scheduler(container), name="notifier-scheduler"),
        asyncio.create_task(sender(container), name=SENDER),
    ]
