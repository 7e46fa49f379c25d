"""Every target of the plan has a KPI row from the start, events or not: an agency that never
sends anything shows as behind (issue 15), with the statuses of docs/aggregator.md."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.aggregator.adapters.tables import kpis
from tests.aggregator.helpers import PLAN, create_topics, running, settings_for, unique_topics, wait_until

pytestmark = pytest.mark.infra


async def test_agencies_that_never_report_have_every_kpi_and_show_as_behind(kafka_bootstrap, module_db):
    topics = unique_topics("silent")
    await create_topics(kafka_bootstrap, topics)
    settings = settings_for(kafka_bootstrap, module_db, topics, AGGREGATOR_DEADLINE_CHECK_SECONDS=0.2)
    async with running(settings) as agg:  # 20 June 2024, 08:00; not one event on the topic

        async def rows():
            async with agg.engine.connect() as conn:
                found = {
                    (r.agency, r.indicator, r.period): r for r in (await conn.execute(select(kpis))).all()
                }
            return found if len(found) == len(PLAN.targets) else None

        found = await wait_until(rows, timeout=60, every=0.3)
    assert set(found) == {(t.agency, t.indicator, t.period) for t in PLAN.targets}
    seen = {key: (r.status, r.actual, r.target, r.expected) for key, r in found.items()}
    # 2 inspections due in H1, none by its end (14 June; the Q2 report was due 19 June): missed
    assert seen["SLDTBXH", "inspections_conducted", "2024-H1"] == ("missed", 0, 2, 2)
    # 1 session in Q2, none (the June report was due 17 June): missed
    assert seen["UBND-HUONG-HOA", "propaganda_sessions", "2024-Q2"] == ("missed", 0, 1, 1)
    # 105 % of 47 cases: 50 for the year, 25 due by 14 June, none: lagging
    assert seen["CA-HUONG-HOA", "drug_cases_detected", "2024"] == ("lagging", 0, 50, 25)
    # a ratio whose denominator never came: no data, no target
    assert seen["CA-TINH", "compulsory_rehab_dossiers", "2024"] == ("no_data", 0, None, None)
    # the July session of a commune: its window began on 15 June, nothing is expected yet
    assert seen["UBND-KHE-SANH", "propaganda_sessions", "2024-07"] == ("on_track", 0, 1, 0)
