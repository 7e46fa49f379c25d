"""The Kafka-native door: binary-mode CloudEvents on the raw topic, checked by the same code as
HTTP, valid ones forwarded to the canonical topic, invalid ones to the dead-letter topic with
their original bytes and the reason in headers.

Offsets are committed only after every forward and dead-letter write of the batch was
acknowledged. If Kafka or PostgreSQL fails, the batch is read again (seek back): a forward
that did happen comes back as a duplicate. A record that cannot be checked at all (poison)
goes to the dead-letter topic like any invalid one, so a partition never gets stuck: a record
that keeps failing is dead-lettered after a few attempts (`shared.consumers`), while Kafka or
PostgreSQL being away is waited out and never dead-letters anything.

Intake reads the shared raw topic (operators' replays: the source speaks) and every agency's own
raw topic `<raw>.<AGENCY>` (one pattern subscription), which only that agency's Kafka principal may
write (`shared.kafka_access`): a record there is bound to that agency as an HTTP request is to its
token's, so one claiming another agency's `ce_source` is dead-lettered as `source-mismatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry

from services.intake.adapters.publisher import KafkaUnavailable
from services.intake.domain.personal_data import mask_identifiers
from services.intake.domain.problems import Problem
from services.intake.service_layer import Intake, Outcome, RegistryUnavailable
from shared.consumers import ConsumerHealth, Failed, RecordGuard, is_outage, supervise
from shared.deadletter import dead_letter as make_dead_letter
from shared.deadletter import origin_of
from shared.events.codec import DecodeError, KafkaRecord, from_kafka
from shared.events.models import agency_source
from shared.kafka import serve, subscriber_options

log = logging.getLogger(__name__)


def decode(record: ConsumerRecord, max_bytes: int | None = None):
    """The record's structured form, or the problem; `max_bytes` bounds value and headers together,
    as HTTP bounds an event's body (a record near the broker's limit could not be forwarded)."""
    if max_bytes is not None:
        size = len(record.value or b"") + sum(len(n) + len(v or b"") for n, v in record.headers or ())
        if size > max_bytes:
            return Problem(
                "too-large",
                f"the record is {size} bytes with its headers; an event may be at most "
                f"{max_bytes} bytes ({max_bytes // 1024} KiB)",
            )
    try:
        return from_kafka(record.value, record.headers or ())
    except DecodeError as exc:
        return Problem("not-a-cloudevent", str(exc))
    except Exception as exc:
        return Problem("internal-error", f"cannot decode the record: {type(exc).__name__}")


def raw_topics_pattern(raw_topic: str) -> str:
    """The shared raw topic and every agency's own (`shared.kafka_access.agency_topic`)."""
    return f"^{re.escape(raw_topic)}(\\.[A-Z0-9][A-Z0-9-]{{0,63}})?$"


def bind_to_agency(document, agency: str, topic: str):
    """A record read from `agency`'s own topic must speak for that agency (its credentials wrote it)."""
    if isinstance(document, Problem) or not isinstance(document, dict):
        return document
    source, expected = document.get("source"), agency_source(agency)
    if source != expected:
        return Problem(
            "source-mismatch",
            f"this record was written to {topic}, the Kafka topic of agency {agency} (only its "
            f"credentials may write there), so `ce_source` must be {expected!r}; got {source!r}",
        )
    return document


def dead_letter(record: ConsumerRecord, outcome: Outcome, *, attempts: int = 1) -> KafkaRecord:
    """The dead letter of a rejected raw record (`shared.deadletter`'s one format)."""
    problem = outcome.problem
    assert problem is not None
    value, headers = record.value, record.headers
    if problem.reason == "personal-data":  # the identifiers stay with the agency, not in the DLQ
        value = mask_identifiers((value or b"").decode("utf-8", "replace")).encode()
        headers = [
            (n, mask_identifiers(v.decode("utf-8", "replace")).encode() if n == "ce_subject" else v)
            for n, v in headers or ()
        ]
    return make_dead_letter(
        record.key,
        value,
        headers,
        origin=origin_of(record),
        service="intake",
        reason=problem.reason,
        detail=problem.detail,
        attempts=attempts,
        errors=[e.as_dict() for e in problem.errors] or None,
    )


def _outage(exc: BaseException) -> bool:
    """Kafka or the registry's PostgreSQL is away: the batch is read again, nothing is dead-lettered.
    A registry error caused by one record's data (PostgreSQL refusing its text) is not an outage."""
    if isinstance(exc, KafkaUnavailable):
        return True
    if isinstance(exc, RegistryUnavailable):
        cause = exc.__cause__
        return cause is None or is_outage(cause) or isinstance(cause, _LOST)
    return is_outage(exc)


_LOST = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class RawForwarder:
    """A FastStream batch subscriber on the raw topic (`AckPolicy.NACK_ON_ERROR`): FastStream commits
    the batch's offsets once `on_batch` returned; when it raised, the broker backs off, then FastStream
    seeks every partition of the batch back to its earliest record, so the batch is read again.

    A batch that fails for another reason than an outage is handled one record at a time under
    `shared.consumers.RecordGuard`: a record that keeps failing is dead-lettered, the rest flow on."""

    def __init__(
        self,
        broker: KafkaBroker,
        intake: Intake,
        *,
        raw_topic: str,
        dlq_topic: str,
        group_id: str,
        max_records: int = 500,
        health: ConsumerHealth | None = None,
        attempts: int = 3,
        reachable: Callable[[], Awaitable[bool]] | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self.broker, self._intake, self._dlq, self._max_bytes = broker, intake, dlq_topic, max_event_bytes
        self._raw_topic = raw_topic
        self._task: asyncio.Task | None = None
        self.health = health or ConsumerHealth(CollectorRegistry(), "intake", "intake-raw")
        self.guard = RecordGuard(self.health, attempts=attempts, outage=_outage, reachable=reachable)
        broker.subscriber(
            pattern=raw_topics_pattern(raw_topic),
            group_id=group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=500,
            **subscriber_options(AckPolicy.NACK_ON_ERROR),
        )(self.on_batch)

    async def start(self) -> None:
        """In the background: intake serves HTTP (and says "not ready") while Kafka is away."""
        running = lambda: self.health.set_state("running")  # noqa: E731
        self._task = asyncio.create_task(
            supervise(lambda: serve(self.broker, on_started=running), self.health),
            name="intake-raw-forwarder",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def on_batch(self, records: tuple[ConsumerRecord, ...]) -> None:
        ends = self.health.seen_batch(records)
        try:
            await self.handle(records)
        except Exception as exc:
            if await self.guard.is_outage(exc):
                self.health.outage(exc)
                raise  # FastStream nacks: the batch is read again after the broker's back-off
            log.exception("raw batch of %d failed; handling its records one by one", len(records))
            await self._one_by_one(records)
        self.health.done_batch(ends)

    async def _one_by_one(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            result = await self.guard.attempt(record, lambda: self.handle([record]))  # noqa: B023 (awaited here)
            if isinstance(result, Failed):  # the poison record itself
                problem = Problem("internal-error", f"intake failed on this record: {result.detail}")
                letter = dead_letter(record, Outcome("rejected", None, problem), attempts=result.attempts)
                await self._intake.publisher.publish(self._dlq, [letter])
                self._dead_lettered(problem.reason)

    async def handle(self, records: Sequence[ConsumerRecord]) -> list[Outcome]:
        """Forward or dead-letter every record; returns only once Kafka acknowledged them all."""
        outcomes: list[Outcome] = [None] * len(records)  # type: ignore[list-item]
        by_agency: dict[str | None, list[int]] = {}
        for i, r in enumerate(records):
            by_agency.setdefault(self.agency_of(r.topic), []).append(i)
        for agency, indexes in by_agency.items():
            documents = [decode(records[i], self._max_bytes) for i in indexes]
            if agency is not None:
                documents = [bind_to_agency(d, agency, records[i].topic) for d, i in zip(documents, indexes)]
            submitted = await self._intake.submit(documents, agency=agency, path="kafka")
            for i, outcome in zip(indexes, submitted):
                outcomes[i] = outcome
        dead = [(r, o) for r, o in zip(records, outcomes) if o.status == "rejected"]
        if dead:
            await self._intake.publisher.publish(self._dlq, [dead_letter(r, o) for r, o in dead])
            for _, o in dead:
                self._dead_lettered(o.problem.reason if o.problem else "internal-error")
        return outcomes

    def agency_of(self, topic: str) -> str | None:
        """The agency whose own topic `topic` is; None for the shared raw topic."""
        return None if topic == self._raw_topic else topic[len(self._raw_topic) + 1 :]

    def _dead_lettered(self, reason: str) -> None:
        self._intake.metrics.dlq(reason)
        self.health.dead_lettered(reason)
