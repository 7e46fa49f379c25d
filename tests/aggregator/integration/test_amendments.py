"""An amended plan in the running aggregator (issue 20), on real Kafka and PostgreSQL: the police's
target rises from 1 August 2024 (tests/plans.py: QD-15-2024, 105 % → 110 % of 2023). Before that
day the KPI is judged against the plan's own target and `as_of` still shows it so; from it, against
the amended one, naming the amendment; the history lists both versions with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.clock import ManualClock
from tests.aggregator import helpers
from tests.plans import amended_plan, renamed_plan

pytestmark = pytest.mark.infra
VN = timezone(timedelta(hours=7))
JULY, AUGUST = datetime(2024, 7, 20, 9, tzinfo=VN), datetime(2024, 8, 2, 9, tzinfo=VN)
KEY = ("CA-HUONG-HOA", "drug_cases_detected", "2024")


async def test_a_target_raised_on_1_august_judges_from_then_and_the_past_stands(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("amend")
    await helpers.create_topics(kafka_bootstrap, topics)
    clock = ManualClock(JULY)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    async with helpers.running(settings, clock, plan=amended_plan()) as agg:
        await helpers.produce(
            kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [helpers.reported(*KEY, 30, time=JULY)]
        )
        await helpers.until_caught_up(kafka_bootstrap, topics)
        async with helpers.committee_api(agg) as api:

            async def kpi(**params) -> dict:
                items = (
                    await api.get("/v1/kpis", params={"agency": KEY[0], "indicator": KEY[1], **params})
                ).json()
                return next(k for k in items["items"] if k["period"] == "2024")

            july = await kpi()
            assert (july["target"], july["amendment"]) == (50, None)  # ≥ 105 % × 47

            clock.set(AUGUST)
            agg.consumer.force_check.set()  # the periodic check, now

            async def checked():
                return not agg.consumer.force_check.is_set()

            await helpers.wait_until(checked, timeout=30)
            august = await kpi()
            assert (august["target"], august["amendment"]) == (52, "QD-15-2024")  # ≥ 110 % × 47
            assert august["expected"] > july["expected"]
            # the past stands: as it was known and judged on 31 July
            then = await kpi(as_of="2024-07-31")
            assert (then["target"], then["amendment"]) == (50, None)

            history = (await api.get(f"/v1/kpis/{'/'.join(KEY)}/history")).json()
            assert history["target_versions"] == [
                {"from": None, "amendment": None, "reason": None, "target": pytest.approx(49.35)},
                {
                    "from": "2024-08-01",
                    "amendment": "QD-15-2024",
                    "reason": "Quyết định số 15/QĐ-BCĐ nâng chỉ tiêu phát hiện tội phạm về ma túy",
                    "target": pytest.approx(51.7),
                },
            ]


async def test_a_renamed_agency_keeps_its_code_and_is_named_as_it_was_on_each_day(kafka_bootstrap, module_db):
    """tests/plans.py: QD-30-2024 renames the information department from 1 October 2024. Its
    figure goes on under the same code; the scorecard names it as it was on the day asked about."""
    topics = helpers.unique_topics("rename")
    await helpers.create_topics(kafka_bootstrap, topics)
    september = datetime(2024, 9, 20, 9, tzinfo=VN)
    clock = ManualClock(september)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    async with helpers.running(settings, clock, plan=renamed_plan()) as agg:
        events = [
            helpers.reported("STTTT", "propaganda_sessions", "2024-Q3", 3, time=september),
            helpers.reported(
                "STTTT", "propaganda_sessions", "2024-Q4", 4, time=datetime(2024, 10, 5, tzinfo=VN)
            ),
        ]
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events)
        await helpers.until_caught_up(kafka_bootstrap, topics)
        async with helpers.committee_api(agg) as api:

            async def scorecard(**params) -> dict:
                answer = await api.get("/v1/agencies/STTTT/scorecard", params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()

            now = await scorecard()  # the clock says 20 September: the old name
            assert now["name_vi"] == "Sở Thông tin và Truyền thông"
            clock.set(datetime(2024, 10, 20, 9, tzinfo=VN))
            now = await scorecard()
            assert (now["name_vi"], now["name_en"]) == (
                "Sở Khoa học, Công nghệ và Truyền thông",
                "Department of Science, Technology and Communications",
            )
            year = next(f for f in now["figures"] if f["indicator"] == "propaganda_sessions")
            assert year["actual"] == 7  # one figure across the rename: the code did not change
            then = await scorecard(as_of="2024-09-30")
            assert then["name_vi"] == "Sở Thông tin và Truyền thông"
