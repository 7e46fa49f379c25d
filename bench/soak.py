"""Soak run (`make soak`, issue 22): the whole pipeline for a long while at half its sustainable
rate, sampled every minute, to show that memory and latency do not creep up.

    .venv/bin/python -m bench.soak [--minutes 30] [--rate EVENTS_PER_S] [--out docs/soak.md]

The three services run as separate processes on real Kafka and PostgreSQL
(`bench.bench_end_to_end.stack`); agencies post single events over HTTP, open loop (each
request at its scheduled moment, so a stall is not hidden). Without `--rate` the sustainable
rate is measured first (32 closed-loop clients for 20 s) and half of it is offered.

Every minute: each service's RSS (children included), the p50/p99 of scheduled → projection
committed for the events of that minute, and the consumer lag of the aggregator's and the
notifier's groups (records on their topics not yet committed). The report (`--out`, and a PNG
beside it) gives the least-squares slope of each series after the warm-up minutes and the
verdict: pass when no service's RSS grows by more than `RSS_SLOPE_MB` per 10 minutes, the p99
by no more than `P99_SLOPE_SHARE` of its median per 10 minutes, and the lag ends as small as a
few seconds' events.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_end_to_end import BACKGROUND, Stack, _next, _saturate, stack
from bench.common import CommitWatcher, Sender, group_lag, machine, open_loop, percentile, rss_mb

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_MINUTES = 3
RSS_SLOPE_MB = 2.0  # per 10 minutes, per service
P99_SLOPE_SHARE = 0.10  # of the median per-minute p99, per 10 minutes
LAG_END_SECONDS = 5.0  # the lag at the end: at most this many seconds' worth of events


@dataclass
class Minute:
    minute: int
    offered: int = 0
    accepted: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    rss: dict[str, float] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)


async def _lag(bootstrap: str, groups: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Records not yet committed by each consumer group on its topic: name → (group, topic)."""
    return {name: await group_lag(bootstrap, group, topic) for name, (group, topic) in groups.items()}


async def _minute(s: Stack, sender: Sender, rate: float, number: int) -> Minute:
    """One minute of open-loop load; returns it measured."""
    watcher = CommitWatcher(s.database_url)
    watch = asyncio.create_task(watcher.run())
    minute = Minute(number)
    agencies = itertools.cycle(BACKGROUND)
    scheduled: dict[str, float] = {}
    answered: dict[str, float] = {}
    count = int(rate * 60)

    def schedule():
        for i in range(count):
            agency = next(agencies)
            event = _next(s.work, agency)

            async def go(agency=agency, event=event):
                return event, await sender.one(agency, event)

            yield i / rate, go

    def done(at: float, finished: float, outcome) -> None:
        event, answer = outcome
        minute.offered += 1
        if answer.status == "accepted":
            minute.accepted += 1
            scheduled[event["id"]], answered[event["id"]] = at, finished
            watcher.expect(event["source"], event["id"], finished)

    await open_loop(schedule(), done)
    watcher.stop(drain=30)
    await watch
    latencies = [answered[key[1]] + latency - scheduled[key[1]] for key, latency in watcher.seen.items()]
    minute.p50_ms = percentile(latencies, 50) * 1000
    minute.p99_ms = percentile(latencies, 99) * 1000
    minute.rss = {name: rss_mb(pid) for name, pid in s.pids.items()}
    minute.lag = await _lag(
        s.state["kafka_bootstrap"],
        {
            "aggregator": (s.groups["AGGREGATOR_GROUP_ID"], s.topics["TIENDO_EVENTS_TOPIC"]),
            "notifier": (s.groups["NOTIFIER_CONSUMER_GROUP"], s.topics["TIENDO_STATUS_TOPIC"]),
        },
    )
    return minute


def slope_per_10_min(minutes: list[Minute], value) -> float:
    """Least-squares slope of `value(minute)` over the minutes after the warm-up, per 10 minutes."""
    points = [(m.minute, value(m)) for m in minutes if m.minute > WARM_UP_MINUTES and value(m) == value(m)]
    if len(points) < 3:
        return float("nan")
    return statistics.linear_regression(*zip(*points)).slope * 10


@dataclass
class Verdict:
    slopes: dict[str, float]
    p99_median: float
    lag_end: dict[str, int]
    lag_allowed: float
    passed: bool
    reasons: list[str]


def judge(minutes: list[Minute], rate: float) -> Verdict:
    services = list(minutes[0].rss)
    slopes = {f"rss:{name}": slope_per_10_min(minutes, lambda m, n=name: m.rss[n]) for name in services}
    slopes["p99"] = slope_per_10_min(minutes, lambda m: m.p99_ms)
    p99_median = statistics.median(m.p99_ms for m in minutes if m.minute > WARM_UP_MINUTES) if minutes else 0
    lag_end = minutes[-1].lag
    allowed = rate * LAG_END_SECONDS
    reasons = []
    for name in services:
        if not slopes[f"rss:{name}"] <= RSS_SLOPE_MB:
            reasons.append(
                f"{name}'s RSS grows {slopes[f'rss:{name}']:+.2f} MB per 10 min (> {RSS_SLOPE_MB})"
            )
    if not slopes["p99"] <= P99_SLOPE_SHARE * p99_median:
        reasons.append(
            f"p99 grows {slopes['p99']:+.1f} ms per 10 min (> {P99_SLOPE_SHARE:.0%} of its median {p99_median:.0f} ms)"
        )
    for name, lag in lag_end.items():
        if lag > allowed:
            reasons.append(f"{name}'s lag ends at {lag} records (> {allowed:.0f})")
    return Verdict(slopes, p99_median, lag_end, allowed, not reasons, reasons)


def plot(minutes: list[Minute], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [m.minute for m in minutes]
    fig, (rss, p99, lag) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for name in minutes[0].rss:
        rss.plot(x, [m.rss[name] for m in minutes], marker=".", label=name)
    rss.set_ylabel("RSS (MB)")
    rss.legend(loc="upper left")
    p99.plot(x, [m.p99_ms for m in minutes], marker=".", label="p99")
    p99.plot(x, [m.p50_ms for m in minutes], marker=".", label="p50")
    p99.set_ylabel("scheduled → committed (ms)")
    p99.legend(loc="upper left")
    for name in minutes[0].lag:
        lag.plot(x, [m.lag[name] for m in minutes], marker=".", label=name)
    lag.set_ylabel("consumer lag (records)")
    lag.set_xlabel("minute")
    lag.legend(loc="upper left")
    for axis in (rss, p99, lag):
        axis.axvspan(0.5, WARM_UP_MINUTES + 0.5, color="0.92")  # the warm-up, not judged
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(
    minutes: list[Minute], rate: float, sustainable: float | None, verdict: Verdict, png: str
) -> str:
    services = list(minutes[0].rss)
    measured = f"half the sustainable {sustainable:,.0f} events/s measured first" if sustainable else "given"
    lines = [
        "# Soak run",
        "",
        f"Written by `make soak` (`bench/soak.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}.",
        "",
        f"{len(minutes)} minutes of agencies posting single events over HTTP, open loop at **{rate:,.0f} "
        f"events/s** ({measured}), through the three services as separate processes on real Kafka "
        "and PostgreSQL. Sampled at the end of every minute: each service's RSS, the p50/p99 of "
        "scheduled → projection committed for that minute's events (corrected for coordinated "
        "omission), and, once that minute's events were all in the projections, the records not yet "
        "committed by the aggregator's group (Kafka offsets behind its transactions) and by the "
        "notifier's (status events not yet handled).",
        "",
        f"![RSS, latency and lag by minute]({png})",
        "",
        f"## Verdict: **{'PASS' if verdict.passed else 'FAIL'}**",
        "",
        f"Least-squares slopes over minutes {WARM_UP_MINUTES + 1}–{minutes[-1].minute} (the first "
        f"{WARM_UP_MINUTES} are warm-up: caches, pools and JIT fill), per 10 minutes:",
        "",
        "| series | slope per 10 min | pass when |",
        "| --- | ---: | --- |",
    ]
    for name in services:
        lines.append(f"| {name} RSS | {verdict.slopes[f'rss:{name}']:+.2f} MB | ≤ {RSS_SLOPE_MB:+.1f} MB |")
    lines += [
        f"| p99 scheduled → committed | {verdict.slopes['p99']:+.1f} ms | ≤ {P99_SLOPE_SHARE:.0%} of its median "
        f"({verdict.p99_median:.0f} ms) |",
        "",
        "Lag at the end: "
        + ", ".join(f"{name} {lag}" for name, lag in verdict.lag_end.items())
        + f" records (pass when ≤ {verdict.lag_allowed:.0f}, {LAG_END_SECONDS:g} s of events).",
    ]
    if verdict.reasons:
        lines += ["", "Failed on: " + "; ".join(verdict.reasons) + "."]
    lines += [
        "",
        "## By minute",
        "",
        "| minute | offered | accepted | p50 ms | p99 ms | "
        + " | ".join(f"{n} RSS MB" for n in services)
        + " | "
        + " | ".join(f"{n} lag" for n in minutes[0].lag)
        + " |",
        "| " + " | ".join(["---:"] * (5 + len(services) + len(minutes[0].lag))) + " |",
    ]
    for m in minutes:
        lines.append(
            f"| {m.minute} | {m.offered:,} | {m.accepted:,} | {m.p50_ms:,.0f} | {m.p99_ms:,.0f} | "
            + " | ".join(f"{m.rss[n]:,.1f}" for n in services)
            + " | "
            + " | ".join(str(m.lag[n]) for n in m.lag)
            + " |"
        )
    return "\n".join(lines) + "\n"


def run(minutes: int, rate: float | None, out: Path) -> Verdict:
    print(f"soak: {minutes} min; report to {out}", flush=True)
    with stack("bench-soak-", lambda line: print(f"soak: {line}", flush=True)) as s:
        sustainable = None
        if rate is None:
            print("soak: measuring the sustainable rate (20 s) ...", flush=True)
            sustainable = asyncio.run(_saturate(s.intake, s.tokens, s.work, s.database_url, 20, s.pids))
            rate = max(1.0, sustainable / 2)
        print(f"soak: offering {rate:,.0f} events/s", flush=True)

        async def soak() -> list[Minute]:
            sender = Sender(s.intake, s.tokens, give_up_after=60)
            done: list[Minute] = []
            started = time.monotonic()
            try:
                for number in range(1, minutes + 1):
                    m = await _minute(s, sender, rate, number)
                    done.append(m)
                    print(
                        f"soak: minute {number}/{minutes} ({(time.monotonic() - started) / 60:.1f} min): "
                        f"{m.accepted:,}/{m.offered:,} accepted, p99 {m.p99_ms:,.0f} ms, RSS "
                        + ", ".join(f"{n} {v:,.0f} MB" for n, v in m.rss.items())
                        + ", lag "
                        + ", ".join(f"{n} {v}" for n, v in m.lag.items()),
                        flush=True,
                    )
            finally:
                await sender.close()
            return done

        measured = asyncio.run(soak())
    verdict = judge(measured, rate)
    png = out.with_suffix(".png")
    plot(measured, png, f"Soak: {len(measured)} min at {rate:,.0f} events/s")
    out.write_text(markdown(measured, rate, sustainable, verdict, png.name))
    print(f"soak: {'PASS' if verdict.passed else 'FAIL'}; wrote {out} and {png}", flush=True)
    for reason in verdict.reasons:
        print(f"soak: {reason}", flush=True)
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=30, help="how long to soak (default 30)")
    parser.add_argument(
        "--rate", type=float, default=None, help="events/s (default: half the sustainable rate)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "soak.md")
    args = parser.parse_args()
    if args.minutes < WARM_UP_MINUTES + 3:
        parser.error(f"--minutes must be at least {WARM_UP_MINUTES + 3} (warm-up plus three judged minutes)")
    raise SystemExit(0 if run(args.minutes, args.rate, args.out).passed else 1)


if __name__ == "__main__":
    main()
