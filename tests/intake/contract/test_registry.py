"""The `EventRegistry` contract (service_layer/ports.py), on the fake and on PostgreSQL."""

from __future__ import annotations

import pytest

from services.intake.domain.plan_rules import KnownEvent
from services.intake.service_layer.ports import Accepted

A, B = "/agencies/CA-TINH", "/agencies/CA-DAKRONG"


def row(
    source: str, event_id: str, digest: str = "d1", indicator: str | None = "drug_cases_detected"
) -> Accepted:
    return Accepted(source, event_id, "vn.gov.quangtri.tiendo.indicator.reported", indicator, digest)


async def test_an_unknown_id_is_not_found(registry):
    assert await registry.lookup(A, ["nope"]) == {}
    assert await registry.lookup(A, []) == {}


async def test_a_recorded_event_is_found_with_its_type_indicator_and_digest(registry):
    await registry.record([row(A, "e1"), row(A, "e2", "d2", None)])
    found = await registry.lookup(A, ["e1", "e2", "e3"])
    assert found == {
        "e1": KnownEvent("vn.gov.quangtri.tiendo.indicator.reported", "drug_cases_detected", "d1"),
        "e2": KnownEvent("vn.gov.quangtri.tiendo.indicator.reported", None, "d2"),
    }


async def test_another_source_s_ids_are_never_visible(registry):
    await registry.record([row(A, "shared-id")])
    assert await registry.lookup(B, ["shared-id"]) == {}
    await registry.record([row(B, "shared-id", "other")])
    assert (await registry.lookup(A, ["shared-id"]))["shared-id"].digest == "d1"
    assert (await registry.lookup(B, ["shared-id"]))["shared-id"].digest == "other"


async def test_recording_a_known_id_again_keeps_its_first_row(registry):
    await registry.record([row(A, "e1", "first")])
    await registry.record([row(A, "e1", "second"), row(A, "e9", "new")])
    found = await registry.lookup(A, ["e1", "e9"])
    assert found["e1"].digest == "first" and found["e9"].digest == "new"


async def test_recording_nothing_is_harmless(registry):
    await registry.record([])
    assert await registry.lookup(A, ["e1"]) == {}


async def test_a_lookup_repeating_an_id_answers_it_once(registry):
    await registry.record([row(A, "e1")])
    assert list(await registry.lookup(A, ["e1", "e1", "e1"])) == ["e1"]


async def test_an_unreachable_registry_raises_one_of_its_unavailable_errors(registry_down):
    with pytest.raises(registry_down.unavailable):
        await registry_down.lookup(A, ["e1"])
    with pytest.raises(registry_down.unavailable):
        await registry_down.record([row(A, "e1")])
