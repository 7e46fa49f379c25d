"""Intake's ports in memory, for unit tests: the real use case runs on these in milliseconds.

They behave as the PostgreSQL registry and the Kafka publisher do (`tests/intake/contract/` runs
the same tests against both): the registry shows a source only its own ids and keeps the first
row of an `(source, id)`; the publisher refuses writes until started, and after it stopped.
`down = True` makes either answer as its real counterpart does when its server is away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from services.intake.domain.plan_rules import KnownEvent
from services.intake.service_layer.ports import Accepted, KafkaUnavailable
from shared.events.codec import KafkaRecord


class MemoryRegistry:
    unavailable: tuple[type[BaseException], ...] = (ConnectionError,)

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], KnownEvent] = {}
        self.down = False

    async def lookup(self, source: str, ids: Iterable[str]) -> dict[str, KnownEvent]:
        self._answer()
        return {i: k for i in set(ids) if (k := self.rows.get((source, i))) is not None}

    async def record(self, accepted: Sequence[Accepted]) -> None:
        if not accepted:
            return
        self._answer()
        for row in accepted:
            self.rows.setdefault((row.source, row.event_id), KnownEvent(row.type, row.indicator, row.digest))

    async def close(self) -> None:
        pass

    def _answer(self) -> None:
        if self.down:
            raise ConnectionRefusedError("the registry's database is away")


class MemoryPublisher:
    def __init__(self) -> None:
        self.topics: dict[str, list[KafkaRecord]] = {}
        self.started = False
        self.down = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, topic: str, records: Sequence[KafkaRecord]) -> None:
        if not self.started:
            raise KafkaUnavailable("not connected to Kafka yet")
        if self.down:
            raise KafkaUnavailable("Kafka did not acknowledge in time")
        self.topics.setdefault(topic, []).extend(records)

    async def ready(self) -> str | None:
        if not self.started:
            return "producer not connected"
        return "Kafka unreachable" if self.down else None

    def published(self, topic: str) -> list[KafkaRecord]:
        return list(self.topics.get(topic, ()))


class MemoryCounters:
    """Outcome counts by (path, agency, outcome, reason), dead letters by reason."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str, str | None, str, str]] = Counter()
        self.dead_letters: Counter[str] = Counter()

    def count(self, path: str, agency: str | None, outcome: str, reason: str = "", n: int = 1) -> None:
        self.events[(path, agency, outcome, reason)] += n

    def dlq(self, reason: str) -> None:
        self.dead_letters[reason] += 1
