"""The `ProjectionStore`, `Outbox` and `UnitOfWork` contract: the same tests on the fake and on
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.aggregator.domain.kpi import Kpi, Report
from services.aggregator.service_layer.ports import UnitOfWork
from shared.events.codec import KafkaRecord
from shared.events.models import KpiStatus, ReportStatus
from tests.aggregator.contract.conftest import Seen, delivered
from tests.aggregator.helpers import NOW, reported

H = timedelta(hours=1)
DUE = NOW + 240 * H


def kpi(agency: str = "CA-TINH", actual: float = 4.0, status: KpiStatus = KpiStatus.LAGGING) -> Kpi:
    return Kpi(agency, "drug_cases_detected", "2024", actual, 191.5, 90.0, 120.0, status, DUE)


def report(agency: str = "CA-TINH", status: ReportStatus = ReportStatus.PENDING) -> Report:
    return Report(agency, "2024-05", status, DUE, NOW if status == ReportStatus.SUBMITTED else None)


async def test_an_agency_starts_at_version_zero_and_each_bump_gives_a_greater_one(uow: UnitOfWork):
    async with uow.begin(NOW) as tx:
        assert await tx.projections.lock_agencies([]) == {}
        assert await tx.projections.lock_agencies(["CA-TINH", "BDBP", "CA-TINH"]) == {"BDBP": 0, "CA-TINH": 0}
        first = await tx.projections.bump_versions(["CA-TINH", "BDBP"])
        assert await tx.projections.bump_versions([]) == {}
    assert set(first) == {"BDBP", "CA-TINH"} and min(first.values()) > 0 and len(set(first.values())) == 2
    async with uow.begin(NOW) as tx:
        assert await tx.projections.lock_agencies(["CA-TINH"]) == {"CA-TINH": first["CA-TINH"]}
        again = await tx.projections.bump_versions(["CA-TINH"])
    assert again["CA-TINH"] > max(first.values())
    async with uow.begin(NOW) as tx:
        assert await tx.projections.lock_agencies(["CA-TINH", "BDBP"]) == {
            "CA-TINH": again["CA-TINH"],
            "BDBP": first["BDBP"],
        }


async def test_kpis_and_reports_are_replaced_by_key_and_statuses_read_per_agency(uow: UnitOfWork, seen: Seen):
    async with uow.begin(NOW) as tx:
        await tx.projections.save_kpis([kpi(), kpi("BDBP", 1.0, KpiStatus.AT_RISK)], NOW)
        await tx.projections.save_reports([report(), report("BDBP")], NOW)
        await tx.projections.save_kpis([], NOW)
    async with uow.begin(NOW + H) as tx:
        await tx.projections.save_kpis([kpi(actual=200.0, status=KpiStatus.ACHIEVED)], NOW + H)
        await tx.projections.save_reports([report(status=ReportStatus.SUBMITTED)], NOW + H)
        statuses = await tx.projections.load_statuses(["CA-TINH", "NOPE"])
        assert await tx.projections.load_statuses([]) == ({}, {})
    assert statuses == (
        {("CA-TINH", "drug_cases_detected", "2024"): KpiStatus.ACHIEVED},
        {("CA-TINH", "2024-05"): ReportStatus.SUBMITTED},
    )
    assert await seen.kpi_figures() == {
        ("CA-TINH", "drug_cases_detected", "2024"): (200.0, 191.5, 90.0, 120.0, "achieved", DUE),
        ("BDBP", "drug_cases_detected", "2024"): (1.0, 191.5, 90.0, 120.0, "at_risk", DUE),
    }
    assert (await seen.reports())[("CA-TINH", "2024-05")] == ("submitted", DUE, NOW)


async def test_the_outbox_keeps_records_in_order_with_any_bytes_their_headers_hold(
    uow: UnitOfWork, seen: Seen
):
    odd = [("ce_id", b"a\x00b"), ("x-raw", b"\xff\xfe"), ("empty", b"")]
    async with uow.begin(NOW) as tx:
        await tx.outbox.enqueue(
            "status", [KafkaRecord(b"CA-TINH", b"1", []), KafkaRecord(None, b"2", odd)], NOW
        )
        await tx.outbox.enqueue("dlq", [], NOW)
        await tx.outbox.enqueue("dlq", [KafkaRecord(b"k", b"\x00", [])], NOW)
    assert await seen.outbox() == [
        ("status", b"CA-TINH", b"1", []),
        ("status", None, b"2", odd),
        ("dlq", b"k", b"\x00", []),
    ]


async def test_a_transaction_that_raises_leaves_nothing_behind(uow: UnitOfWork, seen: Seen):
    fact = delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", 4), 1)
    with pytest.raises(RuntimeError):
        async with uow.begin(NOW) as tx:
            await tx.projections.lock_agencies(["CA-TINH"])
            await tx.inbox.record_facts([fact])
            await tx.projections.save_kpis([kpi()], NOW)
            await tx.projections.save_reports([report()], NOW)
            await tx.projections.bump_versions(["CA-TINH"])
            await tx.outbox.enqueue("status", [KafkaRecord(b"k", b"v", [])], NOW)
            raise RuntimeError("the batch failed half-way")
    assert (await seen.outbox(), await seen.kpi_figures(), await seen.reports()) == ([], {}, {})
    async with uow.begin(NOW) as tx:
        assert await tx.projections.lock_agencies(["CA-TINH"]) == {"CA-TINH": 0}
        assert await tx.inbox.load_facts(["CA-TINH"]) == []
        assert await tx.inbox.record_facts([fact]) is None  # new again


async def test_the_store_is_reachable(uow: UnitOfWork):
    assert await uow.reachable()
