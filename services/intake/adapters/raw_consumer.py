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
import json
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.events.codec import DecodeError, KafkaRecord, from_kafka
from shared.events.models import agency_code_of
from shared.kafka import make_consumer

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
    def __init__(self, bootstrap: str, intake: Intake, *, raw_topic: str, dlq_topic: str, group_id: str,
                 max_records: int = 500, retry_s: float = 1.0) -> None:
        self._bootstrap, self._intake = bootstrap, intake
        self._raw, self._dlq, self._group = raw_topic, dlq_topic, group_id
        self._max, self._retry = max_records, retry_s
        self._task: asyncio.Task | None = None
        self.batches = 0  # handled batches, for tests and logs

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="intake-raw-forwarder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

    async def _run(self) -> None:
        while True:
            consumer = make_consumer(self._bootstrap, self._raw, group_id=self._group)
            try:
                await consumer.start()
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnect rather than die
                log.exception("raw-topic consumer failed; restarting in %.1fs", self._retry)
                await asyncio.sleep(self._retry)
            finally:
                await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=self._max)
            records = [r for tp in sorted(batches) for r in batches[tp]]
            if not records:
                continue
            try:
                await self.handle(records)
            except (KafkaUnavailable, RegistryUnavailable) as exc:
                log.warning("raw batch of %d not forwarded (%s); reading it again", len(records), exc)
                for tp, recs in batches.items():
                    consumer.seek(tp, recs[0].offset)
                await asyncio.sleep(self._retry)
                continue
            except Exception:  # noqa: BLE001 - a bug met by some record: find it, don't stall on it
                log.exception("raw batch of %d failed; handling its records one by one", len(records))
                try:
                    await self._one_by_one(records)
                except (KafkaUnavailable, RegistryUnavailable):
                    for tp, recs in batches.items():
                        consumer.seek(tp, recs[0].offset)
                    await asyncio.sleep(self._retry)
                    continue
            await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
            self.batches += 1

    async def _one_by_one(self, records: list[ConsumerRecord]) -> None:
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

    async def handle(self, records: list[ConsumerRecord]) -> list[Outcome]:
        """Forward or dead-letter every record; returns only once Kafka acknowledged them all."""
        outcomes = await self._intake.submit([decode(r) for r in records], agency=None, path="kafka")
        dead = [(r, o) for r, o in zip(records, outcomes) if o.status == "rejected"]
        if dead:
            await self._intake.publisher.publish(self._dlq, [dead_letter(r, o) for r, o in dead])
            for _, o in dead:
                self._intake.metrics.dlq(o.problem.reason if o.problem else "internal-error")
        return outcomes


