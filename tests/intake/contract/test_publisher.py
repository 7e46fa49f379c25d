"""The `EventPublisher` contract (service_layer/ports.py), on the fake and on Kafka: `publish`
returns only once every record is written, in order per key, with its key, value and headers;
with the broker away it raises `KafkaUnavailable` — never a silent loss."""

from __future__ import annotations

import pytest

from services.intake.service_layer.ports import KafkaUnavailable
from shared.events.codec import KafkaRecord


def records(agency: str, n: int, start: int = 0) -> list[KafkaRecord]:
    return [
        KafkaRecord(agency.encode(), f'{{"n": {i}}}'.encode(), [("ce_id", f"{agency}-{i}".encode())])
        for i in range(start, start + n)
    ]


async def test_a_started_publisher_is_ready(topic):
    assert await topic.publisher.ready() is None


async def test_published_records_are_there_with_key_value_and_headers_in_order_per_key(topic):
    a, b = records("CA-TINH", 5), records("CA-DAKRONG", 3)
    await topic.publisher.publish(topic.name, [x for pair in zip(a, b) for x in pair] + a[3:])
    await topic.publisher.publish(topic.name, records("CA-TINH", 2, start=5))
    got = await topic.records(10)
    assert len(got) == 10
    for agency, expected in (("CA-TINH", 7), ("CA-DAKRONG", 3)):
        mine = [r for r in got if r.key == agency.encode()]
        assert [dict(r.headers)["ce_id"] for r in mine] == [f"{agency}-{i}".encode() for i in range(expected)]
        assert [r.value for r in mine] == [f'{{"n": {i}}}'.encode() for i in range(expected)]


async def test_with_the_broker_away_a_write_raises_and_nothing_is_reported_ready(publisher_down):
    assert await publisher_down.ready() is not None
    with pytest.raises(KafkaUnavailable):
        await publisher_down.publish("anything", records("CA-TINH", 1))
