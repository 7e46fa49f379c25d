"""A record whose handling raises (a bug, not bad data) is dead-lettered alone; its partition flows on."""

from __future__ import annotations

import pytest

from tests.aggregator import helpers

pytestmark = pytest.mark.infra


async def test_a_record_that_trips_a_bug_goes_to_the_dlq_alone(kafka_bootstrap, module_db, monkeypatch):
    helpers.plant_a_ledger_bug(monkeypatch)

    topics = helpers.unique_topics("bug")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    events = [
        helpers.reported("CA-TINH", "drug_cases_detected", "2024", v, id=f"ok-{v}") for v in range(1, 6)
    ]
    events.insert(2, helpers.reported("CA-TINH", "drug_cases_detected", "2024", 99, id=helpers.BUGGY_FACT))
    async with helpers.running(helpers.settings_for(kafka_bootstrap, module_db, topics)) as agg:
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events)
        await helpers.until_caught_up(kafka_bootstrap, topics)
        dead = await helpers.consume_all(
            kafka_bootstrap, topics["TIENDO_DLQ_TOPIC"], decode=False, until=lambda rs: len(rs) >= 1
        )
        assert [dict(r.headers)["ce_id"] for r in dead] == [b"trips-a-bug"]
        letter = dict(dead[0].headers)
        assert letter["dlq_reason"] == b"processing-failed" and letter["dlq_attempts"] == b"3"
        assert b"ZeroDivisionError: simulated bug" in letter["dlq_detail"]
        applied = "SELECT count(*) FROM aggregator.recorded_events WHERE rejected IS NULL"
        assert await helpers.count(agg.engine, applied) == 5
