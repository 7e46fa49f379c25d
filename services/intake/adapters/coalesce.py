"""Group commit for one round trip many concurrent callers make (a registry lookup, a write).

Callers that arrive while `concurrency` flushes are already out wait and go out together in
the next one: one round trip, one statement, one commit for all of them. A lone caller goes
out at once (no timer, no added wait); under load the groups grow with the queue. Each caller
gets its own part of the result; a flush that fails fails exactly the callers it carried,
each with the flush's exception, and no other. A caller that stops waiting (cancelled, timed
out) leaves the others' flush alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    def __init__(
        self,
        flush: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        size: Callable[[Item], int],
        max_size: int,
        concurrency: int = 1,
        name: str = "coalescer",
    ) -> None:
        """`flush(items)` returns one result per item, in order. `size` of an item (rows it adds)
        bounds a flush at `max_size` (one item over it still goes out, alone)."""
        self._flush, self._size, self._max = flush, size, max_size
        self._concurrency, self._name = concurrency, name
        self._waiting: list[tuple[Item, asyncio.Future]] = []
        self._running = 0
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, item: Item) -> Result:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._running < self._concurrency:
            # The task takes its items when it first runs: callers arriving in this same turn of
            # the loop join it.
            self._running += 1
            task = asyncio.create_task(self._drain(), name=self._name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    def _take(self) -> list[tuple[Item, asyncio.Future]]:
        total, n = 0, 0
        for item, _ in self._waiting:
            total += self._size(item)
            if n and total > self._max:
                break
            n += 1
        taken, self._waiting = self._waiting[:n], self._waiting[n:]
        return [(item, done) for item, done in taken if not done.done()]  # drop who stopped waiting

    async def _drain(self) -> None:
        try:
            while self._waiting:
                taken = self._take()
                if not taken:
                    continue
                try:
                    results = await self._flush([item for item, _ in taken])
                except Exception as exc:
                    for _, done in taken:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                except BaseException:
                    for _, done in taken:
                        done.cancel()
                    raise  # cancelled (shutting down): the waiting ones are cancelled below
                for (_, done), result in zip(taken, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            self._running -= 1
            if self._running == 0:
                for _, done in self._waiting:  # only if cancelled: nobody left to send them
                    done.cancel()
                self._waiting = []

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
