"""Start-up with history (issue 20): how long a fresh aggregator takes, and how much memory, to
project one new event of every agency when the inbox already holds N recorded events, beside
the same with an empty inbox, in one run.

    .venv/bin/python -m bench.bench_history                 # 10,000,000 recorded events (the issue's)
    .venv/bin/python -m bench.bench_history -n 1000000      # quicker

The history is written straight into `aggregator.recorded_events` (monthly reports of 2024 by
every agency of the plan, spread evenly), then the aggregator runs as its own process, as
deployed, and the clock stands on 20 December 2024. "Ready" is the moment its consumer group
has committed one new event per agency: every agency's ledger loaded and evaluated. Each inbox
is started three times: the first start folds every agency's facts (none has a snapshot yet) and
takes snapshots, the restart reads the snapshots and the facts after them, and a restart under
the plan amended (a target rule raised, an agency renamed: what the fold does not read) reads them
too. Goal: <= 10 s and <= 300 MB RSS at 10 M events. Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL
if set.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script too (`make bench`)

from bench.bench_aggregator import (  # noqa: E402
    NOW,
    PLAN,
    PLANS,
    _record,
    aggregator_env,
    committed,
    load,
    start_aggregator,
)
from bench.common import kafka_and_postgres, pg_dsn  # noqa: E402
from services.aggregator.entrypoints.consumer import partition_of  # noqa: E402
from shared.db import upgrade_async  # noqa: E402
from shared.infra import (  # noqa: E402
    create_database,
    drop_database,
)
from shared.kafka import TopicSpec, ensure_topics, make_producer  # noqa: E402

PARTITIONS = 6
CHUNK = 1_000_000
#: what a secretariat does in a year: a target rule raised, an agency renamed (the 2024 plan's)
AMENDMENT = """
amendments:
  - id: BENCH-1
    effective: 2024-08-01
    reason: a target raised and an agency renamed
    changes:
      - {rule: police-cases-105, factor: 1.1}
    renames:
      - {agency: STTTT, name_vi: "Sở Khoa học, Công nghệ và Truyền thông"}
"""


def amended_plans(folder: Path) -> Path:
    """The plans the aggregator loads, in `folder`, with AMENDMENT added to the 2024 plan."""
    for f in PLANS.files:
        text = Path(f.path).read_text(encoding="utf-8")
        (folder / Path(f.path).name).write_text(
            text + (AMENDMENT if f.plan.year == 2024 else ""), encoding="utf-8"
        )
    return folder


def reporters() -> list[tuple[str, str]]:
    """(agency, an indicator it reports) for every agency with a reporting rule of reported figures."""
    out = []
    for a in PLAN.agencies:
        rule = PLAN.reporting_rule(a.code)
        if rule is None:
            continue
        reported = [i for i in rule.indicators if i not in rule.from_activities]
        if reported:
            out.append((a.code, reported[0]))
    return out


async def fill_history(dsn: str, n: int, agencies: list[tuple[str, str]]) -> float:
    """`n` recorded monthly reports of 2024, round-robin over the agencies; seconds taken."""
    codes = [a for a, _ in agencies]
    indicators = [i for _, i in agencies]
    parts = [partition_of(a, PARTITIONS) for a in codes]
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        for first in range(0, n, CHUNK):
            last = min(first + CHUNK, n)
            await conn.execute(
                """
                INSERT INTO aggregator.recorded_events
                    (source, id, agency, kind, time, arrival, partition, "offset", data, recorded_at)
                SELECT '/agencies/' || a.code, 'history-' || g, a.code, 'reported',
                       timestamptz '2024-01-20 08:00+07' + (g % 300) * interval '1 day', g, a.part, g,
                       convert_to(json_build_object(
                           'indicator', a.indicator,
                           'period', '2024-' || lpad(((g % 12) + 1)::text, 2, '0'),
                           'value', g % 40)::text, 'UTF8'),
                       timestamptz '2024-12-01 00:00+07'
                FROM generate_series($1::bigint, $2::bigint) AS g
                JOIN unnest($3::text[], $4::text[], $5::int[]) WITH ORDINALITY AS a(code, indicator, part, k)
                  ON a.k = (g % $6) + 1
                """,
                first + 1,
                last,
                codes,
                indicators,
                parts,
                len(codes),
            )
            print(f"  history: {last:,} of {n:,} recorded events written   [{load()}]", flush=True)
        await conn.execute("ANALYZE aggregator.recorded_events")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def one_event_each(bootstrap: str, topic: str, agencies: list[tuple[str, str]]) -> int:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for agency, indicator in agencies:
            doc = {
                "specversion": "1.0",
                "id": f"new-{uuid.uuid4().hex[:10]}",
                "source": f"/agencies/{agency}",
                "type": "vn.gov.pcmt.indicator.reported.v1",
                "time": NOW,
                "data": {"indicator": indicator, "period": "2024-12", "value": 7},
            }
            record = _record(doc)
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    return len(agencies)


async def ready(bootstrap: str, env: dict, topic: str, n: int) -> tuple[float, float]:
    """(seconds from a fresh aggregator process's start to `n` more events committed, peak RSS MB)."""
    group = env["AGGREGATOR_GROUP_ID"]
    before = await committed(bootstrap, topic, group)
    started = time.perf_counter()
    proc = start_aggregator(env)
    ps = psutil.Process(proc.pid)
    peak, done = 0.0, before
    try:
        while done < before + n:
            await asyncio.sleep(0.1)
            peak = max(peak, ps.memory_info().rss / 2**20)
            done = await committed(bootstrap, topic, group)
            if proc.poll() is not None:
                raise RuntimeError(f"aggregator exited with {proc.returncode}")
        return time.perf_counter() - started, peak
    finally:
        proc.terminate()
        proc.wait(30)


async def start_up(
    bootstrap: str, server_url: str, history: int, agencies: list[tuple[str, str]]
) -> list[tuple[float, float]]:
    """Three starts over one inbox: the first (no snapshot yet: every agency's facts folded, and
    snapshots taken), a restart (from the snapshots), and a restart under the plans amended; each
    (seconds to ready, peak RSS MB)."""
    db = await create_database(server_url, "history")
    try:
        await upgrade_async("aggregator", db)
        if history:
            took = await fill_history(pg_dsn(db), history, agencies)
            print(f"  {history:,} recorded events written in {took:.0f} s", flush=True)
        topic = f"history-{uuid.uuid4().hex[:6]}"
        env = {
            **aggregator_env(db, bootstrap, topic),
            "AGGREGATOR_GROUP_ID": f"history-{uuid.uuid4().hex[:6]}",
        }
        await ensure_topics(
            bootstrap,
            [
                TopicSpec(topic, PARTITIONS, 86_400_000),
                TopicSpec(env["TIENDO_STATUS_TOPIC"], PARTITIONS, 86_400_000),
                TopicSpec(env["TIENDO_DLQ_TOPIC"], 3, 86_400_000),
            ],
        )
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            amended = {**env, "TIENDO_PLAN_FILE": str(amended_plans(Path(folder)))}
            for run_env in (env, env, amended):
                n = await one_event_each(bootstrap, topic, agencies)  # waiting before the start
                runs.append(await ready(bootstrap, run_env, topic, n))
        return runs
    finally:
        await drop_database(server_url, db)


async def main(n: int) -> None:
    agencies = reporters()
    with kafka_and_postgres("bench-history-") as (bootstrap, server_url):
        print(f"{len(agencies)} agencies, one new event each; history {n:,} recorded events   [{load()}]")
        (empty_s, empty_mb), _, _ = await start_up(bootstrap, server_url, 0, agencies)
        print(
            f"empty inbox      : ready in {empty_s:6.1f} s, peak RSS {empty_mb:5.0f} MB   [{load()}]",
            flush=True,
        )
        (first_s, first_mb), (again_s, again_mb), (amended_s, amended_mb) = await start_up(
            bootstrap, server_url, n, agencies
        )
        print(
            f"{n:>10,} events, first start (folds them all, takes snapshots): ready in {first_s:6.1f} s, "
            f"peak RSS {first_mb:5.0f} MB   [{load()}]\n"
            f"{n:>10,} events, restart from the snapshots                 : ready in {again_s:6.1f} s, "
            f"peak RSS {again_mb:5.0f} MB   [{load()}]\n"
            f"{n:>10,} events, restart under the plan amended             : ready in {amended_s:6.1f} s, "
            f"peak RSS {amended_mb:5.0f} MB   [{load()}]\n"
            f"restart amended / restart unchanged: {amended_s / again_s:.2f}x the time\n"
            f"restart with history / with an empty inbox: {again_s / empty_s:.2f}x the time, "
            f"{again_mb / empty_mb:.2f}x the memory (goal at 10 M: <= 10 s, <= 300 MB)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--events", type=int, default=10_000_000)
    asyncio.run(main(parser.parse_args().events))
