"""Any permutation and duplication of a stream gives the same projection, through the projector's
real apply path on PostgreSQL: reports, correction chains, activities and report submissions,
delivered in random batches with redeliveries (a record seen again in a later batch, as after a lost
offset commit) and a projector restarted mid-stream (a cold cache). The kpis and reports tables,
what the read API serves, must equal a from-scratch fold of the distinct events.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from services.aggregator.adapters.decoding import decode
from services.aggregator.adapters.tables import kpis, reports
from services.aggregator.adapters.unit_of_work import SqlUnitOfWork
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import evaluate_agency
from services.aggregator.domain.planview import view
from services.aggregator.service_layer.ports import Delivered
from services.aggregator.service_layer.projector import Projector
from shared.db import make_engine
from shared.events.codec import to_kafka
from tests.aggregator.helpers import NOW, PLAN, event, fresh_database

pytestmark = pytest.mark.infra

START = NOW - timedelta(days=170)  # 2024-01-02: every event of the stream is dated in the plan year
# agency -> (indicators it reports, units it may name)
REPORTERS = {
    "CA-HUONG-HOA": (["drug_cases_detected", "non_voluntary_addicts", "compulsory_rehab_dossiers"], [None]),
    "UBND-HUONG-HOA": (["propaganda_sessions", "inspections_conducted"], [None, "HH-KHE-SANH", "HH-LAO-BAO"]),
    "SLDTBXH": (["inspections_conducted", "people_in_rehab"], [None]),
}
RECORDERS = {
    "UBND-HUONG-HOA": ["action_month_event"],
    "TINH-DOAN": ["propaganda_session", "action_month_event"],
}
PERIODS = ["2024", "2024-H1", "2024-Q1", "2024-Q2", "2024-03", "2024-05", "2024-06"]


@st.composite
def streams(draw):
    """Distinct events (an id each), in the order they were first sent."""
    n = draw(st.integers(1, 30))
    events, correctable = [], []
    for i in range(n):
        when = START + timedelta(minutes=draw(st.integers(0, 240_000)))
        kind = draw(
            st.sampled_from(["reported", "reported", "corrected", "activity", "activity", "submitted"])
        )
        if kind == "corrected" and not correctable:
            kind = "reported"
        eid = f"p{i}"
        if kind == "reported":
            agency = draw(st.sampled_from(sorted(REPORTERS)))
            indicators, units = REPORTERS[agency]
            data = {
                "indicator": draw(st.sampled_from(indicators)),
                "period": draw(st.sampled_from(PERIODS)),
                "value": draw(st.integers(0, 40)),
            }
            unit = draw(st.sampled_from(units))
            if unit:
                data["unit_code"] = unit
            correctable.append((agency, eid))
            events.append(event(agency, "indicator.reported", data, id=eid, time=when))
        elif kind == "corrected":  # of a report or of a correction of it: a chain
            agency, target = draw(st.sampled_from(correctable))
            correctable.append((agency, eid))
            events.append(
                event(
                    agency,
                    "indicator.corrected",
                    {"corrects": target, "value": draw(st.integers(0, 40)), "reason": f"fix {i}"},
                    id=eid,
                    time=when,
                )
            )
        elif kind == "activity":
            agency = draw(st.sampled_from(sorted(RECORDERS)))
            day = START + timedelta(days=draw(st.integers(0, 200)))  # May-July: around the 30 June milestone
            events.append(
                event(
                    agency,
                    "activity.recorded",
                    {
                        "activity": draw(st.sampled_from(RECORDERS[agency])),
                        "date": day.date().isoformat(),
                        "participants": draw(st.integers(0, 200)),
                    },
                    id=eid,
                    time=max(when, day),
                )
            )
        else:
            agency = draw(st.sampled_from(sorted(REPORTERS)))
            period = draw(
                st.sampled_from(["2024-Q1", "2024-05"] if agency != "SLDTBXH" else ["2024-Q1", "2024-Q2"])
            )
            if agency != "SLDTBXH" and period == "2024-Q1":
                period = "2024-03"
            events.append(event(agency, "report.submitted", {"period": period}, id=eid, time=when))
    return events


def record(e, offset: int):
    """The canonical topic's record of an event at an offset, through the aggregator's own decoder."""
    r = to_kafka(e)
    return decode(
        SimpleNamespace(
            topic="events",
            partition=0,
            offset=offset,
            key=r.key,
            value=r.value,
            headers=r.headers,
            timestamp=0,
        ),
        PLAN,
    )


def deliveries(draw, items: list) -> list[list]:
    """The items in a random order, cut into batches; each later batch may carry again records of
    earlier ones (a redelivery after a lost offset commit) and repeat one of its own."""
    order = draw(st.permutations(items))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=6))) if len(order) > 1 else []
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)])]
    out, seen = [], []
    for batch in batches:
        batch = list(batch)
        if seen:
            for again in draw(st.lists(st.sampled_from(seen), max_size=4)):
                batch.insert(draw(st.integers(0, len(batch))), again)
        if batch and draw(st.booleans()):
            batch.append(draw(st.sampled_from(batch)))
        seen += batch
        out.append(batch)
    return out


def expected_projection(delivered: list[Delivered]):
    kpi_rows, report_rows = {}, {}
    for _agency, ledger in fold([d.fact for d in delivered], PLAN).items():
        ks, rs = evaluate_agency(ledger, PLAN, NOW)
        kpi_rows.update(
            {k.key: (k.actual, k.target, k.expected, k.forecast, k.status.value, k.due) for k in ks}
        )
        report_rows.update({(r.agency, r.period): (r.status.value, r.deadline, r.submitted_at) for r in rs})
    return kpi_rows, report_rows


async def live_projection(engine):
    async with engine.connect() as conn:
        k = (await conn.execute(select(kpis))).all()
        r = (await conn.execute(select(reports))).all()
    return (
        {
            (x.agency, x.indicator, x.period): (x.actual, x.target, x.expected, x.forecast, x.status, x.due)
            for x in k
        },
        {(x.agency, x.period): (x.status, x.deadline, x.submitted_at) for x in r},
    )


async def run(url: str, batches: list[list], restart_at: int | None, distinct: list[Delivered]):
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE aggregator.recorded_events, aggregator.agency_versions, "
                    "aggregator.kpis, aggregator.reports, aggregator.outbox"
                )
            )
        projector = Projector(SqlUnitOfWork(engine), view(PLAN), "status", "dlq")
        for i, batch in enumerate(batches):
            if i == restart_at:  # a restarted replica: ledgers reloaded from the inbox
                projector = Projector(SqlUnitOfWork(engine), view(PLAN), "status", "dlq")
            await projector.apply(batch, NOW)
        expected_kpis, expected_reports = expected_projection(distinct)
        live_kpis, live_reports = await live_projection(engine)
        # every row the batches wrote is what the fold of the distinct events says ...
        wrong = {k: (v, expected_kpis.get(k)) for k, v in live_kpis.items() if expected_kpis.get(k) != v}
        assert not wrong, f"KPI rows differing from the fold (live, fold): {wrong}"
        assert live_reports == expected_reports
        # ... and once every agency is evaluated (as the deadline check does), every KPI is
        agencies = {d.fact.agency for d in distinct}
        await Projector(SqlUnitOfWork(engine), view(PLAN), "status", "dlq").apply(
            [], NOW, reevaluate=agencies
        )
        await projector.apply([], NOW, reevaluate=agencies)
        assert await live_projection(engine) == (expected_kpis, expected_reports)
        async with engine.connect() as conn:
            inbox = (
                await conn.execute(
                    text("SELECT count(*) FROM aggregator.recorded_events WHERE rejected IS NULL")
                )
            ).scalar()
        assert inbox == len(distinct)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def property_db(database_url: str) -> str:
    return asyncio.run(fresh_database(database_url))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(streams(), st.data())
def test_any_order_batching_and_redelivery_gives_the_projection_of_the_distinct_events(
    property_db, events, data
):
    items = [record(e, offset) for offset, e in enumerate(events, start=1)]
    distinct = [i for i in items if type(i) is Delivered]
    batches = deliveries(data.draw, items)
    restart_at = data.draw(st.none() | st.integers(1, max(1, len(batches) - 1)))
    asyncio.run(run(property_db, batches, restart_at, distinct))
