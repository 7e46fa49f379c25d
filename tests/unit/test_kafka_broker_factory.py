"""shared.kafka's FastStream broker factory: never auto-commit, records reach handlers whatever
their header bytes."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaBatchParser, AioKafkaParser
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry

from shared.kafka import make_broker, raw_records, start_when_ready, subscriber_options, tolerant_parser


def broker(**overrides):
    return make_broker("127.0.0.1:1", registry=CollectorRegistry(), app_name="test", **overrides)


def test_faststreams_auto_commit_default_is_refused():
    with pytest.raises(ValueError, match="never on receipt"):
        broker(ack_policy=AckPolicy.ACK_FIRST)
    with pytest.raises(ValueError, match="never on receipt"):
        subscriber_options(AckPolicy.ACK_FIRST)


@pytest.mark.parametrize("options", [{}, subscriber_options(AckPolicy.NACK_ON_ERROR)])
def test_a_subscriber_commits_only_after_its_handler(options):
    subscriber = broker().subscriber("t", group_id="g", **options)
    assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR
    assert subscriber._connection_args["enable_auto_commit"] is False


def test_subscriber_options_read_like_make_consumer():
    options = subscriber_options(AckPolicy.NACK_ON_ERROR, max_poll_records=7)
    assert options == {
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 7,
    }


def record(offset: int, headers) -> ConsumerRecord:
    return ConsumerRecord("raw", 0, offset, 0, 0, b"k", b"\x00v", None, 1, 2, headers)


async def test_binary_and_null_header_values_still_reach_the_handler_as_they_were():
    odd = record(5, [("ce_id", b"\xff\xfe"), ("none", None)])
    parse = AioKafkaParser(msg_class=KafkaMessage, regex=None).parse_message
    message = await tolerant_parser(odd, parse)
    assert message.raw_message is odd and message.headers["ce_id"] == "\ufffd\ufffd"
    assert await raw_records(message) is odd

    batch = (record(1, [("a", b"ok")]), odd)
    message = await tolerant_parser(
        batch, AioKafkaBatchParser(msg_class=KafkaMessage, regex=None).parse_batch
    )
    assert message.raw_message is batch and len(message.body) == 2


class _Broker:
    """A broker whose Kafka answers on the third try."""

    def __init__(self) -> None:
        self.starts = self.stops = 0

    async def start(self) -> None:
        self.starts += 1
        if self.starts < 3:
            raise ConnectionError("Kafka not there yet")

    async def stop(self) -> None:
        self.stops += 1


async def test_a_broker_is_started_once_kafka_answers():
    fake = _Broker()
    await start_when_ready(fake, retry_s=0.01)
    assert (fake.starts, fake.stops) == (3, 2)  # each failed start cleaned up before the next
