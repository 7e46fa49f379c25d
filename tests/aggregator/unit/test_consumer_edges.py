"""Consumer edges without a broker: a failed offset commit never blocks, poison keys, partitions."""

from __future__ import annotations

import asyncio
from datetime import UTC
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

from services.aggregator.adapters.decoding import decode
from services.aggregator.adapters.metrics import AggregatorMetrics
from services.aggregator.entrypoints.consumer import EventConsumer, partition_of
from services.aggregator.service_layer.ports import Delivered, Poison
from shared.events.codec import to_kafka
from tests.aggregator.helpers import PLAN, reported


class FailingCommits:
    def __init__(self):
        self.calls = 0

    async def commit(self, offsets):
        self.calls += 1
        raise CommitFailedError("the group rebalanced")


async def test_a_commit_failing_in_a_rebalance_is_counted_and_does_not_block():
    metrics = AggregatorMetrics(CollectorRegistry())
    consumer = EventConsumer(SimpleNamespace(), SimpleNamespace(plans=PLAN.index), None, metrics)
    kafka = FailingCommits()
    batch = {TopicPartition("t", 0): [SimpleNamespace(offset=4), SimpleNamespace(offset=5)]}
    await consumer._commit(kafka, batch)  # returns: the records come again and the inbox drops them
    await consumer._commit(kafka, batch)
    assert kafka.calls == 2 and metrics.commit_failures._value.get() == 2


def _record(value, headers, offset=9):
    return SimpleNamespace(
        topic="events", partition=2, offset=offset, key=b"CA-TINH", value=value, headers=headers, timestamp=0
    )


def test_decode_gives_a_fact_or_a_dead_letter_keyed_by_position():
    good = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3))
    assert isinstance(decode(_record(good.value, good.headers), PLAN), Delivered)
    poison = decode(_record(b"[1,", good.headers), PLAN)
    assert isinstance(poison, Poison)
    assert (poison.source, poison.id, poison.agency) == ("kafka:events/2", "9", "CA-TINH")
    assert "not valid JSON" in poison.detail


def test_partition_of_matches_the_producers_default_partitioner():
    partitioner = DefaultPartitioner()
    for agency in [a.code for a in PLAN.agencies]:
        assert partition_of(agency, 6) == partitioner(agency.encode(), list(range(6)), list(range(6)))


def test_the_lean_decoder_gives_the_facts_the_shared_codec_gives():
    from services.aggregator.domain.facts import fact_from_event
    from services.aggregator.sample import sample_events

    for i, e in enumerate(sample_events(PLAN, 300, seed=5)):
        record = to_kafka(e)
        item = decode(_record(record.value, record.headers, offset=i), PLAN)
        expected = fact_from_event(e, i, PLAN)
        assert isinstance(item, Delivered) and item.fact.order == expected.order
        assert (item.fact.source, item.fact.agency, item.fact.kind) == (
            expected.source,
            expected.agency,
            expected.kind,
        )
        # the data as intake serialised it: explicit nulls for absent optional fields
        assert {k: v for k, v in item.fact.data.items() if v is not None} == expected.data


def test_a_record_the_fold_cannot_take_is_dead_lettered_with_the_contract_s_wording():
    good = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3))
    no_version = [h for h in good.headers if h[0] != "ce_specversion"]
    cases = {  # value, headers -> words of the reason
        (b'{"indicator":"drug_cases_detected","period":"2024","value":"three"}', None): "ValidationError",
        (b'{"indicator":"drug_cases_detected","period":"2024-6","value":3.0}', None): "ValidationError",
        (b'{"indicator":"drug_cases_detected","period":"2024"}', None): "ValidationError",
        (b'["drug_cases_detected"]', None): "ValidationError",
        (good.value, tuple(no_version)): "ce_specversion",
        (b'{"indicator":"ufo_sightings","period":"2024","value":3.0}', None): "unknown indicator",
        (b'{"indicator":"drug_cases_detected","period":"2023","value":3.0}', None): "outside the plan year",
    }
    for (value, headers), words in cases.items():
        item = decode(_record(value, list(headers or good.headers)), PLAN)
        assert isinstance(item, Poison) and words in item.detail, (value, item)
    # the contract is strict: a quoted number is not a number, on either path
    quoted = decode(
        _record(b'{"indicator":"drug_cases_detected","period":"2024","value":"3"}', good.headers), PLAN
    )
    assert isinstance(quoted, Poison) and "valid number" in repr(quoted)


def test_observe_ages_exposes_what_observe_one_by_one_does():
    from prometheus_client import generate_latest

    from services.aggregator.adapters.metrics import observe_ages

    now = 1_700_000_000.25
    # ages on and around bucket bounds, repeated stamps, and stamps after `now` (clock skew: age 0)
    ages_ms = [0, 0, 10, 10, 11, 250, 420, 1000, 1000, 1001, 7500, 99_000, 99_000, 400_000, -5, -1200]
    stamps = [int(now * 1000) - a for a in ages_ms] + [int(now * 1000) + 3]
    one, batched = CollectorRegistry(), CollectorRegistry()
    m1, m2 = AggregatorMetrics(one), AggregatorMetrics(batched)
    for ms in stamps:
        m1.end_to_end.observe(max(0.0, now - ms / 1000))
    observe_ages(m2.end_to_end, list(reversed(stamps)), now)

    def histogram(registry):
        lines = [
            line.rsplit(" ", 1)
            for line in generate_latest(registry).decode().splitlines()
            if line.startswith("aggregator_end_to_end_seconds") and "_created" not in line
        ]
        return {name: float(value) for name, value in lines}

    h1, h2 = histogram(one), histogram(batched)
    assert h1.keys() == h2.keys() and len(h1) == 21
    assert all(h1[k] == h2[k] for k in h1 if not k.endswith("_sum")), (h1, h2)
    sum1, sum2 = (h["aggregator_end_to_end_seconds_sum"] for h in (h1, h2))
    assert abs(sum1 - sum2) < 1e-6 and sum1 > 400


def test_headers_in_another_order_or_with_more_decode_to_the_same_fact():
    e = reported("CA-TINH", "drug_cases_detected", "2024", 3)
    record = to_kafka(e)
    reordered = list(reversed(record.headers))
    extended = [*record.headers, ("ce_subject", b"drug_cases_detected")]
    facts = [
        decode(_record(record.value, headers), PLAN) for headers in (record.headers, reordered, extended)
    ]
    assert all(isinstance(f, Delivered) for f in facts)
    assert facts[0].fact == facts[1].fact == facts[2].fact


def test_an_agency_the_plan_does_not_know_is_dead_lettered_whatever_the_event():
    from tests.aggregator.helpers import event

    events = [
        reported("NOPE", "drug_cases_detected", "2024", 3),
        event("NOPE", "indicator.corrected", {"corrects": "x", "value": 1, "reason": "r"}),
        event("NOPE", "activity.recorded", {"activity": "propaganda_session", "date": "2024-06-01"}),
        event(
            "NOPE",
            "commune.assessed",
            {
                "unit_code": "HH-LAO-BAO",
                "year": 2024,
                "good_movement": True,
                "good_management": True,
                "good_fight": True,
            },
        ),
        event("NOPE", "report.submitted", {"period": "2024-06"}),
    ]
    for e in events:
        record = to_kafka(e)
        item = decode(_record(record.value, record.headers), PLAN)
        assert isinstance(item, Poison) and "unknown agency 'NOPE'" in item.detail, (e.type, item)


def test_an_event_dated_after_its_record_was_written_is_dead_lettered_even_on_the_canonical_topic():
    """Issue 17: a forged ce_time of 2099 would win over every later true report."""
    from datetime import datetime, timedelta, timezone

    written = datetime(2024, 6, 20, 8, tzinfo=timezone(timedelta(hours=7)))
    stamp = int(written.timestamp() * 1000)

    def at(time: datetime, timestamp: int = stamp):
        record = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3, time=time))
        return decode(
            SimpleNamespace(**{**vars(_record(record.value, record.headers)), "timestamp": timestamp}), PLAN
        )

    forged = at(datetime(2099, 1, 1, tzinfo=timezone(timedelta(hours=7))))
    assert isinstance(forged, Poison) and forged.reason == "rejected", forged
    assert "2098-12-31T17:00:00+00:00" in forged.detail and "after the record was written" in forged.detail
    assert isinstance(at(written + timedelta(minutes=11)), Poison)
    assert isinstance(at(written + timedelta(minutes=9)), Delivered)  # clock skew within intake's allowance
    assert isinstance(at(written - timedelta(days=3)), Delivered)
    assert isinstance(
        at(datetime(2099, 1, 1, tzinfo=UTC), timestamp=0), Delivered
    )  # no timestamp: not judged


class Trickle:
    """A consumer whose topic receives one record every `every` seconds (what getmany returns)."""

    def __init__(self, every: float) -> None:
        self.every, self.offset = every, 0
        record = to_kafka(reported("CA-TINH", "drug_cases_detected", "2024", 3))
        self.value, self.headers = record.value, record.headers

    async def getmany(self, timeout_ms: int, max_records: int):
        await asyncio.sleep(min(self.every, timeout_ms / 1000))
        if timeout_ms / 1000 < self.every:
            return {}
        self.offset += 1
        return {TopicPartition("events", 2): [_record(self.value, self.headers, offset=self.offset)]}


async def test_a_batch_waits_for_more_records_once_its_first_came_and_never_when_full():
    metrics = AggregatorMetrics(CollectorRegistry())

    async def batch(wait_ms: int, size: int = 10_000) -> int:
        settings = SimpleNamespace(poll_timeout_ms=200, batch_wait_ms=wait_ms, batch_size=size)
        consumer = EventConsumer(settings, SimpleNamespace(plans=PLAN.index), None, metrics)
        _, records, items = await consumer._fetch(Trickle(every=0.005), asyncio.Event())
        assert len(items) == len(records)
        return len(records)

    assert await batch(0) == 1  # no wait: what was there
    assert 4 <= await batch(50) <= 11  # a record every 5 ms for 50 ms
    assert await batch(10_000, size=3) == 3  # full: no waiting out the window
