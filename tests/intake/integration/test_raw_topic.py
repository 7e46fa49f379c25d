"""The Kafka-native door: raw topic → canonical topic or dead-letter topic, nothing dropped,
offsets committed only after the forward/DLQ writes were acknowledged."""

from __future__ import annotations

import asyncio
import json

from aiokafka import TopicPartition

from services.intake.entrypoints.examples import examples
from services.intake.service_layer.ports import KafkaUnavailable
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from shared.kafka import client_security, committed_offsets, make_producer


def binary(kind: str, agency: str = "CA-TINH", id: str | None = None, **data):
    doc = examples(agency)[kind]
    doc = {**doc, "id": id or doc["id"], "data": {**doc["data"], **data}}
    return to_kafka(agency_event_adapter.validate_python(doc))


async def produce(service, records: list[tuple[bytes | None, bytes | None, list]]) -> None:
    producer = make_producer(service.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(service.settings.raw_topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def committed_lag(service) -> int:
    """Records on the raw topic that the forwarder has not committed yet."""
    offsets = await committed_offsets(service.settings.kafka_bootstrap_servers, service.settings.raw_group_id)
    consumer_end = await _end_offsets(service)
    return sum(end - offsets.get(tp, 0) for tp, end in consumer_end.items())


async def _end_offsets(service) -> dict:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(bootstrap_servers=service.settings.kafka_bootstrap_servers, **client_security())
    await c.start()
    try:
        parts = [
            TopicPartition(service.settings.raw_topic, p)
            for p in c.partitions_for_topic(service.settings.raw_topic)
            or await _parts(c, service.settings.raw_topic)
        ]
        return await c.end_offsets(parts)
    finally:
        await c.stop()


async def _parts(consumer, topic):
    await consumer._client._wait_on_metadata(topic)
    return consumer.partitions_for_topic(topic)


async def until(predicate, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


async def test_valid_records_are_forwarded_and_invalid_ones_dead_lettered_with_reasons(service):
    good = binary("indicator.reported", id="raw-good-1")
    other = binary("report.submitted", "HQ", id="raw-good-2")
    negative = binary("indicator.reported", id="raw-negative")
    negative_value = json.dumps({**examples()["indicator.reported"]["data"], "value": -5}).encode()
    stranger = binary("report.submitted", id="raw-stranger")
    stranger_headers = [(k, b"/agencies/NOBODY" if k == "ce_source" else v) for k, v in stranger.headers]
    foreign_unit = binary("indicator.reported", "CA-DAKRONG", id="raw-foreign", unit_code="HH-LAO-BAO")
    records = [
        (good.key, good.value, good.headers),
        (b"CA-TINH", b"\x00\x01 not json", good.headers),  # poison bytes
        (b"CA-TINH", b"{}", [("content-type", b"application/json")]),  # no ce_ headers
        (negative.key, negative_value, negative.headers),  # schema
        (b"NOBODY", stranger.value, stranger_headers),  # unknown agency
        (foreign_unit.key, foreign_unit.value, foreign_unit.headers),  # authorization
        (b"CA-TINH", None, good.headers),  # tombstone
        (other.key, other.value, other.headers),
    ]
    await produce(service, records)

    forwarded = await service.read(service.settings.events_topic, 2)
    assert sorted((r.key, dict(r.headers)["ce_id"]) for r in forwarded) == [
        (b"CA-TINH", b"raw-good-1"),
        (b"HQ", b"raw-good-2"),
    ]
    dead = await service.read(service.settings.dlq_topic, 6)
    reasons = {r.value: dict(r.headers)["dlq_reason"].decode() for r in dead}
    assert reasons == {
        b"\x00\x01 not json": "not-a-cloudevent",
        b"{}": "not-a-cloudevent",
        negative_value: "invalid-event",
        stranger.value: "source-mismatch",
        foreign_unit.value: "foreign-unit",
        b"": "not-a-cloudevent",
    }
    by_value = {r.value: dict(r.headers) for r in dead}
    assert json.loads(by_value[negative_value]["dlq_errors"])[0]["pointer"] == "/data/value"
    assert by_value[negative_value]["ce_id"] == b"raw-negative"  # original headers kept
    assert by_value[negative_value]["dlq_origin"].startswith(service.settings.raw_topic.encode())
    await until(lambda: _zero(committed_lag(service)))


async def _zero(coro) -> bool:
    return await coro == 0


async def test_offsets_are_committed_only_after_kafka_acknowledged(service, monkeypatch):
    publisher = service.container.publisher
    real, failures = publisher.publish, []

    async def flaky(topic, records):
        if len(failures) < 2:
            failures.append(topic)
            raise KafkaUnavailable("simulated outage")
        return await real(topic, records)

    monkeypatch.setattr(publisher, "publish", flaky)
    record = binary("report.submitted", id="raw-after-outage")
    await produce(service, [(record.key, record.value, record.headers)])
    await until(lambda: _seen(service, b"raw-after-outage"))
    assert len(failures) == 2  # the batch was read again after each failed forward, not skipped
    await until(lambda: _zero(committed_lag(service)))


async def _seen(service, event_id: bytes) -> bool:
    records = await service.read(service.settings.events_topic, 100, timeout=1)
    return any(dict(r.headers)["ce_id"] == event_id for r in records)


async def test_a_record_forwarded_twice_is_forwarded_once(service):
    record = binary("report.submitted", id="raw-twice")
    await produce(service, [(record.key, record.value, record.headers)] * 2)
    await until(lambda: _zero(committed_lag(service)))
    records = await service.read(service.settings.events_topic, 100, timeout=2)
    assert [dict(r.headers)["ce_id"] for r in records].count(b"raw-twice") == 1


async def test_a_record_that_trips_a_bug_is_dead_lettered_and_the_rest_flow_on(service, monkeypatch):
    from services.intake.service_layer import intake as service_layer

    real = service_layer.to_record

    def buggy(event):
        if event.id == "raw-poison":
            raise RuntimeError("a bug this record triggers")
        return real(event)

    monkeypatch.setattr(service_layer, "to_record", buggy)
    batch = [
        binary("report.submitted", id=i) for i in ("raw-before-poison", "raw-poison", "raw-after-poison")
    ]
    await produce(service, [(r.key, r.value, r.headers) for r in batch])
    await until(lambda: _seen(service, b"raw-after-poison"))
    assert await _seen(service, b"raw-before-poison")
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    poison = [r for r in dead if dict(r.headers).get("ce_id") == b"raw-poison"]
    assert [dict(r.headers)["dlq_reason"] for r in poison] == [b"internal-error"]
    await until(lambda: _zero(committed_lag(service)))


async def test_a_failed_batch_spanning_partitions_is_read_again_from_each_partitions_first_record(
    service, monkeypatch
):
    """FastStream 0.7 nacks a batch by seeking every partition in it back to that partition's
    earliest record of the batch: no partition is skipped past an unforwarded record."""
    publisher = service.container.publisher
    real, failures = publisher.publish, []

    async def flaky(topic, records):
        if len(failures) < 2:
            failures.append(len(records))
            raise KafkaUnavailable("simulated outage")
        return await real(topic, records)

    monkeypatch.setattr(publisher, "publish", flaky)
    ids = [f"raw-spread-{p}-{i}" for p in range(6) for i in range(3)]
    producer = make_producer(service.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        sent = [
            await producer.send(
                service.settings.raw_topic,
                r.value,
                key=r.key,
                headers=r.headers,
                partition=int(i.split("-")[2]),
            )
            for i in ids
            for r in [binary("report.submitted", id=i)]
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await until(lambda: _seen(service, ids[-1].encode()), timeout=30)
    await until(lambda: _zero(committed_lag(service)))
    assert len(failures) == 2 and max(failures) > 3  # a failed batch held several partitions' records
    forwarded = [
        dict(r.headers)["ce_id"].decode()
        for r in await service.read(service.settings.events_topic, 1000, timeout=3)
    ]
    assert sorted(i for i in forwarded if i.startswith("raw-spread-")) == sorted(
        ids
    )  # each once, none skipped


async def test_records_with_binary_or_null_header_values_are_handled_not_lost(service):
    """FastStream decodes header values as UTF-8 for itself; `shared.kafka.tolerant_parser` keeps
    such records flowing to the handler, which forwards or dead-letters them as usual."""
    good = binary("report.submitted", id="raw-binary-header")
    await produce(
        service,
        [
            (good.key, good.value, [*good.headers, ("trace", b"\xff\xfe"), ("empty", None)]),
            (b"CA-TINH", b"\xff", [("ce_id", b"\xc3\x28"), ("nothing", None)]),
        ],
    )
    await until(lambda: _seen(service, b"raw-binary-header"))
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    [letter] = [r for r in dead if r.value == b"\xff"]
    assert dict(letter.headers)["ce_id"] == b"\xc3\x28"  # the original bytes, dead-lettered
    await until(lambda: _zero(committed_lag(service)))
