"""The read side: current projection from the tables; a past moment (`as_of`) refolded from the
facts recorded by then (what the system knew at that moment) and judged at that moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.adapters import repository as repo
from services.aggregator.adapters.tables import kpis, reports
from services.aggregator.domain.baselines import baseline_sources, baselines_of, recorded_keys, sources_of
from services.aggregator.domain.history import fold, history
from services.aggregator.domain.kpi import evaluate_agency
from services.aggregator.domain.ledger import AgencyLedger
from services.aggregator.domain.progress import Checkpoint, year_progress
from services.aggregator.domain.rollup import province_wide, rolled
from shared.plan.book import Plans
from shared.plan.index import PlanIndex, Rejected


def _kpi_dict(k: Any, evaluated_at: datetime | None) -> dict:
    progress = None if not k.target else k.actual / k.target
    return {
        "agency": k.agency,
        "indicator": k.indicator,
        "period": k.period,
        "actual": k.actual,
        "target": k.target,
        "expected": k.expected,
        "forecast": k.forecast,
        "status": str(k.status),
        "progress": progress,
        "due": k.due.isoformat() if k.due else None,
        "evaluated_at": evaluated_at.isoformat() if evaluated_at else None,
    }


class Queries:
    """The read side. Facts fold by every plan loaded; a period's figures are read by its year's
    plan (`_plan_of`), the newest plan's where none holds it."""

    def __init__(self, engine: AsyncEngine, plans: Plans) -> None:
        self.engine, self.plans = engine, plans.index
        self.plan: PlanIndex = self.plans.latest

    def _plan_of(self, period: str) -> PlanIndex:
        try:
            return self.plans.index_for(period=period)
        except (Rejected, ValueError):
            return self.plan

    async def kpis(
        self,
        *,
        period: str | None = None,
        agency: str | None = None,
        indicator: str | None = None,
        status: str | None = None,
        as_of: datetime | None = None,
    ) -> list[dict]:
        if as_of is not None:
            rows = await self._kpis_as_of(agency, as_of)
        else:
            query = select(kpis).order_by(kpis.c.agency, kpis.c.indicator, kpis.c.period)
            if agency:
                query = query.where(kpis.c.agency == agency)
            async with self.engine.connect() as conn:
                rows = [_kpi_dict(r, r.evaluated_at) for r in (await conn.execute(query)).all()]
        wanted = [
            r
            for r in rows
            if (
                period in (None, r["period"])
                and indicator in (None, r["indicator"])
                and status in (None, r["status"])
            )
        ]
        for r in wanted:  # which amendment of the plan set the target it was judged against
            r["amendment"] = self._amendment_of(r, as_of)
        return wanted

    def _amendment_of(self, kpi: dict, as_of: datetime | None) -> str | None:
        moment = as_of or (datetime.fromisoformat(kpi["evaluated_at"]) if kpi["evaluated_at"] else None)
        if moment is None:
            return None
        plan = self._plan_of(kpi["period"])
        target = plan.target_on(plan.local_day(moment), kpi["agency"], kpi["indicator"], kpi["period"])
        return target.amendment if target is not None else None

    def target_versions(self, agency: str, indicator: str, period: str) -> list[dict]:
        """The target's versions: the plan's own, then each amendment's from the day it took effect."""
        plan = self._plan_of(period)
        out = []
        for since, target in plan.target_versions(agency, indicator, period):
            amendment = plan.amendment(target.amendment) if target.amendment else None
            out.append(
                {
                    "from": since.isoformat() if since else None,
                    "amendment": target.amendment,
                    "reason": amendment.reason if amendment else None,
                    "target": target.target_value() if not target.recorded_baseline else None,
                }
            )
        return out

    async def _kpis_as_of(self, agency: str | None, as_of: datetime) -> list[dict]:
        agencies = [agency] if agency else sorted(self.plans.agency_codes)
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, [agency] if agency else None, known_by=as_of)
            frozen = await repo.frozen_baselines(conn, self.plans, agencies, as_of)
        ledgers = fold(facts, self.plans)
        out = []
        for code in agencies:
            ledger = ledgers.get(code, AgencyLedger(code))
            kpis = evaluate_agency(ledger, self.plans, as_of, frozen=frozen.get(code))[0]
            out += [_kpi_dict(k, as_of) for k in kpis]
        return sorted(out, key=lambda r: (r["agency"], r["indicator"], r["period"]))

    async def baselines(self, agency: str, now: datetime) -> list[dict]:
        """The agency's recorded baselines as of `now`: the figure each target takes, the moment it
        froze, the year's figure as recorded now (a later correction shows here, not in the
        target), and the events behind the frozen figure."""
        keys = recorded_keys(self.plans, agency)
        sources = sources_of(self.plans, agency, keys)
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, [agency, *sources])
            frozen = (await repo.frozen_baselines(conn, self.plans, [agency], now)).get(agency, {})
            recorded = {}
            for source in dict.fromkeys([agency, *sources]):
                recorded.update(await repo.recorded_times(conn, source))
        ledgers = fold(facts, self.plans)
        ledger = ledgers.get(agency, AgencyLedger(agency))
        out = []
        for (indicator, year), b in sorted(baselines_of(ledger, self.plans, now, frozen, ledgers).items()):
            known = [f for f in facts if not b.frozen or recorded.get(f.id, now) <= b.frozen_at]
            plan = self.plans.index_for(year=year)
            behind = [
                e for source, _ in baseline_sources(self.plans, agency, year)
                for e in history(known, plan, source, indicator, str(year))
            ]  # fmt: skip
            out.append(
                {
                    "indicator": indicator,
                    "year": year,
                    "frozen": b.frozen,
                    "frozen_at": b.frozen_at.isoformat(),
                    "value": b.value,
                    "now": b.now,
                    "changed_since": b.changed_since,
                    "events": [
                        {k: e[k] for k in ("source", "id", "type", "time", "role", "value") if k in e}
                        for e in behind
                    ],
                }
            )
        return out

    async def reports(self, agency: str, as_of: datetime | None = None) -> list[dict]:
        if as_of is not None:
            async with self.engine.connect() as conn:
                facts = await repo.load_facts(conn, [agency], known_by=as_of)
            ledger = fold(facts, self.plans).get(agency, AgencyLedger(agency))
            items = evaluate_agency(ledger, self.plans, as_of, indicators=set())[1]
            return [
                {
                    "period": r.period,
                    "status": str(r.status),
                    "deadline": r.deadline.isoformat(),
                    "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                }
                for r in items
            ]
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(reports).where(reports.c.agency == agency).order_by(reports.c.deadline)
                )
            ).all()
        return [
            {
                "period": r.period,
                "status": r.status,
                "deadline": r.deadline.isoformat(),
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
            }
            for r in rows
        ]

    async def all_reports(self, as_of: datetime | None = None) -> list[dict]:
        """Every agency's reports (the board's late and missing ones), as `reports` words them."""
        if as_of is None:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(select(reports).order_by(reports.c.deadline, reports.c.agency))
                ).all()
            return [
                {
                    "agency": r.agency,
                    "period": r.period,
                    "status": r.status,
                    "deadline": r.deadline.isoformat(),
                    "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                }
                for r in rows
            ]
        ledgers = await self._ledgers(None, as_of)
        out = []
        for agency in sorted(self.plans.agency_codes):
            ledger = ledgers.get(agency, AgencyLedger(agency))
            for r in evaluate_agency(ledger, self.plans, as_of, indicators=set())[1]:
                out.append(
                    {
                        "agency": r.agency,
                        "period": r.period,
                        "status": str(r.status),
                        "deadline": r.deadline.isoformat(),
                        "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                    }
                )
        return sorted(out, key=lambda r: (r["deadline"], r["agency"]))

    async def year_progress(
        self, until: datetime, as_of: datetime | None = None
    ) -> dict[str, list[Checkpoint]]:
        """Each indicator's progress over the plan year up to `until`, from the facts recorded by
        `as_of` (all, without it): the board's charts."""
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, None, known_by=as_of)
        return year_progress(facts, self.plan, until)

    async def figures(self, agency: str, period: str, as_of: datetime | None = None) -> list[dict]:
        """The agency's figure for every indicator it reports, targets or not."""
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, [agency], known_by=as_of)
        ledger = fold(facts, self.plans).get(agency, AgencyLedger(agency))
        plan = self._plan_of(period)
        return [
            {
                "indicator": code,
                "period": period,
                "actual": ledger.actual(code, period, plan),
                "has_target": plan.target(agency, code, period) is not None,
            }
            for code in sorted(plan.indicators_for(agency))
        ]

    async def history(
        self, agency: str, indicator: str, period: str, as_of: datetime | None = None
    ) -> list[dict]:
        """The events behind a figure that were recorded by `as_of` (all, without it), each with
        the moment it was recorded: a late, back-dated report shows its own `time` and a later
        `recorded_at`."""
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, [agency], known_by=as_of)
            recorded = await repo.recorded_times(conn, agency)
        entries = history(facts, self._plan_of(period), agency, indicator, period)
        for entry in entries:
            when = recorded.get(entry["id"])
            entry["recorded_at"] = when.isoformat() if when else None
        return entries

    async def _ledgers(self, agencies: list[str] | None, as_of: datetime | None) -> dict[str, AgencyLedger]:
        async with self.engine.connect() as conn:
            facts = await repo.load_facts(conn, agencies, known_by=as_of)
        return fold(facts, self.plans)

    async def rollups(
        self,
        *,
        period: str,
        agency: str | None = None,
        indicator: str | None = None,
        as_of: datetime | None = None,
    ) -> list[dict]:
        """Every roll-up the plan declares (of an agency, an indicator): its rolled figure for the
        period with the parts it is made of."""
        plan = self._plan_of(period)
        wanted = [
            (r.agency, code)
            for r in plan.rollups
            for code in r.indicators
            if agency in (None, r.agency) and indicator in (None, code)
        ]
        ledgers = await self._ledgers(None, as_of)
        return sorted(
            (rolled(ledgers, plan, a, code, period) for a, code in wanted),
            key=lambda r: (r["agency"], r["indicator"]),
        )

    async def province(
        self, *, period: str, indicator: str | None = None, as_of: datetime | None = None
    ) -> list[dict]:
        """The province-wide figure of every indicator (or one): each agency counted once."""
        ledgers = await self._ledgers(None, as_of)
        plan = self._plan_of(period)
        codes = [i.code for i in plan.indicators if indicator in (None, i.code)]
        return [province_wide(ledgers, plan, code, period) for code in codes]
