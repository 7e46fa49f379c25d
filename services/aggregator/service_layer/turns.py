"""CPU work over many items, taken in turns with the rest of the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Loaded facts made or folded between two turns: a replica loading a million of them must still
# answer Kafka's heartbeats, or the group counts it as dead and rebalances.
FACTS_PER_TURN = 10_000


async def in_turns(items: Sequence[T], size: int) -> AsyncIterator[Sequence[T]]:
    """`items` in chunks of `size`, yielding to the event loop before each: the transaction in
    flight, Kafka's heartbeats, the API and the probes go on between two chunks."""
    for start in range(0, len(items), size):
        await asyncio.sleep(0)
        yield items[start : start + size]
