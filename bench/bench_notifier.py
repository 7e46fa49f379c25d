"""Notifier burst benchmark (issue 21): 10,000 status changes at once — what a deadline passing
for every agency, or a rebuild of the projections, puts on `kpi.status.v1` — must become one
digest per leader, queued within 30 s, with the notifier's RSS ≤ 200 MB.

    .venv/bin/python -m bench.bench_notifier [--events 10000] [--group-wait 10]

The notifier runs as its own process (beside the other two, `bench.bench_end_to_end.stack`) on
real Kafka and PostgreSQL. The burst cycles over every target of the sample plan (agency,
indicator, period), each key flipping between `at_risk` and `lagging` and ending `lagging`, in
time order, written to the status topic as fast as an idempotent `acks=all` producer goes.
Grouping is Alertmanager's: a leader's first alert opens a group that waits `--group-wait`
seconds for more before its digest is queued, so the time to the last digest includes that
wait (stated beside the figure). Measured: the time until the notifier committed the whole
burst, until the last digest was queued, the emails per leader (goal: exactly one), and the
notifier's peak RSS (children included, sampled every 0.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.bench_end_to_end import NOW, PLAN, stack
from bench.common import RSS_GOAL_MB, RssSampler, group_lag, pg_dsn
from services.aggregator.service_layer.projector import status_record
from shared.events import KpiStatus
from shared.kafka import make_producer
from tests.notifier.helpers import kpi_event

GOAL_SECONDS = 30.0


@dataclass
class Result:
    events: int = 0
    keys: int = 0
    group_wait: float = 0.0
    published_s: float = 0.0
    consumed_s: float = float("nan")
    last_digest_s: float = float("nan")
    emails: Counter = field(default_factory=Counter)  # recipient → emails queued
    leaders: set[str] = field(default_factory=set)  # the leaders of the agencies in the burst
    rss_mb: float = 0.0


def burst(n: int, start: datetime) -> tuple[list, int]:
    """`n` status changes over every target of the plan from `start`, a millisecond apart, each key
    ending `lagging`."""
    keys = sorted({(t.agency, t.indicator, t.period) for t in PLAN.targets})
    flips = -(-n // len(keys))
    records = []
    for i, ((agency, indicator, period), flip) in enumerate(zip(itertools.cycle(keys), range(n))):
        round_ = i // len(keys)
        lagging = (flips - 1 - round_) % 2 == 0  # the last round of every key says lagging
        as_of = start + timedelta(milliseconds=i)
        event = kpi_event(
            agency,
            indicator,
            period,
            status=KpiStatus.LAGGING if lagging else KpiStatus.AT_RISK,
            previous=KpiStatus.AT_RISK if lagging else KpiStatus.LAGGING,
            actual=float(flip % 7),
            target=100.0,
            expected=50.0,
            forecast=40.0,
            as_of=as_of,
            event_id=f"burst-{i}",
            deadline=None,
        )
        records.append(status_record(event))
    return records, len(keys)


async def _publish(bootstrap: str, topic: str, records: list) -> None:
    producer = make_producer(bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _measure(s, since_start: float, result: Result, progress) -> None:
    import asyncpg

    # Dated after anything the services said before it (each service's clock stood at NOW when it
    # started, after `since_start`): the aggregator's own first statuses of these KPIs, published at
    # its start, would otherwise be newer than the burst's and undo some of its alerts.
    records, result.keys = burst(
        result.events, datetime.fromisoformat(NOW) + timedelta(seconds=since_start + 1)
    )
    progress(f"notifier: a burst of {result.events:,} status changes over {result.keys} KPIs ...")
    bootstrap, topic = s.state["kafka_bootstrap"], s.topics["TIENDO_STATUS_TOPIC"]
    conn = await asyncpg.connect(pg_dsn(s.database_url))
    try:
        t0, wall0 = time.monotonic(), time.time()
        await _publish(bootstrap, topic, records)
        result.published_s = time.monotonic() - t0
        deadline = t0 + 900
        quiet_since, seen = time.monotonic(), -1
        shown = 0.0
        while time.monotonic() < deadline:
            if result.consumed_s != result.consumed_s:
                lag = await group_lag(bootstrap, s.groups["NOTIFIER_CONSUMER_GROUP"], topic)
                if not lag:
                    result.consumed_s = time.monotonic() - t0
                elif time.monotonic() - shown >= 10:
                    shown = time.monotonic()
                    progress(f"notifier: {shown - t0:.0f} s: {lag:,} status events still to consume")
            rows = await conn.fetch("SELECT recipient, enqueued_wall FROM notifier.outbox")
            if len(rows) != seen:
                seen, quiet_since = len(rows), time.monotonic()
            # done: everything consumed, and no new email for a group wait and 5 s more
            done = result.consumed_s == result.consumed_s and rows
            if done and time.monotonic() - quiet_since > result.group_wait + 5:
                break
            await asyncio.sleep(0.2)
        result.emails = Counter(r["recipient"] for r in rows)
        if rows:
            result.last_digest_s = max(r["enqueued_wall"].timestamp() for r in rows) - wall0
    finally:
        await conn.close()


def run(events: int = 10_000, group_wait: float = 10.0, progress=print) -> Result:
    result = Result(events=events, group_wait=group_wait)
    result.leaders = {
        leader.email for a in {t.agency for t in PLAN.targets} for leader in PLAN.agency(a).leaders
    }
    env = {
        "NOTIFIER_GROUP_WAIT": f"PT{group_wait:g}S",
        "NOTIFIER_GROUP_INTERVAL": "PT1H",  # one digest per leader: nothing more within the hour
        "NOTIFIER_CRITICAL_INTERVAL": "PT1H",
        "NOTIFIER_TICK_SECONDS": "0.2",
    }
    started = time.monotonic()
    with stack("bench-notifier-", lambda line: progress(f"notifier: {line}"), extra_env=env) as s:
        with RssSampler({"notifier": s.pids["notifier"]}) as rss:
            asyncio.run(_measure(s, time.monotonic() - started, result, progress))
        result.rss_mb = rss.peak["notifier"]
    return result


def markdown(r: Result) -> str:
    per_leader = Counter(r.emails.values())
    one_each = set(r.emails) == r.leaders and set(per_leader) == {1}
    queued_met = r.last_digest_s <= GOAL_SECONDS
    lines = [
        "## Notifier: a burst of status changes",
        "",
        f"{r.events:,} KPI status changes over the sample plan's {r.keys} targets (each flipping "
        "`at_risk` ↔ `lagging`, ending `lagging`) written at once to the status topic; the notifier "
        f"as its own process, group wait {r.group_wait:g} s, group interval 1 h.",
        "",
        "| what | measured | goal |",
        "| --- | ---: | --- |",
        f"| burst written to Kafka | {r.published_s:.1f} s | |",
        f"| burst consumed and committed by the notifier ({r.consumed_s and r.events / r.consumed_s:,.0f} "
        f"events/s) | {r.consumed_s:.1f} s | |",
        f"| last digest queued, from the first write (includes the {r.group_wait:g} s group wait) | "
        f"{r.last_digest_s:.1f} s | ≤ {GOAL_SECONDS:g} s: **{'met' if queued_met else 'NOT met'}** |",
        f"| emails queued | {sum(r.emails.values())} to {len(r.emails)} recipients "
        f"({', '.join(f'{n} recipient(s) × {k}' for k, n in sorted(per_leader.items()))}); "
        f"{len(r.leaders)} leaders in the burst | one digest per leader: "
        f"**{'met' if one_each else 'NOT met'}** |",
        f"| notifier peak RSS | {r.rss_mb:,.0f} MB | ≤ {RSS_GOAL_MB:g} MB: "
        f"**{'met' if r.rss_mb <= RSS_GOAL_MB else 'NOT met'}** |",
    ]
    missing, extra = r.leaders - set(r.emails), set(r.emails) - r.leaders
    if missing or extra:
        lines += [
            "",
            f"Leaders without an email: {sorted(missing)}; recipients not leaders of the burst: {sorted(extra)}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--group-wait", type=float, default=10.0, help="the notifier's group wait (s)")
    args = parser.parse_args()
    print(markdown(run(args.events, args.group_wait)))


if __name__ == "__main__":
    main()
