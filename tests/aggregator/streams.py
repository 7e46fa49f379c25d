"""Event streams and their deliveries for the order-independence property of the projector, on
the fakes (tests/aggregator/unit) and on PostgreSQL (tests/aggregator/integration): distinct
events in the order first sent, then any order, cut into batches, with redeliveries; and what a
from-scratch fold of the distinct events says the projection must be."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from hypothesis import strategies as st

from services.aggregator.adapters.decoding import decode
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import evaluate_agency
from services.aggregator.service_layer.ports import Delivered
from shared.events.codec import to_kafka
from tests.aggregator.helpers import NOW, PLAN, event

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


async def apply_as_arrived(projector, events, now, delay: timedelta = timedelta(hours=1)) -> None:
    """`events` through the projector's real apply path, each recorded `delay` after its time (so
    `as_of` sees what was known then) and never after `now`; no Kafka is needed."""
    by_arrival: dict = {}
    for e in events:
        by_arrival.setdefault(e.time + delay, []).append(e)
    offset = 0
    for moment in sorted(by_arrival):
        batch = []
        for e in by_arrival[moment]:
            offset += 1
            batch.append(record(e, offset))
        await projector.apply(batch, min(moment, now))


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
