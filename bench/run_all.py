"""`make bench`: every benchmark in one run, then `docs/benchmarks.md`.

    .venv/bin/python -m bench.run_all            # the full sizes (1 M events for the aggregator)
    .venv/bin/python -m bench.run_all --quick    # small sizes: proves the harness, not the figures

Runs `bench/bench_intake.py`, `bench/bench_aggregator.py` and `bench/bench_history.py` (when present) with their own CLIs
as subprocesses, then the end-to-end benchmark (`bench.bench_end_to_end`) and the notifier's
burst (`bench.bench_notifier`), one after the other
so they do not compete for the cores. The report merges the intake and aggregator sections
their authors keep in `docs/benchmarks-intake.md` / `docs/benchmarks-aggregator.md` (when
present) with this run's console output of each, the end-to-end figures, the goals beside
them, and the machine it ran on.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import machine

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

GOALS = """## Goals

| what | goal | where measured |
| --- | --- | --- |
| intake batches | ≥ 0.5× a raw aiokafka idempotent `acks=all` `send()` producer, every round, same broker, same run | intake section |
| intake single events | `POST /v1/events` at 32 clients ≥ 0.5× a minimal FastAPI + aiokafka endpoint (`bench/peer_endpoint.py`), same broker, same run | intake section |
| aggregator throughput | ≥ 0.8× a raw aiokafka consumer (`getmany` + `json.loads`), ≥ 0.7× Kafka Streams `exactly_once_v2` and ≥ 1.5× Quix Streams exactly-once doing latest-wins per key (`bench/peers`, final state checked), same topic, same run | aggregator section |
| rebuild of 1 M events | ≤ 60 s | aggregator section |
| end-to-end p99, accepted → projection committed | ≤ 1 s at half the sustainable rate (open loop, corrected for coordinated omission) | end-to-end section |
| end-to-end sustainable rate | ≥ 1,000 events/s, agencies posting single events (32 closed-loop clients) | end-to-end section |
| peak RSS | each service ≤ 200 MB in the 1 M run (issue 21) | aggregator and end-to-end sections |
| notifier burst | 10,000 status changes → one digest per leader, the last queued ≤ 30 s after the first write; notifier RSS ≤ 200 MB | notifier section |
| aggregator start-up with history | at 10 M recorded events, one new event of every agency projected ≤ 10 s after the start, ≤ 300 MB RSS (beside an empty inbox, same run) | history section |
"""

SIZES = {
    # name: (argv for the full run, argv for --quick)
    "intake": (
        ["bench/bench_intake.py"],
        ["bench/bench_intake.py", "--events", "5000", "--rounds", "1", "--seconds", "3"],
    ),
    "aggregator": (["bench/bench_aggregator.py"], ["bench/bench_aggregator.py", "--events", "50000"]),
    "history": (["bench/bench_history.py"], ["bench/bench_history.py", "--events", "20000"]),
}


def run_component(name: str, quick: bool, timeout: float) -> tuple[str, float, int | None]:
    """(output, seconds, exit code or None on timeout) of one component benchmark."""
    argv = SIZES[name][1 if quick else 0]
    if not (ROOT / argv[0]).exists():
        return f"(bench/{Path(argv[0]).name} is not present)", 0.0, 0
    print(f"==> {' '.join(argv)}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return out + f"\n(timed out after {timeout:.0f} s)", time.monotonic() - started, None
    out = proc.stdout + (
        f"\n--- stderr (exit {proc.returncode}) ---\n{proc.stderr[-3000:]}" if proc.returncode else ""
    )
    print(proc.stdout, flush=True)
    return out, time.monotonic() - started, proc.returncode


def component_section(name: str, output: str, seconds: float, code: int | None) -> str:
    """The component's own section (`docs/benchmarks-<name>.md`, written by its author with the
    analysis) when present, followed by this run's console output of its benchmark."""
    status = "ok" if code == 0 else ("timed out" if code is None else f"exit code {code}")
    this_run = (
        f"`{' '.join(SIZES[name][0])}` in this run ({status}, {seconds:.0f} s):\n\n"
        f"```text\n{output.strip()}\n```"
    )
    written = DOCS / f"benchmarks-{name}.md"
    if not written.exists():
        return f"## {name.capitalize()}\n\n{this_run}"
    body = written.read_text().strip()
    if body.startswith("# "):  # a document of its own: every heading one level down
        body = re.sub(r"(?m)^(#+) ", r"#\1 ", body)
    elif not body.startswith("## "):
        body = f"## {name.capitalize()}\n\n{body}"
    return f"{body}\n\n### This run\n\n{this_run}"


# The lines of each benchmark's console output that state a figure against a goal.
VERDICT_LINES = (
    "  ratio intake / raw send()",
    "  ratio single intake / peer at 32",
    "aggregator (own process)",
    "aggregator / ",
    "rebuild of",
    "end-to-end at",
    "restart with history",
)


def verdicts(outputs: list[str]) -> str:
    """This run's figures against the goals, quoted from the benchmarks' own output."""
    lines = [line.rstrip() for out in outputs for line in out.splitlines() if line.startswith(VERDICT_LINES)]
    if not lines:
        return ""
    return (
        "## This run against the goals\n\n```text\n" + "\n".join(line.strip() for line in lines) + "\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (minutes, not the report's figures)"
    )
    parser.add_argument(
        "--only", choices=["intake", "aggregator", "history", "end-to-end", "notifier"], action="append"
    )
    parser.add_argument("--out", type=Path, default=DOCS / "benchmarks.md")
    args = parser.parse_args()
    wanted = args.only or ["intake", "aggregator", "history", "end-to-end", "notifier"]
    started_at = time.time()
    host = machine()
    sections, outputs = [], []
    for name in ("intake", "aggregator", "history"):
        if name in wanted:
            output, seconds, code = run_component(name, args.quick, 900 if args.quick else 3600)
            outputs.append(output)
            sections.append(component_section(name, output, seconds, code))
    if "end-to-end" in wanted:
        from bench import bench_end_to_end

        print("==> bench.bench_end_to_end", flush=True)
        seconds, saturate = (15, 8) if args.quick else (60, 30)
        try:
            sections.append(bench_end_to_end.markdown(bench_end_to_end.run(seconds, saturate)))
        except Exception as exc:
            sections.append(f"## End to end\n\nFailed: `{type(exc).__name__}: {exc}`")
    if "notifier" in wanted:
        from bench import bench_notifier

        print("==> bench.bench_notifier", flush=True)
        try:
            sections.append(bench_notifier.markdown(bench_notifier.run(1_000 if args.quick else 10_000)))
        except Exception as exc:
            sections.append(f"## Notifier\n\nFailed: `{type(exc).__name__}: {exc}`")
    header = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`python -m bench.run_all{' --quick' if args.quick else ''}`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {(time.time() - started_at) / 60:.0f} min.",
        "",
        f"**Machine:** {host}. Kafka, PostgreSQL, the services and the load generators all share it, so "
        "throughput figures are ratios measured side by side in the same run, never absolute promises.",
        "",
    ]
    if args.quick:
        header += [
            "> **Quick run** (small sizes): it proves the harness works; the figures are not the report's.",
            "",
        ]
    text = (
        "\n".join(header)
        + "\n"
        + GOALS
        + "\n"
        + verdicts(outputs)
        + "\n"
        + "\n\n".join(s.strip() for s in sections)
        + "\n"
    )
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
