"""The `Inbox` contract: the same tests on the fake and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, timedelta

from services.aggregator.service_layer.ports import Recorded, UnitOfWork
from tests.aggregator.contract.conftest import Seen, delivered, poisoned
from tests.aggregator.helpers import NOW, event, reported

H = timedelta(hours=1)


async def test_a_batch_of_new_facts_is_recorded_whole_and_the_verdict_is_none(uow: UnitOfWork, seen: Seen):
    facts = [delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", v), v) for v in (1, 2, 3)]
    async with uow.begin(NOW) as tx:
        assert await tx.inbox.record_facts(facts) is None
        assert await tx.inbox.record_facts([]) is None
    assert set(await seen.recorded_at("CA-TINH")) == {d.fact.id for d in facts}


async def test_a_redelivery_is_a_repeat_and_a_resend_at_another_position_is_told(uow: UnitOfWork):
    a, b, c = (reported("CA-TINH", "drug_cases_detected", "2024-06", v) for v in (5, 6, 7))
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([delivered(a, 1), delivered(b, 2)])
    async with uow.begin(NOW) as tx:
        verdict = await tx.inbox.record_facts([delivered(a, 1), delivered(b, 9), delivered(c, 3)])
    # a: the same record again; b: sent again, so at another offset; c: new
    assert verdict == Recorded({("/agencies/CA-TINH", c.id)}, {("/agencies/CA-TINH", b.id)})
    async with uow.begin(NOW) as tx:
        [kept] = [f for f in await tx.inbox.load_facts(["CA-TINH"]) if f.id == b.id]
    assert kept.arrival == 2  # the first row of a key is the one kept


async def test_the_same_id_from_another_agency_is_another_event(uow: UnitOfWork):
    first = reported("CA-TINH", "drug_cases_detected", "2024-06", 5, id="same")
    other = reported("CA-HUONG-HOA", "drug_cases_detected", "2024-06", 5, id="same")
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([delivered(first, 1)])
        assert await tx.inbox.record_facts([delivered(other, 2)]) is None


async def test_facts_come_back_as_recorded_for_the_agencies_asked_only(uow: UnitOfWork):
    at = NOW - 3 * H  # given at +07:00: recorded and read back in UTC
    tinh = [
        delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", 4, time=at), 1),
        delivered(
            event(
                "CA-TINH",
                "activity.recorded",
                {"activity": "propaganda_session", "date": "2024-06-10", "participants": 40},
                time=at,
            ),
            2,
        ),
        delivered(event("CA-TINH", "report.submitted", {"period": "2024-05"}, time=at), 3),
    ]
    elsewhere = delivered(reported("UBND-HUONG-HOA", "propaganda_sessions", "2024-06", 2), 4)
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([*tinh, elsewhere])
        await tx.inbox.record_poisons([poisoned(5)])
    async with uow.begin(NOW) as tx:
        loaded = sorted(await tx.inbox.load_facts(["CA-TINH"]), key=lambda f: f.arrival)
        assert await tx.inbox.load_facts([]) == []
        assert [f.id for f in await tx.inbox.load_facts(["UBND-HUONG-HOA", "NOPE"])] == [elsewhere.fact.id]
    assert loaded == [d.fact for d in tinh]
    assert all(f.time.utcoffset() == timedelta(0) and f.time == at.astimezone(UTC) for f in loaded)


async def test_known_by_gives_only_the_facts_recorded_by_then(uow: UnitOfWork):
    early, late = (reported("CA-TINH", "drug_cases_detected", "2024-06", v) for v in (4, 5))
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([delivered(early, 1)])
    async with uow.begin(NOW + 2 * H) as tx:
        await tx.inbox.record_facts([delivered(late, 2)])
    async with uow.begin(NOW + 3 * H) as tx:
        assert [f.id for f in await tx.inbox.load_facts(["CA-TINH"], known_by=NOW + H)] == [early.id]
        assert [f.id for f in await tx.inbox.load_facts(["CA-TINH"], known_by=NOW)] == [early.id]  # inclusive
        assert len(await tx.inbox.load_facts(["CA-TINH"], known_by=NOW - H)) == 0
        assert len(await tx.inbox.load_facts(["CA-TINH"])) == 2


async def test_a_poison_record_is_recorded_once_by_its_position(uow: UnitOfWork):
    async with uow.begin(NOW) as tx:
        assert await tx.inbox.record_poisons([poisoned(7)]) is None
        assert await tx.inbox.record_poisons([]) is None
    async with uow.begin(NOW) as tx:
        verdict = await tx.inbox.record_poisons([poisoned(7), poisoned(8)])
    assert verdict == Recorded({("kafka:events/1", "8")}, set())


async def test_events_are_recorded_at_the_transactions_moment(uow: UnitOfWork, seen: Seen):
    first = reported("CA-TINH", "drug_cases_detected", "2024-06", 1)
    later = reported("CA-TINH", "drug_cases_detected", "2024-06", 2)
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([delivered(first, 1)])
    async with uow.begin(NOW + H) as tx:
        await tx.inbox.record_facts([delivered(later, 2), delivered(first, 1)])
    assert await seen.recorded_at("CA-TINH") == {first.id: NOW, later.id: NOW + H}


async def _tail(tx, agency: str, after: int) -> list[str]:
    return [f.id async for chunk in tx.inbox.tail(agency, after) for f in chunk]


async def test_the_tail_after_a_position_holds_only_what_was_recorded_later(uow: UnitOfWork):
    first, second, third = (reported("CA-TINH", "drug_cases_detected", f"2024-0{m}", m) for m in (1, 2, 3))
    other = reported("CA-HUONG-HOA", "drug_cases_detected", "2024-06", 9)
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts([delivered(first, 1), delivered(other, 2)])
        assert await _tail(tx, "CA-TINH", 0) == [first.id]
        upto = await tx.inbox.position("CA-TINH")
        assert upto > 0 and await _tail(tx, "CA-TINH", upto) == []
        assert await tx.inbox.position("NOPE") == 0 and await _tail(tx, "NOPE", 0) == []
    async with uow.begin(NOW + H) as tx:
        await tx.inbox.record_facts([delivered(second, 3)])
        await tx.inbox.record_poisons([poisoned(4)])
        await tx.inbox.record_facts([delivered(third, 5), delivered(first, 1)])  # a repeat is not new
        assert await _tail(tx, "CA-TINH", upto) == [second.id, third.id]
        assert await tx.inbox.position("CA-TINH") > upto


async def test_a_long_tail_comes_in_chunks(uow: UnitOfWork):
    from services.aggregator.service_layer.turns import FACTS_PER_TURN

    many = [
        delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", 1), n)
        for n in range(FACTS_PER_TURN + 5)
    ]
    async with uow.begin(NOW) as tx:
        await tx.inbox.record_facts(many)
        sizes = [len(chunk) async for chunk in tx.inbox.tail("CA-TINH", 0)]
    assert sizes == [FACTS_PER_TURN, 5]


async def test_a_snapshot_is_kept_per_agency_with_the_transaction(uow: UnitOfWork):
    from services.aggregator.service_layer.ports import Snapshot

    async with uow.begin(NOW) as tx:
        assert await tx.inbox.load_snapshots(["CA-TINH"]) == {}
        await tx.inbox.save_snapshot("CA-TINH", Snapshot(7, 3, b"\x01state"), NOW)
        await tx.inbox.save_snapshot("CA-TINH", Snapshot(9, 4, b"\x02state"), NOW)  # replaces it
    try:
        async with uow.begin(NOW) as tx:
            await tx.inbox.save_snapshot("CA-HUONG-HOA", Snapshot(1, 1, b"x"), NOW)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    async with uow.begin(NOW) as tx:
        assert await tx.inbox.load_snapshots(["CA-TINH", "CA-HUONG-HOA"]) == {
            "CA-TINH": Snapshot(9, 4, b"\x02state")
        }
