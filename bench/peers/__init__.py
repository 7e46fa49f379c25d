"""The aggregator benchmark's peers: Quix Streams and Kafka Streams doing latest-wins per key.

Each runs as its own process on the benchmark's topic (`quix_peer.py`; the Java app in
`kafka-streams/`, built once with Maven), keeps the latest value per (agency, indicator, period,
unit) of the `indicator.reported` events in RocksDB, exactly-once, and writes every update to an
output topic. `expected` is that state computed from the events themselves and `final_state`
what a peer's output topic says in the end: the benchmark compares the two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from shared.infra.kafka import java
from shared.kafka import SCRAM, kafka_credentials, make_consumer

ROOT = Path(__file__).resolve().parents[2]
KAFKA_STREAMS = Path(__file__).resolve().parent / "kafka-streams"
REPORTED = "vn.gov.pcmt.indicator.reported.v1"
PEERS = ("Kafka Streams", "Quix Streams")


def librdkafka_connection(bootstrap: str) -> dict[str, str]:
    """librdkafka's connection settings with this process's Kafka credentials, if any
    (`shared.kafka.kafka_credentials`): for the librdkafka baseline and the Quix Streams peer."""
    config = {"bootstrap.servers": bootstrap}
    credentials = kafka_credentials()
    if credentials:
        config |= {"security.protocol": credentials.protocol.lower(), "sasl.mechanism": SCRAM}
        config |= {"sasl.username": credentials.username, "sasl.password": credentials.password}
    return config


def expected(docs: Iterable[dict]) -> dict[str, float]:
    """Latest value per key of the documents, in the order they were written (one agency, one
    partition: the order each peer reads them in)."""
    state: dict[str, float] = {}
    for doc in docs:
        if doc["type"] == REPORTED:
            data = doc["data"]
            agency = doc["source"].rsplit("/", 1)[-1]
            state[f"{agency}|{data['indicator']}|{data['period']}|{data.get('unit_code') or ''}"] = float(
                data["value"]
            )
    return state


def build_kafka_streams() -> None:
    """`mvn package` once (the jars land in kafka-streams/target/lib, git-ignored)."""
    pom = KAFKA_STREAMS / "pom.xml"
    built = KAFKA_STREAMS / "target" / "classes" / "tiendo" / "bench" / "LatestWins.class"
    source = KAFKA_STREAMS / "src" / "main" / "java" / "tiendo" / "bench" / "LatestWins.java"
    if built.exists() and built.stat().st_mtime >= max(pom.stat().st_mtime, source.stat().st_mtime):
        return
    print("building the Kafka Streams peer with Maven (once) ...", flush=True)
    subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "package"], check=True)


def start(peer: str, env: dict[str, str], state_dir: Path) -> subprocess.Popen:
    """The peer's process on env's PEER_TOPIC / PEER_OUTPUT / PEER_GROUP."""
    env = {**os.environ, **env, "PEER_STATE_DIR": str(state_dir)}
    if peer == "Kafka Streams":
        classpath = f"{KAFKA_STREAMS / 'target' / 'classes'}:{KAFKA_STREAMS / 'target' / 'lib' / '*'}"
        cmd = [java(), "-cp", classpath, "tiendo.bench.LatestWins"]
    else:
        cmd = [sys.executable, "-m", "bench.peers.quix_peer"]
    with open(state_dir / "peer.log", "wb") as log:  # read back if it fails
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def final_state(bootstrap: str, output: str, peer: str) -> dict[str, float]:
    """The last value per key a peer wrote (committed transactions only)."""
    consumer = make_consumer(bootstrap, output, group_id=f"check-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    state: dict[str, float] = {}
    try:
        partitions = consumer.assignment() or set()
        while not partitions:
            await consumer.getmany(timeout_ms=200)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for r in records:
                    if peer == "Kafka Streams":
                        state[r.key.decode()] = float(r.value)
                    else:
                        update = json.loads(r.value)
                        state[update["key"]] = float(update["value"])
    finally:
        await consumer.stop()
    return state
