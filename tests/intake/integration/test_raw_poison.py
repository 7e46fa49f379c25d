"""Issue 14 on intake's raw topic: a record PostgreSQL refuses (a NUL in ce_id) is dead-lettered,
not taken for "registry unavailable" and re-read for ever; the valid record behind it is
forwarded; the registry really being away still never dead-letters anything; /readyz is honest."""

from __future__ import annotations

import asyncpg
import pytest

from services.intake.service_layer.ports import KafkaUnavailable  # noqa: F401 - the outage type, for readers
from shared.deadletter import read_dead_letter
from tests.intake.integration.conftest import start_service
from tests.intake.integration.test_raw_topic import _seen, _zero, binary, committed_lag, produce, until

pytestmark = pytest.mark.infra


@pytest.fixture
async def service(intake_db, kafka_bootstrap):
    async for s in start_service(intake_db, kafka_bootstrap, TIENDO_POISON_ATTEMPTS=3):
        yield s


def _with_id(record, raw_id: bytes) -> tuple:
    return record.key, record.value, [(n, raw_id if n == "ce_id" else v) for n, v in record.headers]


async def test_a_nul_in_ce_id_is_dead_lettered_and_the_record_behind_it_forwarded(service):
    bad = _with_id(binary("report.submitted", id="placeholder"), b"raw-nul\x00id")
    good = binary("report.submitted", id="raw-behind-nul")
    await produce(service, [bad, (good.key, good.value, good.headers)])
    await until(lambda: _seen(service, b"raw-behind-nul"), timeout=40)
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    [letter] = [r for r in dead if dict(r.headers).get("ce_id") == b"raw-nul\x00id"]
    info = read_dead_letter(letter.headers)
    assert info.service == "intake" and info.reason  # the contract's refusal, or a record-level failure
    assert info.topic == service.settings.raw_topic and letter.value == bad[1]
    await until(lambda: _zero(committed_lag(service)))
    assert (await service.client.get("/readyz")).status_code == 200


async def test_a_data_error_of_one_record_is_not_an_outage(service, monkeypatch):
    """Even if the contract let the record through, a PostgreSQL refusal of its data is the
    record's fault: after the attempts it is dead-lettered, and the records around it flow on."""
    registry = service.container.intake.registry
    real, tries = registry.lookup, []

    async def refuses(source, ids):
        if "raw-refused" in set(ids):
            tries.append(1)
            raise asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")
        return await real(source, ids)

    monkeypatch.setattr(registry, "lookup", refuses)
    batch = [
        binary("report.submitted", id=i) for i in ("raw-before-refused", "raw-refused", "raw-after-refused")
    ]
    await produce(service, [(r.key, r.value, r.headers) for r in batch])
    await until(lambda: _seen(service, b"raw-after-refused"), timeout=40)
    assert await _seen(service, b"raw-before-refused")
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    [letter] = [r for r in dead if dict(r.headers).get("ce_id") == b"raw-refused"]
    info = read_dead_letter(letter.headers)
    assert (info.reason, info.attempts) == (
        "internal-error",
        3,
    ) and "UntranslatableCharacterError" in info.detail
    await until(lambda: _zero(committed_lag(service)))
    metrics = (await service.client.get("/metrics/")).text
    assert 'tiendo_dlq_writes_total{reason="internal-error",service="intake"}' in metrics


async def test_the_registry_away_is_waited_out_never_dead_lettered(service, monkeypatch):
    registry = service.container.intake.registry
    real, tries = registry.lookup, []

    async def away(source, ids):
        if "raw-waits" in set(ids) and len(tries) < 3:
            tries.append(1)
            raise ConnectionRefusedError("database away")
        return await real(source, ids)

    monkeypatch.setattr(registry, "lookup", away)
    record = binary("report.submitted", id="raw-waits")
    await produce(service, [(record.key, record.value, record.headers)])
    await until(lambda: _seen(service, b"raw-waits"), timeout=40)
    assert len(tries) == 3
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    assert not [r for r in dead if dict(r.headers).get("ce_id") == b"raw-waits"]


async def test_a_record_over_the_event_size_limit_is_dead_lettered_as_too_large(service):
    """As HTTP answers 413: an event too large to be one is refused at the door, not forwarded (a
    record near the broker's limit could not be written to the canonical topic at all)."""
    limit = service.settings.max_event_bytes
    big = binary("report.submitted", id="raw-too-large")
    headers = [*big.headers, ("ce_padding", b"x" * limit)]
    good = binary("report.submitted", id="raw-behind-too-large")
    await produce(service, [(big.key, big.value, headers), (good.key, good.value, good.headers)])
    await until(lambda: _seen(service, b"raw-behind-too-large"), timeout=40)
    assert not await _seen(service, b"raw-too-large")
    dead = await service.read(service.settings.dlq_topic, 100, timeout=3)
    [letter] = [r for r in dead if dict(r.headers).get("ce_id") == b"raw-too-large"]
    info = read_dead_letter(letter.headers)
    assert info.reason == "too-large" and str(limit) in info.detail
