"""Concurrent callers share a round trip (adapters/coalesce.py) and each still gets exactly its
own outcome; the registry's shared lookup shows each caller only what it asked for."""

from __future__ import annotations

import asyncio

import pytest

from services.intake.adapters.coalesce import Coalescer
from services.intake.adapters.registry import EventRegistry
from services.intake.domain.plan_rules import KnownEvent


class Recorder:
    """A fake round trip: notes each flush; a flush can be held open or made to fail."""

    def __init__(self) -> None:
        self.flushes: list[list] = []
        self.gates: list[asyncio.Event] = []
        self.fail: set[int] = set()  # flush numbers that raise

    async def __call__(self, items: list) -> list:
        number = len(self.flushes)
        self.flushes.append(list(items))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if number in self.fail:
            raise ConnectionError(f"flush {number} failed")
        return [f"result of {item}" for item in items]

    async def open(self, number: int) -> None:
        while len(self.gates) <= number:
            await asyncio.sleep(0)
        self.gates[number].set()


def coalescer(flush, **kw) -> Coalescer:
    return Coalescer(flush, size=len, max_size=kw.pop("max_size", 100), **kw)


async def test_callers_of_the_same_moment_share_one_flush_and_each_gets_its_own_result():
    flush = Recorder()
    shared = coalescer(flush)
    calls = [asyncio.ensure_future(shared(item)) for item in ("a", "b", "c")]
    await flush.open(0)
    assert await asyncio.gather(*calls) == ["result of a", "result of b", "result of c"]
    assert flush.flushes == [["a", "b", "c"]]


async def test_a_lone_caller_goes_out_at_once_and_later_ones_wait_for_the_next_flush():
    flush = Recorder()
    shared = coalescer(flush)
    first = asyncio.ensure_future(shared("a"))
    await asyncio.sleep(0.01)
    assert flush.flushes == [["a"]]  # no timer: out before anyone else came
    later = [asyncio.ensure_future(shared(item)) for item in ("b", "c")]
    await asyncio.sleep(0.01)
    assert flush.flushes == [["a"]]  # one flush at a time (concurrency 1): b and c gather
    await flush.open(0)
    await flush.open(1)
    assert await first == "result of a"
    assert await asyncio.gather(*later) == ["result of b", "result of c"]
    assert flush.flushes == [["a"], ["b", "c"]]


async def test_a_failed_flush_fails_exactly_its_callers():
    flush = Recorder()
    flush.fail = {1}
    shared = coalescer(flush)
    first = asyncio.ensure_future(shared("a"))
    await asyncio.sleep(0)
    middle = [asyncio.ensure_future(shared(item)) for item in ("b", "c")]
    await flush.open(0)
    assert await first == "result of a"
    last = asyncio.ensure_future(shared("d"))  # arrives while b and c's flush is out
    await flush.open(1)
    for call in middle:
        with pytest.raises(ConnectionError, match="flush 1"):
            await call
    await flush.open(2)
    assert await last == "result of d"
    assert flush.flushes == [["a"], ["b", "c"], ["d"]]


async def test_a_caller_that_stops_waiting_leaves_the_others_alone_and_is_not_sent():
    flush = Recorder()
    shared = coalescer(flush)
    first = asyncio.ensure_future(shared("a"))
    await asyncio.sleep(0)
    gone, stays = asyncio.ensure_future(shared("b")), asyncio.ensure_future(shared("c"))
    await asyncio.sleep(0)
    gone.cancel()
    await flush.open(0)
    await flush.open(1)
    assert (await first, await stays) == ("result of a", "result of c")
    assert flush.flushes == [["a"], ["c"]]


async def test_flushes_are_bounded_in_size_and_run_up_to_the_concurrency():
    flush = Recorder()
    shared = coalescer(flush, max_size=4, concurrency=2)
    calls = [asyncio.ensure_future(shared(item)) for item in ("xx", "yy", "zz", "w", "vvvvvv")]
    for number in range(3):
        await flush.open(number)
    assert await asyncio.gather(*calls) == [f"result of {i}" for i in ("xx", "yy", "zz", "w", "vvvvvv")]
    assert flush.flushes == [["xx", "yy"], ["zz", "w"], ["vvvvvv"]]  # one over the bound still goes, alone


async def test_closing_cancels_the_waiting_callers():
    flush = Recorder()
    shared = coalescer(flush)
    first = asyncio.ensure_future(shared("a"))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(shared("b"))
    await asyncio.sleep(0)
    await shared.close()
    for call in (first, waiting):
        with pytest.raises(asyncio.CancelledError):
            await call


class FakeEngine:
    class url:
        @staticmethod
        def set(**_):
            class Rendered:
                @staticmethod
                def render_as_string(hide_password: bool) -> str:
                    return "postgresql://nowhere/none"

            return Rendered


async def test_the_shared_lookup_shows_each_caller_its_own_source_and_ids_only_duplicates_included():
    registry = EventRegistry(FakeEngine())
    statements = []

    async def run(statement):
        statements.append(statement)
        # What PostgreSQL would answer for the pairs asked: (source, id, type, indicator, digest).
        return [
            ("/agencies/A", "1", "t", "i", "da1"),
            ("/agencies/B", "1", "t", "i", "db1"),
            ("/agencies/A", "2", "t", None, "da2"),
        ]

    registry._run = run
    a, b, again = await asyncio.gather(
        registry.lookup("/agencies/A", ["1", "3"]),
        registry.lookup("/agencies/B", ["1", "2"]),
        registry.lookup("/agencies/A", ["2", "1", "1"]),
    )
    assert len(statements) == 1  # one query for all three callers
    assert a == {"1": KnownEvent("t", "i", "da1")}  # not its id 2: it did not ask for it
    assert b == {"1": KnownEvent("t", "i", "db1")}  # B's own row for id 1, never A's; A's id 2 invisible
    assert again == {"2": KnownEvent("t", None, "da2"), "1": KnownEvent("t", "i", "da1")}
