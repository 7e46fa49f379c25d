"""The intake use case, shared by the HTTP API and the Kafka raw-topic path.

Check each event (schema → authorization → plan rules), answer re-sends as duplicates, write
the rest to the canonical topic and wait for Kafka's acknowledgement, then remember them.
What it needs from outside are the ports in `ports.py`; `tests/intake/unit/test_submit.py` runs
it on their in-memory fakes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from services.intake.domain import plan_rules
from services.intake.domain.parsing import parse_event
from services.intake.domain.plan_rules import KnownEvent, Plausibility
from services.intake.domain.problems import Problem
from services.intake.domain.records import as_sent, digest, to_record, with_warnings
from services.intake.service_layer.ports import (
    Accepted,
    Clock,
    EventPublisher,
    EventRegistry,
    IntakeCounters,
    RegistryUnavailable,
)
from shared.events.codec import KafkaRecord
from shared.events.models import IndicatorCorrectedEvent, IndicatorReportedEvent
from shared.plan.book import Plans

log = logging.getLogger(__name__)
REGISTRY_ATTEMPTS = 3  # 0.25 s + 0.5 s of patience for the registry after Kafka took an event


class Outcome(NamedTuple):  # one per event: a tuple is made twice as fast as a frozen dataclass
    status: Literal["accepted", "duplicate", "rejected"]
    event_id: str | None = None
    problem: Problem | None = None
    warnings: tuple[Plausibility, ...] = ()
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "id": self.event_id}
        if self.detail:
            body["detail"] = self.detail
        if self.warnings:
            body["warnings"] = [{"code": w.code, "detail": w.detail} for w in self.warnings]
        if self.problem:
            body["problem"] = self.problem.as_dict()
        return body


@dataclass
class Candidate:
    index: int
    event: Any
    warnings: list[Plausibility]
    record: KafkaRecord | None = None
    digest: str = ""


def _encoded(c: Candidate) -> KafkaRecord:
    if c.record is None:  # every candidate is encoded before it is checked
        raise RuntimeError(f"event {c.event.id!r} reached publishing unencoded")
    return c.record


class Intake:
    def __init__(
        self,
        plans: Plans,
        registry: EventRegistry,
        publisher: EventPublisher,
        metrics: IntakeCounters,
        *,
        events_topic: str,
        clock: Clock,
        max_skew: timedelta,
        retry_delay_s: float = 0.25,
    ) -> None:
        self.plans, self.registry, self.publisher, self.metrics = plans, registry, publisher, metrics
        self.events_topic, self.clock, self.max_skew = events_topic, clock, max_skew
        self.retry_delay_s = retry_delay_s  # the first wait before recording again; doubles each try

    def check(self, document: Any, agency: str | None, now: datetime) -> Problem | Candidate:
        """Everything that needs no I/O. `agency` None: the Kafka path, where the source speaks."""
        event = parse_event(document)
        if isinstance(event, Problem):
            return event
        if agency is None:
            problem = plan_rules.check_sender(event.source, self.plans)
            if problem:
                return problem
            agency = event.agency
        plan = plan_rules.plan_of(event, self.plans)
        if isinstance(plan, Problem):
            return plan
        problem = plan_rules.authorize(event, agency, plan)
        if problem:
            return problem
        verdict = plan_rules.check_content(event, plan, now, self.max_skew)
        return verdict if isinstance(verdict, Problem) else Candidate(-1, event, verdict)

    def _safe_check(self, document: Any, agency: str | None, now: datetime) -> Problem | Candidate:
        try:
            return self.check(document, agency, now)
        except Exception as exc:
            log.exception("checking an event failed")
            return Problem(
                "internal-error",
                f"the event could not be checked ({type(exc).__name__}); "
                "it was not accepted, please report this to the operators",
            )

    async def submit(self, documents: Sequence[Any], *, agency: str | None, path: str) -> list[Outcome]:
        """One outcome per document (a document may already be a Problem, e.g. too large)."""
        now = self.clock.now()  # one reading per request: the clock costs more than most checks
        outcomes: list[Outcome | None] = [None] * len(documents)
        candidates: list[Candidate] = []
        for i, document in enumerate(documents):
            checked = document if isinstance(document, Problem) else self._safe_check(document, agency, now)
            if isinstance(checked, Problem):
                outcomes[i] = Outcome("rejected", _id_of(document), checked)
            else:
                checked.index = i
                candidates.append(checked)
        if len(candidates) < 2:  # one event: a task and a turn of the loop cost more than encoding it
            _encode(candidates, documents)
            known = await self._lookup(candidates)
        else:  # the duplicate lookup goes out first: PostgreSQL answers while the records are encoded
            lookup = asyncio.ensure_future(self._lookup(candidates))
            await asyncio.sleep(0)  # let it send its query
            try:
                _encode(candidates, documents)
            except BaseException:
                lookup.cancel()
                raise
            known = await lookup
        to_publish: list[Candidate] = []
        seen: dict[tuple[str, str], KnownEvent] = {}
        for c in candidates:
            event = c.event
            previous = known.get((event.source, event.id)) or seen.get((event.source, event.id))
            if previous is not None:
                outcomes[c.index] = Outcome(
                    "duplicate",
                    event.id,
                    detail=None
                    if previous.digest == c.digest
                    else (
                        "an event with this id was accepted before with different content; the first one counts. "
                        "Use a new id for a new event, or send indicator.corrected to change a value"
                    ),
                )
                continue
            if isinstance(event, IndicatorCorrectedEvent):
                target = known.get((event.source, event.data.corrects)) or seen.get(
                    (event.source, event.data.corrects)
                )
                problem = plan_rules.check_correction(event, target, self.plans)
                if problem:
                    outcomes[c.index] = Outcome("rejected", event.id, problem)
                    continue
            seen[(event.source, event.id)] = KnownEvent(
                str(event.type), _indicator_of(event, known, seen), c.digest
            )
            to_publish.append(c)
        if to_publish:
            await self.publisher.publish(
                self.events_topic, [with_warnings(_encoded(c), c.warnings) for c in to_publish]
            )
            await self._remember(to_publish, seen)
        for c in to_publish:
            outcomes[c.index] = Outcome("accepted", c.event.id, warnings=tuple(c.warnings))
        final = [o for o in outcomes if o is not None]
        self._count(final, documents, agency, path)
        return final

    async def _lookup(self, candidates: list[Candidate]) -> dict[tuple[str, str], KnownEvent]:
        by_source: dict[str, set[str]] = {}
        for c in candidates:
            ids = by_source.setdefault(c.event.source, set())
            ids.add(c.event.id)
            if isinstance(c.event, IndicatorCorrectedEvent):
                ids.add(c.event.data.corrects)
        known: dict[tuple[str, str], KnownEvent] = {}
        try:
            for source, ids in by_source.items():
                known.update({(source, i): k for i, k in (await self.registry.lookup(source, ids)).items()})
        except self.registry.unavailable as exc:
            raise RegistryUnavailable(str(exc)) from exc
        return known

    async def _remember(self, published: list[Candidate], seen: dict[tuple[str, str], KnownEvent]) -> None:
        """Record what Kafka took. An event intake cannot remember is not answered 202: a later
        correction naming it would be refused. After a few tries (a PostgreSQL restart takes
        about a second) the answer is 503; the client's re-send is published again, which the
        aggregator counts once, and recorded then."""
        rows = []
        for c in published:
            k = seen[(c.event.source, c.event.id)]
            rows.append(Accepted(c.event.source, c.event.id, k.type, k.indicator, k.digest))
        for attempt in range(REGISTRY_ATTEMPTS):
            try:
                await self.registry.record(rows)
                return
            except self.registry.unavailable as exc:
                log.warning(
                    "could not record %d accepted events in the registry (try %d): %s",
                    len(rows),
                    attempt + 1,
                    exc,
                )
                if attempt + 1 == REGISTRY_ATTEMPTS:
                    raise RegistryUnavailable(str(exc)) from exc
                await asyncio.sleep(self.retry_delay_s * 2**attempt)

    def _count(
        self, outcomes: list[Outcome], documents: Sequence[Any], agency: str | None, path: str
    ) -> None:
        """One counter increment per distinct label set, not per event."""
        tally: Counter[tuple[str | None, str, str]] = Counter()
        for outcome, document in zip(outcomes, documents):
            reason = outcome.problem.reason if outcome.problem else ""
            tally[agency or _agency_of(document), outcome.status, reason] += 1
        for (who, status, reason), n in tally.items():
            self.metrics.count(path, who, status, reason, n)


def _encode(candidates: list[Candidate], documents: Sequence[Any]) -> None:
    for c in candidates:
        c.record = to_record(c.event)
        c.digest = digest(c.record)  # of the canonical form: the same event sent either way is one
        c.record = as_sent(c.record, c.event, documents[c.index])


def _indicator_of(event: Any, known: dict, seen: dict) -> str | None:
    if isinstance(event, IndicatorReportedEvent):
        return event.data.indicator
    if isinstance(event, IndicatorCorrectedEvent):  # a correction of a correction keeps the indicator
        target = known.get((event.source, event.data.corrects)) or seen.get(
            (event.source, event.data.corrects)
        )
        return target.indicator if target else None
    return None


def _id_of(document: Any) -> str | None:
    if isinstance(document, BaseModel):  # validated on the fast path
        return getattr(document, "id", None)
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def _agency_of(document: Any) -> str | None:
    if isinstance(document, BaseModel):
        return getattr(document, "agency", None)
    source = document.get("source") if isinstance(document, dict) else None
    return plan_rules.agency_code_of(source) if isinstance(source, str) else None
