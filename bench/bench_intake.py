"""Intake throughput and latency beside a raw aiokafka idempotent producer, in one run.

    .venv/bin/python bench/bench_intake.py [--events 50000] [--rounds 3] [--rate 20] [--quick]

Starts its own Kafka and PostgreSQL (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), runs
intake as a separate process (`python -m services.intake`, as the stack does) and:

1. throughput, per round: the same N events (a) through `POST /v1/events/batch` (500 per
   request, a few concurrent clients; validation + auth + durable Kafka write + registry) and
   (b) straight into Kafka with an idempotent `acks=all` aiokafka producer. Both write to the
   same broker; the ratio is computed inside each round so machine drift hits both sides.
2. single events, per round and for 1, 8 and 32 concurrent clients (closed loop, keep-alive
   connections): `POST /v1/events` of intake beside `bench/peer_endpoint.py`, a minimal FastAPI
   + aiokafka endpoint (parse, idempotent `acks=all` send, 202) run as its own uvicorn process on
   the same broker. The two sides alternate (which goes first swaps every round).
3. latency: batches offered open-loop at a fixed rate; p50/p99 of request latency.

`--quick` (about a minute with the broker's start): small sizes, two rounds of each.

Small N: with 3 rounds the spread of the per-round ratios is printed; a claim (e.g. ">= 0.3x")
holds only if the *worst* round meets it, not the mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from aiokafka.partitioner import DefaultPartitioner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import UTC

from bench.common import KeepAliveClient, cpu_seconds
from services.intake.adapters.publisher import PRODUCER_OVERRIDES, write_batches
from services.intake.adapters.tokens import issue_tokens
from services.intake.entrypoints.examples import TIME, examples
from shared.db import upgrade_async
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from shared.infra import (
    create_database,
    free_port,
    kafka_from_env_or_start,
    postgres_from_env_or_start,
    wait_for_port,
)
from shared.kafka import TopicSpec, ensure_topics, make_producer

BATCH = 500
NOW = "2024-06-20T08:00:00+07:00"


def events(n: int, tag: str) -> list[dict]:
    base = examples()["indicator.reported"]
    return [
        {**base, "id": f"{tag}-{i}", "time": TIME, "data": {**base["data"], "value": i % 900}}
        for i in range(n)
    ]


async def raw_producer(
    bootstrap: str, topic: str, docs: list[dict], *, batched: bool = False
) -> tuple[float, float]:
    """A plain idempotent producer: `send()` per event (how clients are usually written), or,
    `batched`, the same producer batch API intake uses (the best a raw client can do). Returns
    events/s and the CPU seconds this process spent while timed (not encoding the records)."""
    records = [to_kafka(agency_event_adapter.validate_python(d)) for d in docs]  # encoded before timing
    producer = make_producer(bootstrap, **PRODUCER_OVERRIDES)  # the same producer settings as intake
    await producer.start()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        if batched:
            partitions = sorted(await producer.partitions_for(topic))
            partition = DefaultPartitioner()(
                records[0].key, partitions, partitions
            )  # one agency, one partition
            for i in range(0, len(records), BATCH):
                await asyncio.gather(*await write_batches(producer, topic, partition, records[i : i + BATCH]))
        else:
            futures = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records]
            await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started), time.process_time() - cpu
    finally:
        await producer.stop()


async def intake_batches(url: str, token: str, docs: list[dict], clients: int) -> float:
    bodies = [json.dumps(docs[i : i + BATCH]).encode() for i in range(0, len(docs), BATCH)]
    headers = {"authorization": f"Bearer {token}", "content-type": "application/cloudevents-batch+json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def client() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                response = await http.post("/v1/events/batch", content=queue.get_nowait(), headers=headers)
                response.raise_for_status()
                accepted += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    assert accepted == len(docs), f"only {accepted} of {len(docs)} accepted"
    return len(docs) / elapsed


SINGLE_GOAL = 0.5  # intake / the peer endpoint at 32 clients (issue 21)
BATCH_GOAL = 0.5  # intake's batches / raw send(), every round (issue 21; 0.3 before)


async def singles(port: int, token: str | None, tag: str, clients: int, seconds: float, pid: int) -> dict:
    """Closed loop: `clients` connections, each posting one event and waiting for its 202 before
    the next, for `seconds`. Requests/s, latency percentiles (ms) and the server's CPU per request
    (µs); every answer must be 202."""
    base = examples()["indicator.reported"]
    headers = {"content-type": "application/cloudevents+json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        http = KeepAliveClient("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                body = json.dumps({**base, "id": f"{tag}-{next(counter)}", "time": TIME}).encode()
                sent = time.perf_counter()
                status, payload = await http.post("/v1/events", body, headers)
                if status != 202:
                    raise AssertionError(f"answered {status}: {payload[:300]!r}")
                latencies.append(time.perf_counter() - sent)
        finally:
            await http.close()

    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds(pid) - cpu, "latencies": latencies}


def merged(slices: list[dict]) -> dict:
    """One side's slices of a round as one measurement."""
    latencies = [x for s in slices for x in s["latencies"]]
    n, seconds = len(latencies), sum(s["seconds"] for s in slices)
    return {
        "rps": n / seconds,
        "p50": pct(latencies, 0.5) * 1000,
        "p99": pct(latencies, 0.99) * 1000,
        "cpu_us": sum(s["cpu"] for s in slices) / max(1, n) * 1e6,
    }


async def latency_at(url: str, token: str, rate: float, seconds: float, tag: str) -> list[float]:
    """Open loop: one batch every 1/rate s regardless of answers (no coordinated omission)."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/cloudevents-batch+json"}
    total = int(rate * seconds)
    bodies = [json.dumps(events(BATCH, f"{tag}-{k}")).encode() for k in range(total)]
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=200)) as http:

        async def one(body: bytes, due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            response = await http.post("/v1/events/batch", content=body, headers=headers)
            response.raise_for_status()
            latencies.append(time.perf_counter() - max(sent, due))

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(b, start + k / rate) for k, b in enumerate(bodies)))
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def prepare(workdir: Path) -> tuple[str, str, list]:
    bootstrap, kafka = kafka_from_env_or_start(workdir / "kafka")
    base_url, postgres = postgres_from_env_or_start(workdir / "postgres")
    url = await create_database(base_url, "bench")
    await upgrade_async("intake", url)
    return bootstrap, url, [s for s in (kafka, postgres) if s is not None]


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    bootstrap, db_url, servers = await prepare(workdir)
    tag = uuid.uuid4().hex[:6]
    topics = {k: f"bench-{tag}.{k}" for k in ("raw", "events", "dlq", "baseline", "peer")}
    await ensure_topics(bootstrap, [TopicSpec(t, 6, 3600_000) for t in topics.values()])
    token = (await issue_tokens(db_url, ["CA-TINH"], time_now()))["CA-TINH"]
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TIENDO_NOW": NOW,
        "TIENDO_CLOCK_SPEED": "0",
        "INTAKE_HTTP_PORT": str(port),
        "INTAKE_HTTP_HOST": "127.0.0.1",
        "INTAKE_RATE_PER_S": "1000000",
        "INTAKE_RATE_BURST": "1000000",
        "INTAKE_RAW_CONSUMER": "false",
        "TIENDO_LOG_LEVEL": "WARNING",
        "TIENDO_RAW_TOPIC": topics["raw"],
        "TIENDO_EVENTS_TOPIC": topics["events"],
        "TIENDO_DLQ_TOPIC": topics["dlq"],
        "INTAKE_WORKERS": str(args.workers),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.intake"], env=env, cwd=Path(__file__).resolve().parents[1]
    )
    peer_port = free_port()
    peer = subprocess.Popen(
        [sys.executable, "-m", "bench.peer_endpoint"],
        cwd=Path(__file__).resolve().parents[1],
        env={**env, "PEER_TOPIC": topics["peer"], "PEER_PORT": str(peer_port)},
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        wait_for_port("127.0.0.1", peer_port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        # Warm-up, one slice per side: the token cache, connection pools and the broker's JIT. With
        # less, the first round's raw baseline ran at half speed and flattered intake's ratio.
        warm = events(args.events // args.slices, f"warm-{tag}")
        await intake_batches(url, token, warm, args.clients)
        await raw_producer(bootstrap, topics["baseline"], warm)
        await raw_producer(bootstrap, topics["baseline"], warm, batched=True)
        rounds = []
        for r in range(args.rounds):
            # Interleaved slices (raw, raw batched, intake, ...): load from anything else on the
            # machine hits all sides alike instead of whichever happened to run at that moment.
            spent = {"raw": 0.0, "raw_batched": 0.0, "intake": 0.0}
            cpu = {"raw": 0.0, "intake": 0.0}  # CPU seconds of the producing process (not Kafka's)
            for k in range(args.slices):
                docs = events(args.events // args.slices, f"r{r}s{k}-{tag}")
                events_per_s, cpu_s = await raw_producer(bootstrap, topics["baseline"], docs)
                spent["raw"] += len(docs) / events_per_s
                cpu["raw"] += cpu_s
                events_per_s, _ = await raw_producer(bootstrap, topics["baseline"], docs, batched=True)
                spent["raw_batched"] += len(docs) / events_per_s
                c0 = cpu_seconds(service.pid)
                spent["intake"] += len(docs) / await intake_batches(url, token, docs, args.clients)
                cpu["intake"] += cpu_seconds(service.pid) - c0
            n = args.events // args.slices * args.slices
            rate = {side: n / seconds for side, seconds in spent.items()}
            rate.update({f"{side}_cpu_us": seconds / n * 1e6 for side, seconds in cpu.items()})
            rounds.append(rate)
            print(
                f"round {r + 1}: raw send() {rate['raw']:,.0f} ev/s | raw batched {rate['raw_batched']:,.0f} ev/s"
                f" | intake {rate['intake']:,.0f} ev/s | ratio {rate['intake'] / rate['raw']:.2f}x "
                f"(vs batched {rate['intake'] / rate['raw_batched']:.2f}x)",
                flush=True,
            )
        sides = {"intake": (port, token, service.pid), "peer": (peer_port, None, peer.pid)}
        for side, (side_port, side_token, pid) in sides.items():  # warm: connections, the producer
            await singles(side_port, side_token, f"warm-{side}-{tag}", 8, 1.0, pid)
        single_rounds = []
        for r in range(args.rounds):
            measured: dict[tuple[str, int], dict] = {}
            for clients in args.single_clients:
                # Short alternating slices (which side first swaps every round): a burst of load
                # from elsewhere on the machine hits both sides, not whichever ran at that moment.
                order = list(sides) if r % 2 == 0 else list(sides)[::-1]
                taken: dict[str, list[dict]] = {side: [] for side in sides}
                for k in range(args.slices):
                    for side in order:
                        side_port, side_token, pid = sides[side]
                        taken[side].append(
                            await singles(
                                side_port,
                                side_token,
                                f"s{r}c{clients}k{k}{side}-{tag}",
                                clients,
                                args.single_seconds / args.slices,
                                pid,
                            )
                        )
                for side in sides:
                    measured[side, clients] = merged(taken[side])
            single_rounds.append(measured)
            print(
                f"round {r + 1} single events: "
                + " | ".join(
                    f"{c} clients intake {measured['intake', c]['rps']:,.0f}/s peer {measured['peer', c]['rps']:,.0f}/s "
                    f"= {measured['intake', c]['rps'] / measured['peer', c]['rps']:.2f}x"
                    for c in args.single_clients
                ),
                flush=True,
            )
        if args.rate is None:  # half of the measured capacity: latency of a healthy service, not a queue
            args.rate = max(0.5, round(statistics.median(r["intake"] for r in rounds) / BATCH / 2, 1))
        latencies = await latency_at(url, token, args.rate, args.seconds, f"lat-{tag}")
        report(args, rounds, latencies)
        report_singles(args, single_rounds)
    finally:
        for process in (service, peer):
            process.terminate()
        for process in (service, peer):
            process.wait(30)
        for server in servers:
            server.stop()


def time_now():
    from datetime import datetime

    return datetime.now(UTC)


def report(args: argparse.Namespace, rounds: list[dict], latencies: list[float]) -> None:
    def median(side: str) -> float:
        return statistics.median(r[side] for r in rounds)

    ratios = [r["intake"] / r["raw"] for r in rounds]
    batched = [r["intake"] / r["raw_batched"] for r in rounds]
    print(
        f"\nthroughput over {len(rounds)} rounds of {args.events:,} events "
        f"(batches of {BATCH}, {args.clients} concurrent clients, {args.workers} intake worker(s), "
        f"{os.cpu_count()} CPUs shared with Kafka, PostgreSQL and the load generator):"
    )
    print(f"  raw aiokafka producer, send() per event: median {median('raw'):,.0f} ev/s")
    print(f"  raw aiokafka producer, batch API:        median {median('raw_batched'):,.0f} ev/s")
    print(f"  intake POST /v1/events/batch:            median {median('intake'):,.0f} ev/s")
    print(
        f"  ratio intake / raw send(): median {statistics.median(ratios):.2f}x, worst {min(ratios):.2f}x, "
        f"best {max(ratios):.2f}x  (goal >= {BATCH_GOAL:.2f}x every round: "
        f"{'met' if min(ratios) >= BATCH_GOAL else 'NOT met'}; rounds {', '.join(f'{x:.2f}x' for x in ratios)})"
    )
    print(
        f"  ratio intake / raw batch API: median {statistics.median(batched):.2f}x, worst {min(batched):.2f}x"
    )
    raw_cpu, intake_cpu = median("raw_cpu_us"), median("intake_cpu_us")
    print(
        f"  CPU per event of the producing process (robust to a busy machine): raw send() {raw_cpu:.0f} us, "
        f"intake {intake_cpu:.0f} us (HTTP + validation + registry + producer) -> "
        f"{raw_cpu / intake_cpu:.2f}x on equal CPU"
    )
    print(
        f"latency at a fixed offered load of {args.rate:g} batches/s = {args.rate * BATCH:,.0f} events/s "
        f"for {args.seconds:g} s ({len(latencies)} requests, open loop):"
    )
    print(
        f"  p50 {pct(latencies, 0.50) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )


def report_singles(args: argparse.Namespace, single_rounds: list[dict]) -> None:
    print(
        f"\nsingle events, POST /v1/events, {len(single_rounds)} rounds of {args.single_seconds:g} s per side and "
        f"concurrency in {args.slices} alternating slices (closed loop; the peer: bench/peer_endpoint.py, "
        f"FastAPI + aiokafka, parse, idempotent acks=all send, 202):"
    )
    for clients in args.single_clients:
        ratios = [m["intake", clients]["rps"] / m["peer", clients]["rps"] for m in single_rounds]

        def med(side: str, key: str) -> float:
            return statistics.median(m[side, clients][key] for m in single_rounds)  # noqa: B023 (called in this iteration)

        goal = ""
        if clients == 32:
            by_median = "met" if statistics.median(ratios) >= SINGLE_GOAL else "NOT met"
            goal = (
                f"  (goal >= {SINGLE_GOAL:.2f}x: {by_median} by the median, "
                f"{'met' if min(ratios) >= SINGLE_GOAL else 'NOT met'} in every round)"
            )
        print(
            f"  ratio single intake / peer at {clients:>2} clients: median {statistics.median(ratios):.2f}x "
            f"(rounds {', '.join(f'{x:.2f}x' for x in ratios)}); intake {med('intake', 'rps'):,.0f}/s "
            f"p50 {med('intake', 'p50'):.1f} ms p99 {med('intake', 'p99'):.1f} ms {med('intake', 'cpu_us'):.0f} us "
            f"CPU/request, peer {med('peer', 'rps'):,.0f}/s p50 {med('peer', 'p50'):.1f} ms "
            f"p99 {med('peer', 'p99'):.1f} ms {med('peer', 'cpu_us'):.0f} us CPU/request; on equal CPU "
            f"{med('peer', 'cpu_us') / med('intake', 'cpu_us'):.2f}x{goal}"
        )
    print(f"  load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="alternations of the sides per round (batches; single events at each concurrency)",
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered batches per second in the latency phase (default: half the measured capacity)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="intake worker processes (INTAKE_WORKERS)")
    parser.add_argument(
        "--single-seconds",
        type=float,
        default=3.0,
        help="seconds per side and concurrency in the single-event phase",
    )
    parser.add_argument(
        "--single-clients", type=lambda text: [int(x) for x in text.split(",")], default=[1, 8, 32]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a minute: 10,000 events, 2 rounds, 1.5 s single-event slices, 3 s of latency",
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events, arguments.rounds, arguments.slices = 10_000, 2, 2
        arguments.single_seconds, arguments.seconds = 1.5, 3.0
    print(
        f"started {time_now():%Y-%m-%d %H:%M} UTC, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        flush=True,
    )
    asyncio.run(main(arguments))
