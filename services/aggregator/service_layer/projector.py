"""The projector: applies batches of facts to the projections, effectively once.

What must hold after `Projector.apply` commits, whatever the order, batching or repetition of
delivery: each agency's KPIs and reports are what evaluating the fold of its distinct recorded
facts gives (`domain/history.fold`, `domain/kpi.evaluate_agency`); every event is in the inbox
once; a status change and a dead letter are in the outbox once, in the same transaction as
the projection they come from. Kafka offsets are committed by the caller only after it.

Ledgers are cached per agency with the version they were folded at; another replica (after a
rebalance) or a rebuild bumps the version, and the next batch reloads that agency from the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from services.aggregator.domain.baselines import BaselineKey, due_to_freeze, frozen_figures, sources_of
from services.aggregator.domain.changes import kpi_changes, report_changes
from services.aggregator.domain.facts import SUBMITTED
from services.aggregator.domain.kpi import Kpi, Report, evaluate_agency
from services.aggregator.domain.ledger import ADDS_UP, AgencyLedger
from services.aggregator.domain.snapshots import ledger_from_state, ledger_state
from services.aggregator.service_layer.ports import (
    Delivered,
    EventKey,
    Poison,
    Recorded,
    Snapshot,
    Transaction,
    UnitOfWork,
)
from services.aggregator.service_layer.turns import in_turns
from shared.deadletter import dead_letter
from shared.events.codec import KafkaRecord, to_kafka
from shared.plan.book import Plans

# Facts folded between two turns while the inbox records the batch: small, so its COPY gets
# its rows without waiting for the fold.
_FOLDED_PER_TURN = 500


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    status_events: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # dead letters by reason code


@dataclass
class _CachedAgency:
    ledger: AgencyLedger
    version: int
    kpis: dict[tuple, Any] = field(default_factory=dict)  # last saved Kpi (or `_SavedStatus`) per key
    reports: dict[tuple, Any] = field(default_factory=dict)
    frozen: dict[BaselineKey, float | None] = field(default_factory=dict)  # recorded baselines, once frozen
    folded: int = 0  # facts its ledger holds folded
    unsnapshotted: int = 0  # of them, folded since its last snapshot (or none)


@dataclass(frozen=True, slots=True)
class _SavedStatus:
    """A status loaded from the store: compares unequal to any fresh evaluation, so it is re-saved."""

    status: Any


@dataclass
class _Batch:
    """A batch's records, the first of each key (the one the inbox records)."""

    facts: dict[EventKey, Delivered]
    poisons: dict[EventKey, Poison]

    @classmethod
    def of(cls, deliveries: Iterable[Delivered | Poison]) -> _Batch:
        batch = cls({}, {})
        for item in deliveries:
            if type(item) is Delivered:
                batch.facts.setdefault((item.fact.source, item.fact.id), item)
            else:
                poison = cast(Poison, item)
                batch.poisons.setdefault(poison.key, poison)
        return batch

    @property
    def agencies(self) -> set[str]:
        return {d.fact.agency for d in self.facts.values()}


@dataclass
class _Evaluation:
    """What to evaluate: per agency the indicators its facts touched, and the agencies whose
    every KPI is evaluated (a deadline check, a submission that may move the data cut-off and
    hence every pace, an agency folded again from the inbox)."""

    indicators: dict[str, set[str]]
    every_kpi: set[str]

    @classmethod
    def of_agencies(cls, agencies: set[str]) -> _Evaluation:
        return cls({a: set() for a in agencies}, set(agencies))


@dataclass
class _AgencyChanges:
    cached: _CachedAgency
    kpis: list[Kpi]  # those differing from the last saved
    reports: list[Report]
    status_events: list[Any]


# an agency that folded this many facts past its snapshot (or with none) takes a new one (the
# service's AGGREGATOR_SNAPSHOT_AFTER gives its own)
SNAPSHOT_AFTER = 20_000
SumsBefore = dict[str, dict]  # per agency, the sums a batch's activities changed, as they were


class Projector:
    def __init__(
        self,
        uow: UnitOfWork,
        plans: Plans,
        status_topic: str,
        dlq_topic: str,
        snapshot_after: int | None = None,
    ) -> None:
        self.uow, self.plans = uow, plans
        self.snapshot_after = snapshot_after
        self.status_topic, self.dlq_topic = status_topic, dlq_topic
        self._cache: dict[str, _CachedAgency] = {}

    def forget(self, agencies: Iterable[str] | None = None) -> None:
        """Drop cached ledgers (all of them by default): the next batch reloads them."""
        if agencies is None:
            self._cache.clear()
        for agency in agencies or ():
            self._cache.pop(agency, None)

    async def apply(
        self, deliveries: Sequence[Delivered | Poison], now: datetime, reevaluate: Iterable[str] = ()
    ) -> Outcome:
        """Apply a batch in one transaction (and evaluate every KPI of the `reevaluate` agencies):
        new facts folded and recorded, repeats skipped, poison records dead-lettered once, changed
        KPIs and reports saved with their status changes. All or nothing."""
        try:
            async with self.uow.begin(now) as tx:
                return await self._project(tx, deliveries, now, set(reevaluate))
        except BaseException:
            self.forget()  # the cache may hold folds of a rolled-back transaction
            raise

    async def _project(
        self, tx: Transaction, deliveries: Sequence[Delivered | Poison], now: datetime, reevaluate: set[str]
    ) -> Outcome:
        batch = _Batch.of(deliveries)
        versions = await tx.projections.lock_agencies(batch.agencies | reevaluate)
        await self._load_stale_ledgers(tx, versions, now)
        await self._load_frozen_baselines(tx, versions, now)
        evaluation = _Evaluation.of_agencies(reevaluate)
        verdict, sums_before, changes = await self._record_and_fold(tx, batch, evaluation, now)
        new_facts = list(batch.facts.values())
        if verdict is not None:
            new_facts, changes = await self._reconcile_repeats(
                tx, batch, verdict, sums_before, versions, evaluation, now
            )
        dead_letters = await self._record_poisons(tx, batch)
        await tx.outbox.enqueue(self.dlq_topic, [_dead_letter(p, now) for p in dead_letters], now)
        outcome = Outcome(applied=len(new_facts), dead_letters=len(dead_letters))
        for p in dead_letters:
            outcome.reasons[p.reason] = outcome.reasons.get(p.reason, 0) + 1
        outcome.duplicates = len(deliveries) - outcome.applied - outcome.dead_letters
        outcome.status_events = await self._save_changes(tx, changes, evaluation, now)
        await self._keep_snapshots(tx, new_facts, now)
        return outcome

    async def _keep_snapshots(self, tx: Transaction, new_facts: Sequence[Delivered], now: datetime) -> None:
        """An agency that folded SNAPSHOT_AFTER facts since its last snapshot takes a new one, so
        a restart folds at most that many of its facts (its ledger is the fold of all it recorded)."""
        cache = self._cache
        for d in new_facts:
            cached = cache[d.fact.agency]
            cached.folded += 1
            cached.unsnapshotted += 1
        for agency in {d.fact.agency for d in new_facts}:
            await self._snapshot_if_due(tx, agency, cache[agency], now)

    async def _snapshot_if_due(
        self, tx: Transaction, agency: str, cached: _CachedAgency, now: datetime
    ) -> None:
        """Keep the agency's ledger as a snapshot once it has folded SNAPSHOT_AFTER facts since its
        last one. The batch holds the agency's lock, so nothing of it was recorded meanwhile: its
        last position is that of the ledger's last fact."""
        if cached.unsnapshotted < (self.snapshot_after or SNAPSHOT_AFTER):
            return
        state = ledger_state(cached.ledger, self.plans)
        await tx.inbox.save_snapshot(
            agency, Snapshot(await tx.inbox.position(agency), cached.folded, state), now
        )
        cached.unsnapshotted = 0

    async def _record_and_fold(
        self, tx: Transaction, batch: _Batch, evaluation: _Evaluation, now: datetime
    ) -> tuple[Recorded | None, SumsBefore, list[_AgencyChanges]]:
        """Record the batch's facts in the inbox while folding and evaluating them as if every
        one were new (the usual case). Folding again a fact folded before (a redelivery)
        changes nothing, except where facts add up (activities): their sums are noted before
        they change, for `_reconcile_repeats`."""
        facts = list(batch.facts.values())
        recording = asyncio.ensure_future(tx.inbox.record_facts(facts))
        sums_before: SumsBefore = {}
        try:
            await self._fold(facts, evaluation, sums_before)
            changes = self._evaluate(evaluation, now)
        except BaseException:
            with contextlib.suppress(BaseException):
                await recording  # the transaction's connection is never left mid-recording
            raise
        return await recording, sums_before, changes

    async def _reconcile_repeats(
        self,
        tx: Transaction,
        batch: _Batch,
        verdict: Recorded,
        sums_before: SumsBefore,
        versions: dict[str, int],
        evaluation: _Evaluation,
        now: datetime,
    ) -> tuple[list[Delivered], list[_AgencyChanges]]:
        """The inbox knew some facts already: undo what folding them again changed, then
        evaluate again. Returns the new facts and the changes to save."""
        new_facts = [d for key, d in batch.facts.items() if key in verdict.new]
        # a resend recorded at another offset may break a tie differently: fold those agencies
        # again from the inbox (which holds this batch's new facts too)
        resent_agencies = {batch.facts[key].fact.agency for key in verdict.resent}
        # an agency with a repeated activity gets its sums back and its new activities again
        recounted_agencies = {
            d.fact.agency
            for key, d in batch.facts.items()
            if key not in verdict.new and d.fact.kind in ADDS_UP
        } - resent_agencies
        for agency in recounted_agencies:
            self._cache[agency].ledger.restore(sums_before[agency])
        await self._fold(
            [d for d in new_facts if d.fact.kind in ADDS_UP and d.fact.agency in recounted_agencies],
            evaluation,
        )
        if resent_agencies:
            self.forget(resent_agencies)
            await self._load_stale_ledgers(tx, {a: versions[a] for a in resent_agencies}, now)
            await self._load_frozen_baselines(tx, resent_agencies, now)
            evaluation.every_kpi |= resent_agencies
        return new_facts, self._evaluate(evaluation, now)

    async def _record_poisons(self, tx: Transaction, batch: _Batch) -> list[Poison]:
        """Record the poison records in the inbox; those it did not know, to be dead-lettered."""
        poisons = list(batch.poisons.values())
        verdict = await tx.inbox.record_poisons(poisons)
        if verdict is None:
            return poisons
        return [p for key, p in batch.poisons.items() if key in verdict.new]

    async def _save_changes(
        self, tx: Transaction, changes: list[_AgencyChanges], evaluation: _Evaluation, now: datetime
    ) -> int:
        """Save the changed KPIs and reports, put their status changes in the outbox, and give
        every evaluated agency a new version; the number of status events."""
        changed_kpis: list[Kpi] = []
        changed_reports: list[Report] = []
        status_events: list[Any] = []
        for change in changes:
            change.cached.kpis.update((k.key, k) for k in change.kpis)
            change.cached.reports.update((r.key, r) for r in change.reports)
            changed_kpis += change.kpis
            changed_reports += change.reports
            status_events += change.status_events
        await tx.projections.save_kpis(changed_kpis, now)
        await tx.projections.save_reports(changed_reports, now)
        await tx.outbox.enqueue(self.status_topic, [status_record(e) for e in status_events], now)
        for agency, version in (await tx.projections.bump_versions(evaluation.indicators)).items():
            self._cache[agency].version = version
        return len(status_events)

    async def _fold(
        self, facts: list[Delivered], evaluation: _Evaluation, sums_before: SumsBefore | None = None
    ) -> None:
        """Fold facts into their agencies' cached ledgers, noting which indicators they touch (and
        in `sums_before`, per agency, the sums that facts adding up change, as they were)."""
        cache, plans = self._cache, self.plans
        indicators_of = evaluation.indicators
        async for chunk in in_turns(facts, _FOLDED_PER_TURN):  # CPU work: the recording goes on meanwhile
            for delivered in chunk:
                fact = delivered.fact
                indicators = indicators_of.get(fact.agency)
                if indicators is None:
                    indicators = indicators_of[fact.agency] = set()
                log = None
                if sums_before is not None and fact.kind in ADDS_UP:
                    log = sums_before.get(fact.agency)
                    if log is None:
                        log = sums_before[fact.agency] = {}
                indicators.update(cache[fact.agency].ledger.apply(fact, plans, log))
                if fact.kind == SUBMITTED:  # it may move the agency's data cut-off, hence every pace
                    evaluation.every_kpi.add(fact.agency)

    def _evaluate(self, evaluation: _Evaluation, now: datetime) -> list[_AgencyChanges]:
        """Per agency to evaluate: the KPIs and reports that differ from the last saved, and the
        status changes they make. Reads the cache only, so it can run before the inbox's verdict."""
        changes = []
        for agency, indicators in evaluation.indicators.items():
            cached = self._cache[agency]
            kpis, reports = evaluate_agency(
                cached.ledger,
                self.plans,
                now,
                None if agency in evaluation.every_kpi else indicators,
                cached.frozen,
            )
            kpis = [k for k in kpis if cached.kpis.get(k.key) != k]
            reports = [r for r in reports if cached.reports.get(r.key) != r]
            events = kpi_changes(cached.kpis, kpis, now) + report_changes(
                {k: v.status for k, v in cached.reports.items()}, reports, now
            )
            changes.append(_AgencyChanges(cached, kpis, reports, events))
        return changes

    async def _load_frozen_baselines(self, tx: Transaction, agencies: Iterable[str], now: datetime) -> None:
        """The recorded baselines whose moment has passed and that the cache lacks: read once from
        the facts recorded by that moment (`domain/baselines.py`), so no later record moves them."""
        for agency in agencies:
            cached = self._cache[agency]
            for moment, keys in due_to_freeze(self.plans, agency, now, cached.frozen).items():
                facts = await tx.inbox.load_facts(sources_of(self.plans, agency, keys), known_by=moment)
                cached.frozen.update(frozen_figures(facts, self.plans, agency, keys))

    async def _load_stale_ledgers(self, tx: Transaction, versions: dict[str, int], now: datetime) -> None:
        """(Re)load the ledgers of agencies whose cached version is not the recorded one: each from
        its snapshot and the facts recorded after it, one agency at a time (memory holds one
        agency's facts, not everyone's). A load that folded SNAPSHOT_AFTER facts leaves a new
        snapshot; so does an agency once it has folded as many since (`_keep_snapshots`)."""
        stale = [a for a, v in versions.items() if a not in self._cache or self._cache[a].version != v]
        if not stale:
            return
        kpi_statuses, report_statuses = await tx.projections.load_statuses(stale)
        snapshots = await tx.inbox.load_snapshots(stale)
        for agency in stale:
            snapshot = snapshots.get(agency)
            restored = ledger_from_state(agency, snapshot.state, self.plans) if snapshot else None
            base = snapshot if restored is not None else None  # one of other plans is not used
            ledger = restored if restored is not None else AgencyLedger(agency)
            folded = 0
            async for chunk in tx.inbox.tail(agency, base.upto if base else 0):
                for fact in chunk:
                    ledger.apply(fact, self.plans)
                folded += len(chunk)
                await asyncio.sleep(0)  # heartbeats, the API and the probes go on between chunks
            held = (base.facts if base else 0) + folded
            cached = self._cache[agency] = _CachedAgency(
                ledger, versions[agency], folded=held, unsnapshotted=folded
            )
            await self._snapshot_if_due(tx, agency, cached, now)
        for kpi_key, status in kpi_statuses.items():
            self._cache[kpi_key[0]].kpis[kpi_key] = _SavedStatus(status)
        for report_key, report_status in report_statuses.items():
            self._cache[report_key[0]].reports[report_key] = _SavedStatus(report_status)


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
