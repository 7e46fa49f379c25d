"""One lifespan for the three services' apps: the composition root's container starts what runs
beside the requests (Kafka clients, consumers, relays, loops) when the app starts serving, and
stops it, and closes its database engine, when the app stops. `background=False` makes an app
that serves requests only (tests of one route, `tiendo aggregator web`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol


class Startable(Protocol):
    async def start(self, *, background: bool = True) -> None: ...

    async def stop(self) -> None: ...


def container_lifespan(
    container: Startable, *, background: bool = True
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await container.start(background=background)
        try:
            yield
        finally:
            await container.stop()

    return lifespan
