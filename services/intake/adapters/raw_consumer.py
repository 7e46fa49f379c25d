"""The Kafka-native door: binary-mode CloudEvents on the raw topic, checked by the same code as
HTTP, valid ones forwarded to the canonical topic, invalid ones to the dead-letter topic with
their original bytes and the reason in headers.

Offsets are committed only after every forward and dead-letter write of the batch was
acknowledged. If Kafka or PostgreSQL fails, the batch is read again (seek back): a forward
that did happen comes back as a duplicate. A record that cannot be checked at all (poison)
goes to the dead-letter topic like any invalid one, so a partition never gets stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from shared.events.codec import DecodeError, KafkaRecord, from_kafka
from shared.events.models import agency_code_of
from shared.kafka import serve, subscriber_options

from services.intake.adapters.publisher import KafkaUnavailable
from services.intake.domain.problems import Problem
from services.intake.service_layer import Intake, Outcome, RegistryUnavailable

log = logging.getLogger(__name__)


def decode(record: ConsumerRecord):
    try:
        return from_kafka(record.value, record.headers or ())
    except DecodeError as exc:
        return Problem("not-a-cloudevent", str(exc))
    except Exception as exc:  # noqa: BLE001 - poison must reach the DLQ, not stall the partition
        return Problem("internal-error", f"cannot decode the record: {type(exc).__name__}")


def dead_letter(record: ConsumerRecord, outcome: Outcome) -> KafkaRecord:
    problem = outcome.problem
    assert problem is not None
    headers = list(record.headers or ())
    headers += [
        ("dlq_reason", problem.reason.encode()),
        ("dlq_detail", problem.detail[:2000].encode()),
        ("dlq_origin", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    if problem.errors:
        headers.append(("dlq_errors", json.dumps([e.as_dict() for e in problem.errors])[:4000].encode()))
    source = dict(headers).get("ce_source", b"").decode(errors="replace")
    key = (agency_code_of(source) or "").encode() or record.key
    return KafkaRecord(key=key, value=record.value or b"", headers=headers)


class RawForwarder:
    """A FastStream batch subscriber on the raw topic (`AckPolicy.NACK_ON_ERROR`): FastStream commits
    the batch's offsets once `on_batch` returned; when it raised, the broker backs off, then FastStream
    seeks every partition of the batch back to its earliest record, so the batch is read again."""

    def __init__(self, broker: KafkaBroker, intake: Intake, *, raw_topic: str, dlq_topic: str, group_id: str,
                 max_records: int = 500) -> None:
        self.broker, self._intake, self._dlq = broker, intake, dlq_topic
        self._task: asyncio.Task | None = None
        broker.subscriber(raw_topic, group_id=group_id, batch=True, max_records=max_records, batch_timeout_ms=500,
                          **subscriber_options(AckPolicy.NACK_ON_ERROR))(self.on_batch)

    async def start(self) -> None:
        """In the background: intake serves HTTP (and says "not ready") while Kafka is away."""
        self._task = asyncio.create_task(serve(self.broker), name="intake-raw-forwarder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def on_batch(self, records: tuple[ConsumerRecord, ...]) -> None:
        try:
            await self.handle(records)
        except (KafkaUnavailable, RegistryUnavailable):
            raise  # FastStream nacks: the batch is read again after the broker's back-off
        except Exception:  # noqa: BLE001 - a bug met by some record: find it, don't stall on it
            log.exception("raw batch of %d failed; handling its records one by one", len(records))
            await self._one_by_one(records)

    async def _one_by_one(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            try:
                await self.handle([record])
            except (KafkaUnavailable, RegistryUnavailable):
                raise
            except Exception as exc:  # noqa: BLE001 - the poison record itself
                problem = Problem("internal-error", f"intake failed on this record: {type(exc).__name__}")
                letter = dead_letter(record, Outcome("rejected", None, problem))
                await self._intake.publisher.publish(self._dlq, [letter])
                self._intake.metrics.dlq(problem.reason)

    async def handle(self, records: Sequence[ConsumerRecord]) -> list[Outcome]:
        """Forward or dead-letter every record; returns only once Kafka acknowledged them all."""
        outcomes = await self._intake.submit([decode(r) for r in records], agency=None, path="kafka")
        dead = [(r, o) for r, o in zip(records, outcomes) if o.status == "rejected"]
        if dead:
            await self._intake.publisher.publish(self._dlq, [dead_letter(r, o) for r, o in dead])
            for _, o in dead:
                self._intake.metrics.dlq(o.problem.reason if o.problem else "internal-error")
        return outcomes


