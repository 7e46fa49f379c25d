"""`Intake.submit` on the in-memory ports (`adapters/memory.py`): every outcome, in milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import pytest

from services.intake.adapters.memory import MemoryCounters, MemoryPublisher, MemoryRegistry
from services.intake.domain.problems import Problem
from services.intake.entrypoints.examples import examples
from services.intake.service_layer.intake import Intake
from services.intake.service_layer.ports import KafkaUnavailable, RegistryUnavailable
from shared.clock import ManualClock
from shared.plan import load_plan
from shared.plan.book import Plans
from shared.plan.index import PlanIndex
from shared.settings import DEFAULT_PLAN

NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")
TOPIC = "progress.events.v1"


@cache
def plan() -> PlanIndex:
    return load_plan(DEFAULT_PLAN).index


async def intake_on_fakes(plans: Plans, now: datetime) -> Intake:
    """`Intake` on its in-memory ports, its clock pinned at `now`."""
    publisher = MemoryPublisher()
    await publisher.start()
    return Intake(
        plans,
        MemoryRegistry(),
        publisher,
        MemoryCounters(),
        events_topic=TOPIC,
        clock=ManualClock(now),
        max_skew=timedelta(minutes=5),
        retry_delay_s=0,
    )


@pytest.fixture
async def intake() -> Intake:
    return await intake_on_fakes(plan(), NOW)


def report(id: str = "r-1", **data) -> dict:
    doc = examples()["indicator.reported"]
    return {**doc, "id": id, "data": {**doc["data"], **data}}


def correction(id: str, corrects: str, value: int = 18) -> dict:
    doc = examples()["indicator.corrected"]
    return {**doc, "id": id, "data": {**doc["data"], "corrects": corrects, "value": value}}


def ids_published(intake: Intake) -> list[bytes]:
    return [dict(r.headers)["ce_id"] for r in intake.publisher.published(TOPIC)]  # type: ignore[attr-defined]


async def test_a_valid_event_is_published_then_recorded(intake):
    [outcome] = await intake.submit([report()], agency="CA-TINH", path="http")
    assert (outcome.status, outcome.event_id, outcome.problem) == ("accepted", "r-1", None)
    assert ids_published(intake) == [b"r-1"]
    known = intake.registry.rows[("/agencies/CA-TINH", "r-1")]  # type: ignore[attr-defined]
    assert (known.type, known.indicator) == ("vn.gov.pcmt.indicator.reported.v1", "drug_cases_detected")
    assert intake.metrics.events == {("http", "CA-TINH", "accepted", ""): 1}  # type: ignore[attr-defined]


async def test_a_resend_is_a_duplicate_and_a_reused_id_says_so(intake):
    await intake.submit([report()], agency="CA-TINH", path="http")
    [same] = await intake.submit([report()], agency="CA-TINH", path="http")
    [other] = await intake.submit([report(value=99)], agency="CA-TINH", path="http")
    assert (same.status, same.detail) == ("duplicate", None)
    assert other.status == "duplicate" and "different content" in (other.detail or "")
    assert ids_published(intake) == [b"r-1"]


async def test_a_repeat_within_one_batch_is_published_once(intake):
    outcomes = await intake.submit([report(), report()], agency="CA-TINH", path="http")
    assert [o.status for o in outcomes] == ["accepted", "duplicate"]
    assert ids_published(intake) == [b"r-1"]


@pytest.mark.parametrize(
    "document, reason",
    [
        ({"oops": True}, "invalid-event"),
        (report(value=-1), "invalid-event"),
        ({**report(), "source": "/agencies/HQ"}, "source-mismatch"),
        (report(value=5000), "value-above-cap"),
        (correction("c-1", "never-sent"), "correction-target-unknown"),
        (Problem("too-large", "the body is too large"), "too-large"),
    ],
)
async def test_a_refused_event_is_neither_published_nor_recorded(intake, document, reason):
    [outcome] = await intake.submit([document], agency="CA-TINH", path="http")
    assert outcome.status == "rejected" and outcome.problem is not None
    assert outcome.problem.reason == reason
    assert ids_published(intake) == [] and intake.registry.rows == {}  # type: ignore[attr-defined]
    assert sum(intake.metrics.events.values()) == 1  # type: ignore[attr-defined]


async def test_the_kafka_door_takes_the_agency_from_the_source(intake):
    foreign = {**report("r-2"), "source": "/agencies/NOBODY"}
    outcomes = await intake.submit([report(), foreign], agency=None, path="kafka")
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    assert intake.metrics.events[("kafka", "CA-TINH", "accepted", "")] == 1  # type: ignore[attr-defined]


async def test_a_correction_finds_its_target_in_the_same_batch_or_the_registry(intake):
    outcomes = await intake.submit([report(), correction("c-1", "r-1")], agency="CA-TINH", path="http")
    [later] = await intake.submit([correction("c-2", "c-1", 19)], agency="CA-TINH", path="http")
    assert [o.status for o in outcomes] + [later.status] == ["accepted"] * 3
    rows = intake.registry.rows  # type: ignore[attr-defined]
    assert rows[("/agencies/CA-TINH", "c-2")].indicator == "drug_cases_detected"  # kept along the chain


async def test_a_check_that_fails_refuses_only_its_event(intake, monkeypatch):
    real = intake.check

    def buggy(document, agency, now):
        if document.get("id") == "r-bug":
            raise RuntimeError("a bug")
        return real(document, agency, now)

    monkeypatch.setattr(intake, "check", buggy)
    outcomes = await intake.submit([report("r-bug"), report()], agency="CA-TINH", path="http")
    assert [(o.status, o.problem and o.problem.reason) for o in outcomes] == [
        ("rejected", "internal-error"),
        ("accepted", None),
    ]


async def test_kafka_down_accepts_nothing_and_records_nothing(intake):
    intake.publisher.down = True  # type: ignore[attr-defined]
    with pytest.raises(KafkaUnavailable):
        await intake.submit([report()], agency="CA-TINH", path="http")
    assert intake.registry.rows == {}  # type: ignore[attr-defined]


async def test_the_registry_down_before_publishing_publishes_nothing(intake):
    intake.registry.down = True  # type: ignore[attr-defined]
    with pytest.raises(RegistryUnavailable) as raised:
        await intake.submit([report()], agency="CA-TINH", path="http")
    assert isinstance(raised.value.__cause__, ConnectionError)  # the raw door tells outages by it
    assert ids_published(intake) == []


async def test_the_registry_down_after_kafka_took_it_is_not_an_acceptance(intake, monkeypatch):
    registry, tries = intake.registry, []

    async def away(rows):
        tries.append(len(rows))
        raise ConnectionRefusedError("away")

    monkeypatch.setattr(registry, "record", away)
    with pytest.raises(RegistryUnavailable):
        await intake.submit([report()], agency="CA-TINH", path="http")
    assert tries == [1, 1, 1] and ids_published(intake) == [b"r-1"]


async def test_the_registry_back_on_a_later_try_accepts(intake, monkeypatch):
    registry, real, tries = intake.registry, intake.registry.record, []

    async def flaky(rows):
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionRefusedError("restarting")
        await real(rows)

    monkeypatch.setattr(registry, "record", flaky)
    [outcome] = await intake.submit([report()], agency="CA-TINH", path="http")
    assert outcome.status == "accepted" and len(tries) == 2
    assert ("/agencies/CA-TINH", "r-1") in registry.rows


async def test_an_error_that_is_no_outage_is_not_hidden(intake, monkeypatch):
    async def bug(source, ids):
        raise RuntimeError("a bug")

    monkeypatch.setattr(intake.registry, "lookup", bug)
    with pytest.raises(RuntimeError):
        await intake.submit([report()], agency="CA-TINH", path="http")
