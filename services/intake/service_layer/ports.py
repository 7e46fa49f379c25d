"""What intake's use case needs from the outside world, as `Protocol`s it owns.

`Intake.submit` checks events against the plan (pure, `domain/`), asks the `EventRegistry` which
`(source, id)` it already accepted, writes the new ones through the `EventPublisher` and waits for
the acknowledgement, then records them in the registry; it counts outcomes on `IntakeCounters`
and reads the time from a `Clock`. PostgreSQL, Kafka and Prometheus implement these in
`adapters/`; `adapters/memory.py` implements them in memory for unit tests, and
`tests/intake/contract/` runs the same tests against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from services.intake.domain.plan_rules import KnownEvent
from shared.clock import Clock as Clock  # the one clock protocol of the system
from shared.events.codec import KafkaRecord


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time; nothing may be reported as accepted."""


class RegistryUnavailable(Exception):
    """The registry did not answer the duplicate/correction lookup, or could not record.

    Raised by the use case with the registry's own error as `__cause__`: the raw-topic door
    tells an outage (wait) from one record's data being refused (dead-letter) by it."""


class Accepted(NamedTuple):  # a row as the registry stores it (and COPY takes it)
    source: str
    event_id: str
    type: str
    indicator: str | None
    digest: str


class EventRegistry(Protocol):
    """Which `(source, id)` intake has already forwarded, with its type, indicator and digest."""

    # The errors that mean "the registry cannot answer now" (not a bug): the use case turns
    # them into `RegistryUnavailable`. A class attribute, so a replaced method raising one of
    # them is still understood.
    unavailable: tuple[type[BaseException], ...]

    async def lookup(self, source: str, ids: Iterable[str]) -> dict[str, KnownEvent]:
        """The known events among `ids` of this one source: another source's are never visible."""
        ...

    async def record(self, accepted: Sequence[Accepted]) -> None:
        """Remember `accepted`; an `(source, id)` already known keeps its first row."""
        ...

    async def close(self) -> None: ...


class EventPublisher(Protocol):
    """Durable writes to a topic: `publish` returns only once every record was acknowledged,
    else raises `KafkaUnavailable` (never a silent loss)."""

    async def start(self) -> None:
        """Begin connecting; returns at once (the service comes up without its broker)."""
        ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, records: Sequence[KafkaRecord]) -> None: ...

    async def ready(self) -> str | None:
        """None if a write could be acknowledged now, else why not."""
        ...


class IntakeCounters(Protocol):
    """Outcome counters (bounded labels: the adapter maps unknown agencies and reasons)."""

    def count(self, path: str, agency: str | None, outcome: str, reason: str = "", n: int = 1) -> None: ...

    def dlq(self, reason: str) -> None: ...
