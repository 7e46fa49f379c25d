"""Applies batches of facts to the projections, effectively once.

One PostgreSQL transaction per batch: lock the batch's agencies, record the events in the inbox
(repeats skipped) while folding the facts into the agencies' ledgers and re-evaluating what they
touch (again for an agency the inbox found a repeat of), save changed KPIs and reports, and put
status changes and dead letters in the outbox. Kafka offsets are committed by the caller only
after this transaction committed.

Ledgers are cached per agency with the version they were folded at; another replica (after a
rebalance) or a rebuild bumps the version, and the next batch reloads that agency from the facts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.adapters import repository as repo
from services.aggregator.adapters.turns import in_turns
from services.aggregator.domain.changes import kpi_changes, report_changes
from services.aggregator.domain.facts import SUBMITTED, Fact
from services.aggregator.domain.kpi import Kpi, Report, evaluate_agency
from services.aggregator.domain.ledger import ADDS_UP, AgencyLedger
from shared.deadletter import dead_letter
from shared.events.codec import KafkaRecord, to_kafka


class Delivered(msgspec.Struct, frozen=True, gc=False):
    """A record that decoded into a fact (made per event: a C struct, like `Fact`)."""

    fact: Fact
    partition: int
    offset: int
    data_json: bytes  # the fact's data as UTF-8 JSON (the record's own bytes), for the inbox row


@dataclass(frozen=True, slots=True)
class Poison:
    """A record that cannot be applied; it goes to the dead-letter topic with the reason (a
    `shared.deadletter` code) and the detail."""

    source: str
    id: str
    agency: str | None
    reason: str
    partition: int
    offset: int
    record: KafkaRecord
    detail: str = ""
    attempts: int = 1
    topic: str = ""


@dataclass
class _Cached:
    ledger: AgencyLedger
    version: int
    kpis: dict[tuple, Any] = field(default_factory=dict)  # last saved Kpi per key
    reports: dict[tuple, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    status_events: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # dead letters by reason code


class Projector:
    def __init__(self, engine: AsyncEngine, plan: Any, status_topic: str, dlq_topic: str) -> None:
        self.engine, self.plan = engine, plan
        self.status_topic, self.dlq_topic = status_topic, dlq_topic
        self._cache: dict[str, _Cached] = {}

    def forget(self, agencies: Iterable[str] | None = None) -> None:
        if agencies is None:
            self._cache.clear()
        for agency in agencies or ():
            self._cache.pop(agency, None)

    async def apply(
        self, items: list[Delivered | Poison], now: datetime, reevaluate: Iterable[str] = ()
    ) -> Outcome:
        try:
            async with self.engine.begin() as conn:
                return await self._apply(conn, items, now, set(reevaluate))
        except BaseException:
            self.forget()  # the cache may hold folds of a rolled-back transaction
            raise

    async def _apply(self, conn: AsyncConnection, items, now, reevaluate: set[str]) -> Outcome:
        # The first statement through SQLAlchemy opens the transaction the raw COPY must join;
        # a batch stuck on a lock or a slow disk is cancelled rather than holding its partition.
        # `aggregator.now`: the clock's moment, which the inbox's `recorded_at` takes (0005).
        await conn.exec_driver_sql(
            f"SELECT set_config('statement_timeout', '60s', true), "
            f"set_config('aggregator.now', '{now.isoformat()}', true)"
        )
        outcome = Outcome()
        delivered: dict[tuple[str, str], Delivered] = {}
        poisons: dict[tuple[str, str], Poison] = {}
        for item in items:  # the first of a key in the batch is the one recorded
            if type(item) is Delivered:
                delivered.setdefault((item.fact.source, item.fact.id), item)
            else:
                poisons.setdefault((item.source, item.id), item)
        versions = await repo.lock_agencies(conn, {i.fact.agency for i in delivered.values()} | reevaluate)
        await self._refresh(conn, versions)
        touched: dict[str, set[str]] = {a: set() for a in reevaluate}
        everything = set(reevaluate)  # agencies whose every KPI is re-evaluated
        # PostgreSQL takes the inbox's COPY while this process folds the batch and evaluates it, as
        # if every record were new. Folding again a record folded before (a redelivery) changes
        # nothing, except where facts add up (activities): their sums are noted before they change.
        fresh = list(delivered.values())  # until the inbox says which were recorded before
        recording = asyncio.ensure_future(repo.record(conn, repo.fact_rows(fresh)))
        undo: dict[str, dict] = {}  # per agency, the sums as they were before this batch
        try:
            await self._fold(fresh, touched, everything, undo)
            changes = self._evaluate(touched, everything, now)
        except BaseException:
            with contextlib.suppress(BaseException):
                await recording  # the connection is the transaction's: never left mid-COPY
            raise
        repeats = await recording
        if repeats is not None:
            fresh = [i for k, i in delivered.items() if k in repeats.new]
            # a resend recorded at another offset may break a tie differently: fold those agencies
            # again from the inbox (which holds this batch's new facts too)
            moved = {delivered[k].fact.agency for k in repeats.moved}
            # an agency with a repeated activity gets its sums back and its new activities again
            recount = {
                i.fact.agency for k, i in delivered.items() if k not in repeats.new and i.fact.kind in ADDS_UP
            } - moved
            for agency in recount:
                self._cache[agency].ledger.restore(undo[agency])
            await self._fold(
                [i for i in fresh if i.fact.kind in ADDS_UP and i.fact.agency in recount], touched, everything
            )
            if moved:
                self.forget(moved)
                await self._refresh(conn, {a: versions[a] for a in moved})
                everything |= moved
            changes = self._evaluate(touched, everything, now)
        repeats = await repo.record(conn, [repo.poison_row(p) for p in poisons.values()], repo.POISON_COLUMNS)
        dead = (
            list(poisons.values()) if repeats is None else [p for k, p in poisons.items() if k in repeats.new]
        )
        outcome.applied, outcome.dead_letters = len(fresh), len(dead)
        for p in dead:
            outcome.reasons[p.reason] = outcome.reasons.get(p.reason, 0) + 1
        outcome.duplicates = len(items) - len(fresh) - len(dead)
        await repo.enqueue(conn, self.dlq_topic, [_dead_letter(p, now) for p in dead], now)

        changed_kpis: list[Kpi] = []
        changed_reports: list[Report] = []
        events = []
        for cached, kpis, reports, changed in changes:
            cached.kpis.update((k.key, k) for k in kpis)
            cached.reports.update((r.key, r) for r in reports)
            changed_kpis += kpis
            changed_reports += reports
            events += changed
        await repo.save_kpis(conn, changed_kpis, now)
        await repo.save_reports(conn, changed_reports, now)
        await repo.enqueue(conn, self.status_topic, [status_record(e) for e in events], now)
        outcome.status_events = len(events)
        for agency, version in (await repo.bump_versions(conn, touched)).items():
            self._cache[agency].version = version
        return outcome

    async def _fold(
        self,
        delivered: list[Delivered],
        touched: dict[str, set[str]],
        everything: set[str],
        undo: dict[str, dict] | None = None,
    ) -> None:
        """Fold facts into their agencies' cached ledgers, noting which indicators they touch (and
        in `undo`, per agency, the sums the facts that add up change, as they were before)."""
        cache, plan = self._cache, self.plan
        async for chunk in in_turns(delivered, 500):  # CPU work: the COPY goes on meanwhile
            for item in chunk:
                fact = item.fact
                kind = fact.kind
                indicators = touched.get(fact.agency)
                if indicators is None:
                    indicators = touched[fact.agency] = set()
                log = None
                if undo is not None and kind in ADDS_UP:
                    log = undo.get(fact.agency)
                    if log is None:
                        log = undo[fact.agency] = {}
                indicators.update(cache[fact.agency].ledger.apply(fact, plan, log))
                if kind == SUBMITTED:  # it may move the agency's data cut-off, hence every pace
                    everything.add(fact.agency)

    def _evaluate(self, touched: dict[str, set[str]], everything: set[str], now: datetime) -> list[tuple]:
        """Per touched agency: the KPIs and reports that differ from the last saved, and the status
        changes they make. Reads the cache only, so it can run before the inbox's verdict."""
        changes = []
        for agency, indicators in touched.items():
            cached = self._cache[agency]
            kpis, reports = evaluate_agency(
                cached.ledger, self.plan, now, None if agency in everything else indicators
            )
            kpis = [k for k in kpis if cached.kpis.get(k.key) != k]
            reports = [r for r in reports if cached.reports.get(r.key) != r]
            changes.append(
                (
                    cached,
                    kpis,
                    reports,
                    kpi_changes(cached.kpis, kpis, now)
                    + report_changes({k: v.status for k, v in cached.reports.items()}, reports, now),
                )
            )
        return changes

    async def _refresh(self, conn: AsyncConnection, versions: dict[str, int]) -> None:
        """(Re)load the ledgers of agencies whose cached version is not the recorded one."""
        stale = [a for a, v in versions.items() if a not in self._cache or self._cache[a].version != v]
        if not stale:
            return
        facts = await repo.load_facts(conn, stale)
        kpi_rows, report_rows = await repo.load_statuses(conn, stale)
        for agency in stale:
            self._cache[agency] = _Cached(AgencyLedger(agency), versions[agency])
        async for chunk in in_turns(facts, repo.YIELD_EVERY):
            for fact in chunk:
                self._cache[fact.agency].ledger.apply(fact, self.plan)
        for key, status in kpi_rows.items():
            self._cache[key[0]].kpis[key] = _Status(status)
        for key, status in report_rows.items():
            self._cache[key[0]].reports[key] = _Status(status)


@dataclass(frozen=True, slots=True)
class _Status:
    """A status loaded from the table: compares unequal to any fresh evaluation, so it is re-saved."""

    status: Any


def _dead_letter(p: Poison, now: datetime) -> KafkaRecord:
    return dead_letter(
        p.record.key or (p.agency.encode() if p.agency else None),
        p.record.value,
        p.record.headers,
        origin=(p.topic, p.partition, p.offset),
        service="aggregator",
        reason=p.reason,
        detail=p.detail,
        attempts=p.attempts,
        now=now,
    )


def status_record(event: Any) -> KafkaRecord:
    """Binary mode, keyed by agency: one agency's changes stay in order on one partition."""
    return to_kafka(event, key=event.data.agency)
