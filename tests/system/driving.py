"""Driving the fault suite: agencies posting in the background (`Load`), and `converge`, which
waits for the whole system to match the oracle and words the scenario's verdict line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

from bench.common import CommitWatcher, Sender
from shared.plan.loader import load_plan
from shared.settings import DEFAULT_PLAN
from tests.system import conftest as verdicts
from tests.system.oracle import EventLog, Sent, compare, expected_actuals, expected_lagging
from tests.system.pipeline import Pipeline, wait_until

PLAN = load_plan(DEFAULT_PLAN)


class Load:
    """Agencies posting in a background thread: each agency sends its events in order at
    `rate` events/s (single events, or batches of `batch` for the agencies in `batched`),
    retrying what intake asks to be retried."""

    def __init__(
        self,
        pipe: Pipeline,
        log: EventLog,
        streams: dict[str, list],
        rate: float,
        *,
        batched: dict[str, int] | None = None,
        rates: dict[str, float] | None = None,
    ) -> None:
        self.pipe, self.log, self.streams, self.rate = pipe, log, streams, rate
        self.batched, self.rates = batched or {}, rates or {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="agency-load")
        self.watcher: CommitWatcher | None = None
        self.watch = lambda sent: True  # which accepted events the watcher follows

    def start(self) -> Load:
        self.thread.start()
        return self

    def join(self, timeout: float = 200) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agencies' load did not finish in time"
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc

    async def _main(self) -> None:
        sender = Sender(self.pipe.url("intake"), self.pipe.tokens)
        try:
            await asyncio.gather(*(self._agency(sender, a, events) for a, events in self.streams.items()))
        finally:
            await sender.close()

    async def _agency(self, sender: Sender, agency: str, events: list) -> None:
        size = self.batched.get(agency, 1)
        rate = self.rates.get(agency, self.rate)
        t0 = time.monotonic()
        for i in range(0, len(events), size):
            chunk = events[i : i + size]
            at = t0 + i / rate
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            sent = [self.log.add(Sent(e, agency, scheduled_at=at)) for e in chunk]
            if size == 1:
                answers = [await sender.one(agency, chunk[0])]
            else:
                answers = await sender.batch(agency, chunk)
            done = time.monotonic()
            for s, a in zip(sent, answers):
                s.status, s.http, s.retried, s.attempts = a.status, a.http, a.retried, len(a.http)
                s.detail = a.detail
                if a.status in ("accepted", "duplicate"):
                    s.accepted_at = done
                    if self.watcher is not None and self.watch(s):
                        self.watcher.expect(s.event["source"], s.event["id"], done)


def converge(
    name: str,
    pipe: Pipeline,
    log: EventLog,
    *,
    extra_accepted: list[dict] = (),
    max_copies: int = 1,
    expect_emails: bool = True,
    timeout: float = 90,
    started: float,
    dlq_expected: int | None = None,
) -> str:
    """Wait for the system to converge to the oracle, assert it, return the verdict line."""
    lost = [s for s in log.sent if s.status == "lost"]
    assert not lost, f"{len(lost)} events never got a final answer from intake, e.g. {lost[0]}"
    accepted = log.accepted() + list(extra_accepted)
    keys = {(e["source"], e["id"]) for e in accepted}
    expected = expected_actuals(PLAN, accepted)

    def projections_match():
        applied = pipe.applied()
        problems = compare(expected, pipe.kpis())
        missing, extra = keys - applied, applied - keys
        if missing:
            problems.append(f"{len(missing)} accepted events not applied, e.g. {sorted(missing)[:3]}")
        if extra:
            problems.append(f"{len(extra)} applied events intake never accepted, e.g. {sorted(extra)[:3]}")
        return problems or True

    phases = {"up": pipe.up_seconds, "load": time.monotonic() - started - pipe.up_seconds}
    mark = time.monotonic()
    wait_until("the projections to converge to the oracle", projections_match, timeout)
    phases["projections"], mark = time.monotonic() - mark, time.monotonic()
    applied = len(pipe.applied())
    kpis = pipe.kpis()
    lagging = expected_lagging(kpis)

    first_gap: list[str] = []

    def alerts_match():
        firing = {
            (a["agency"], a["indicator"], a["period"]) for a in pipe.firing_alerts() if a["kind"] == "lagging"
        }
        if firing == lagging:
            return True
        gap = (
            f"{len(lagging - firing)} missing e.g. {sorted(lagging - firing)[:3]}, "
            f"{len(firing - lagging)} unexpected e.g. {sorted(firing - lagging)[:3]}"
        )
        if not first_gap:
            first_gap.append(gap)
        return gap

    wait_until("a firing lagging alert per lagging KPI", alerts_match, timeout)
    phases["alerts"], mark = time.monotonic() - mark, time.monotonic()
    mails = 0
    if expect_emails:
        assert lagging, "the scenario produced no lagging KPI, so it proves nothing about emails"

        def emails_delivered():
            rows = pipe.outbox()
            pending = [r for r in rows if r["status"] != "sent"]
            if not rows or pending:
                return f"{len(pending)} of {len(rows)} outbox rows not sent"
            copies = Counter(str(m["Message-ID"]) for m in pipe.mailbox())
            missing = [r["message_id"] for r in rows if copies.get(r["message_id"], 0) == 0]
            return f"{len(missing)} sent emails not in the mailbox" if missing else True

        wait_until("every queued email in the mailbox", emails_delivered, timeout)
        time.sleep(1.0)  # a late duplicate would show now
        sent = {r["message_id"] for r in pipe.outbox() if r["status"] == "sent"}
        copies = Counter(str(m["Message-ID"]) for m in pipe.mailbox())
        queued = {r["message_id"] for r in pipe.outbox()}  # new digests may be queued meanwhile
        assert set(copies) <= queued, f"emails in the mailbox that were never queued: {set(copies) - queued}"
        assert sent <= set(copies), f"emails marked sent but not in the mailbox: {sent - set(copies)}"
        worst = max(copies.values())
        assert worst <= max_copies, f"an email arrived {worst} times (at most {max_copies} allowed here)"
        mails = sum(copies.values())
    phases["emails"] = time.monotonic() - mark
    dlq = pipe.dlq_count()
    if dlq_expected is not None:
        wait_until(
            f"{dlq_expected} dead letters",
            lambda: pipe.dlq_count() == dlq_expected or f"{pipe.dlq_count()} so far",
            30,
        )
        dlq = pipe.dlq_count()
        assert dlq == dlq_expected, f"{dlq} records on the DLQ, expected {dlq_expected}"
    line = (
        f"[{name}] CONVERGED in {time.monotonic() - started:.0f}s: accepted={len(keys)} applied={applied} "
        f"duplicates={log.count('duplicate')} retried={log.retries} (503={log.codes(503)}, "
        f"conn-errors={log.codes(0)}) rejected={log.count('rejected')} refused={log.count('refused')} "
        f"DLQ={dlq} emails={mails} lagging-alerts={len(lagging)} kills={dict(pipe.kills)} "
        f"[{' '.join(f'{k}={v:.0f}s' for k, v in phases.items())}]"
    )
    print(line)
    verdicts.VERDICTS.append(line)
    if first_gap:
        print(f"[{name}] alerts lagged the projections at first: {first_gap[0]}")
        verdicts.VERDICTS.append(f"[{name}] (alerts lagged the projections at first: {first_gap[0]})")
    return line


MIXED = ["CA-TINH", "CA-DONG-HA", "CA-HUONG-HOA", "HQ", "SYT", "BDBP", "STTTT", "LDLD"]
