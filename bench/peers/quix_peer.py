"""The Quix Streams peer of the aggregator benchmark (`bench/bench_aggregator.py`).

    KAFKA_BOOTSTRAP_SERVERS=host:port PEER_TOPIC=t PEER_OUTPUT=o PEER_GROUP=g PEER_STATE_DIR=d \
        python -m bench.peers.quix_peer

Latest value wins per (agency, indicator, period, unit) of the binary-mode CloudEvents on the
topic, in Quix's RocksDB state (per message key: the agency), exactly-once, each update written
to the output topic. The Kafka Streams peer (`bench/peers/kafka-streams`) does the same; the
benchmark checks both final states against the events. Quix Streams is a bench-only dependency
(`pip install -e ".[bench]"`, which `make bench` does).
"""

from __future__ import annotations

import json
import os

from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig

from bench.peers import REPORTED, librdkafka_connection

_REPORTED = REPORTED.encode()  # as the header holds it


def latest(value: bytes, key: str, timestamp: int, headers, state) -> dict | None:
    if dict(headers or ()).get("ce_type") != _REPORTED:
        return None
    data = json.loads(value)
    name = f"{key}|{data['indicator']}|{data['period']}|{data.get('unit_code') or ''}"
    state.set(name, data["value"])
    return {"key": name, "value": data["value"]}


def main() -> None:
    app = Application(
        broker_address=ConnectionConfig.from_librdkafka_dict(
            librdkafka_connection(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        ),
        consumer_group=os.environ["PEER_GROUP"],
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=os.environ["PEER_STATE_DIR"],
        commit_interval=1.0,  # the benchmark reads progress off the committed offsets (default 5 s)
        loglevel="WARNING",
    )
    events = app.topic(os.environ["PEER_TOPIC"], key_deserializer="str", value_deserializer="bytes")
    output = app.topic(os.environ["PEER_OUTPUT"], key_serializer="str", value_serializer="json")
    frame = app.dataframe(events).apply(latest, stateful=True, metadata=True)
    frame = frame.filter(lambda update: update is not None)
    frame.to_topic(output)
    app.run()


if __name__ == "__main__":
    main()
