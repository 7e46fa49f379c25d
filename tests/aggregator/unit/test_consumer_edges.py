"""Consumer edges without a broker: a failed offset commit never blocks, poison keys, partitions."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

from services.aggregator.adapters.consumer import EventConsumer, decode, partition_of
from services.aggregator.adapters.metrics import AggregatorMetrics
from services.aggregator.adapters.projector import Delivered, Poison
from tests.aggregator.helpers import PLAN, reported
from shared.events.codec import to_kafka


class FailingCommits:
    def __init__(self):
        self.calls = 0

    async def commit(self, offsets):
        self.calls += 1
        raise CommitFailedError("the group rebalanced")


async def test_a_commit_failing_in_a_rebalance_is_counted_and_does_not_block():
    metrics = AggregatorMetrics(CollectorRegistry())
    consumer = EventConsumer(SimpleNamespace(), SimpleNamespace(plan=PLAN), None, metrics)
    kafka = FailingCommits()
    batch = {TopicPartition("t", 0): [SimpleNamespace(offset=4), SimpleNamespace(offset=5)]}
    await consumer._commit(kafka, batch)  # returns: the records come again and the inbox drops them
    await consumer._commit(kafka, batch)
    assert kafka.calls == 2 and metrics.commit_failures._value.get() == 2


def _record(value, headers, offset=9):
    return SimpleNamespace(topic="events", partition=2, offset=offset, key=b"CA-TINH", value=value,
                           headers=headers, timestamp=0)


def test_decode_gives_a_fact_or_a_dead_letter_keyed_by_position():
    good = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3))
    assert isinstance(decode(_record(good.value, good.headers), PLAN), Delivered)
    poison = decode(_record(b"[1,", good.headers), PLAN)
    assert isinstance(poison, Poison)
    assert (poison.source, poison.id, poison.agency) == ("kafka:events/2", "9", "CA-TINH")
    assert "not valid JSON" in poison.reason


def test_partition_of_matches_the_producers_default_partitioner():
    partitioner = DefaultPartitioner()
    for agency in [a.code for a in PLAN.agencies]:
        assert partition_of(agency, 6) == partitioner(agency.encode(), list(range(6)), list(range(6)))


def test_the_fast_decode_path_agrees_with_the_shared_codec():
    from shared.events.codec import decode_agency_event
    from services.aggregator.adapters.consumer import _fast_decode
    from services.aggregator.sample import sample_events

    for i, e in enumerate(sample_events(PLAN, 300, seed=5)):
        record = to_kafka(e)
        fast = _fast_decode(_record(record.value, record.headers, offset=i))
        assert fast == decode_agency_event(record.value, record.headers) == e
    odd = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3))
    headers = [h for h in odd.headers if h[0] != "ce_specversion"]
    assert _fast_decode(_record(odd.value, headers)) is None  # left to the shared codec's wording
