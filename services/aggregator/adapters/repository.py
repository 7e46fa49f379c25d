"""Reads and writes of the aggregator's tables; every function runs inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.aggregator.adapters.tables import (
    SCHEMA,
    agency_versions,
    kpis,
    outbox,
    reports,
    version_seq,
)
from services.aggregator.domain.baselines import BaselineKey, due_to_freeze, frozen_figures, sources_of
from services.aggregator.domain.facts import Fact
from services.aggregator.domain.kpi import Kpi, Report
from services.aggregator.service_layer.ports import Recorded
from services.aggregator.service_layer.turns import FACTS_PER_TURN, in_turns
from shared.deadletter import clean_text
from shared.events.codec import KafkaRecord
from shared.events.models import KpiStatus, ReportStatus, agency_source
from shared.plan.book import Plans


async def lock_agencies(conn: AsyncConnection, agencies: Iterable[str]) -> dict[str, int]:
    """Row-lock the agencies (in a fixed order: no deadlock between replicas); their versions."""
    names = sorted(set(agencies))
    if not names:
        return {}
    await conn.execute(
        insert(agency_versions).on_conflict_do_nothing(), [{"agency": a, "version": 0} for a in names]
    )
    rows = await conn.execute(
        select(agency_versions.c.agency, agency_versions.c.version)
        .where(agency_versions.c.agency.in_(names))
        .order_by(agency_versions.c.agency)
        .with_for_update()
    )
    return dict(rows.all())


async def bump_versions(conn: AsyncConnection, agencies: Iterable[str]) -> dict[str, int]:
    names = sorted(set(agencies))
    if not names:
        return {}
    rows = await conn.execute(
        agency_versions.update()
        .where(agency_versions.c.agency.in_(names))
        .values(version=version_seq.next_value())
        .returning(agency_versions.c.agency, agency_versions.c.version)
    )
    return dict(rows.all())


# what an inbox row is made of: a fact's columns, or a dead letter's (PostgreSQL fills `recorded_at`)
FACT_COLUMNS = ("source", "id", "agency", "kind", "time", "arrival", "partition", "offset", "data")
POISON_COLUMNS = ("source", "id", "agency", "arrival", "partition", "offset", "rejected")


async def record(
    conn: AsyncConnection, rows: Sequence[tuple], columns: Sequence[str] = FACT_COLUMNS
) -> Recorded | None:
    """Insert into the inbox; None when every key was new.

    The common case, no key recorded before, is one COPY straight into the table. A repeat
    (a redelivery, an agency's resend) fails it on the primary key: then the rows go through a
    staging table and one INSERT .. ON CONFLICT DO NOTHING, which skips the repeats."""
    if not rows:
        return None
    raw = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # outside it, ON COMMIT DELETE ROWS would empty the staging table
        raise RuntimeError("record() must run inside the batch transaction")
    await raw.execute("SAVEPOINT inbox")
    try:
        await raw.copy_records_to_table("recorded_events", schema_name=SCHEMA, columns=columns, records=rows)
        return None
    except UniqueViolationError:
        await raw.execute("ROLLBACK TO SAVEPOINT inbox")
    await raw.execute(
        "CREATE TEMP TABLE IF NOT EXISTS inbox_batch "
        "(LIKE aggregator.recorded_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await raw.copy_records_to_table("inbox_batch", columns=columns, records=rows)
    new = await raw.fetch(
        "INSERT INTO aggregator.recorded_events SELECT * FROM inbox_batch "
        "ON CONFLICT DO NOTHING RETURNING source, id"
    )
    moved = await raw.fetch(
        "SELECT source, id FROM inbox_batch b JOIN aggregator.recorded_events r "
        "USING (source, id) WHERE r.arrival <> b.arrival"
    )
    return Recorded(set(map(tuple, new)), set(map(tuple, moved)))


def fact_rows(items: Iterable[Any]) -> list[tuple]:
    """The inbox rows (`FACT_COLUMNS`) of `Delivered` records."""
    return [
        (f.source, f.id, f.agency, f.kind, f.time, f.arrival, i.partition, i.offset, i.data_json)
        for i in items
        for f in (i.fact,)
    ]


def poison_row(p: Any) -> tuple:
    """An inbox row (`POISON_COLUMNS`) of a `Poison` record: keyed by its position, with the reason
    (made safe for a text column: nothing the record held may keep its dead letter from being stored)."""
    return (
        p.source,
        p.id,
        p.agency,
        p.offset,
        p.partition,
        p.offset,
        clean_text(f"{p.reason}: {p.detail}" if p.detail else p.reason, 1000),
    )


# JSON into plain dicts, lists and numbers, as json.loads gives, in about a third of its time
decode_json = msgspec.json.Decoder().decode

_FACTS = "SELECT source, id, agency, kind, time, arrival, data FROM aggregator.{table} WHERE rejected IS NULL"


async def load_facts(
    conn: AsyncConnection,
    agencies: Iterable[str] | None = None,
    until: datetime | None = None,
    table: str = "recorded_events",
    known_by: datetime | None = None,
) -> list[Fact]:
    """Accepted facts (of some agencies; with event time <= `until`; recorded by the moment
    `known_by`, i.e. what the system knew then).

    Straight through asyncpg, the data decoded by msgspec: a replica given agencies by a
    rebalance (or starting) loads their facts, a million in seconds rather than half a minute."""
    sql, args = _FACTS.format(table=table), []
    if agencies is not None:  # by source: the primary key's index finds them
        args.append(sorted({agency_source(a) for a in agencies}))
        sql += f" AND source = ANY(${len(args)})"
    if until is not None:
        args.append(until)
        sql += f" AND time <= ${len(args)}"
    if known_by is not None:
        args.append(known_by)
        sql += f" AND recorded_at <= ${len(args)}"
    raw = (await conn.get_raw_connection()).driver_connection
    facts: list[Fact] = []
    async for rows in in_turns(await raw.fetch(sql, *args), FACTS_PER_TURN):  # a million take seconds
        facts += [
            Fact(source, id, agency, kind, time, arrival, decode_json(data))
            for source, id, agency, kind, time, arrival, data in rows
        ]
    return facts


async def tail(conn: AsyncConnection, agency: str, after: int) -> AsyncIterator[list[Fact]]:
    """The agency's accepted facts recorded after position `after` (their `seq`), in chunks of
    FACTS_PER_TURN through a cursor of the transaction: memory holds one chunk, whatever the
    agency's history (a first load after migration 0007 reads all of it)."""
    raw = (await conn.get_raw_connection()).driver_connection
    sql = (
        "SELECT source, id, agency, kind, time, arrival, data FROM aggregator.recorded_events "
        "WHERE source = $1 AND seq > $2 AND rejected IS NULL"
    )
    # plan for every row, not the first tenth (a cursor's default): a first load reads them all
    await raw.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    cursor = await raw.cursor(sql, agency_source(agency), after)
    while rows := await cursor.fetch(FACTS_PER_TURN):  # a list per round trip, not a row at a time
        yield [
            Fact(source, id, agency_, kind, time, arrival, decode_json(data))
            for source, id, agency_, kind, time, arrival, data in rows
        ]


async def position(conn: AsyncConnection, agency: str) -> int:
    raw = (await conn.get_raw_connection()).driver_connection
    found = await raw.fetchval(
        "SELECT max(seq) FROM aggregator.recorded_events WHERE source = $1", agency_source(agency)
    )
    return found or 0


async def load_snapshots(conn: AsyncConnection, agencies: Iterable[str]) -> dict[str, tuple[int, int, bytes]]:
    """The agencies' ledger snapshots: (position folded up to, facts folded, state)."""
    raw = (await conn.get_raw_connection()).driver_connection
    rows = await raw.fetch(
        "SELECT agency, upto, facts, state FROM aggregator.ledger_snapshots WHERE agency = ANY($1)",
        sorted(set(agencies)),
    )
    return {r["agency"]: (r["upto"], r["facts"], r["state"]) for r in rows}


async def save_snapshot(
    conn: AsyncConnection, agency: str, upto: int, facts: int, state: bytes, now: datetime
) -> None:
    raw = (await conn.get_raw_connection()).driver_connection
    await raw.execute(
        "INSERT INTO aggregator.ledger_snapshots (agency, upto, facts, state, taken_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agency) DO UPDATE SET upto = excluded.upto, "
        "facts = excluded.facts, state = excluded.state, taken_at = excluded.taken_at",
        agency,
        upto,
        facts,
        state,
        now,
    )


async def recorded_times(conn: AsyncConnection, agency: str) -> dict[str, datetime]:
    """When each of an agency's accepted events was recorded (by the aggregator's clock)."""
    raw = (await conn.get_raw_connection()).driver_connection
    rows = await raw.fetch(
        "SELECT id, recorded_at FROM aggregator.recorded_events WHERE source = $1 AND rejected IS NULL",
        agency_source(agency),
    )
    return {r["id"]: r["recorded_at"] for r in rows}


async def load_statuses(conn: AsyncConnection, agencies: Iterable[str]):
    names = sorted(set(agencies))
    k = await conn.execute(
        select(kpis.c.agency, kpis.c.indicator, kpis.c.period, kpis.c.status).where(kpis.c.agency.in_(names))
    )
    r = await conn.execute(
        select(reports.c.agency, reports.c.period, reports.c.status).where(reports.c.agency.in_(names))
    )
    return (
        {(a, i, p): KpiStatus(s) for a, i, p, s in k.all()},
        {(a, p): ReportStatus(s) for a, p, s in r.all()},
    )


async def save_kpis(conn: AsyncConnection, items: Sequence[Kpi], now: datetime, table=kpis) -> None:
    if not items:
        return
    rows = [
        {
            "agency": k.agency,
            "indicator": k.indicator,
            "period": k.period,
            "actual": k.actual,
            "target": k.target,
            "expected": k.expected,
            "forecast": k.forecast,
            "status": k.status.value,
            "due": k.due,
            "evaluated_at": now,
        }
        for k in items
    ]
    stmt = insert(table)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["agency", "indicator", "period"],
            set_={
                c: stmt.excluded[c]
                for c in ("actual", "target", "expected", "forecast", "status", "due", "evaluated_at")
            },
        ),
        rows,
    )


async def save_reports(conn: AsyncConnection, items: Sequence[Report], now: datetime, table=reports) -> None:
    if not items:
        return
    rows = [
        {
            "agency": r.agency,
            "period": r.period,
            "status": r.status.value,
            "deadline": r.deadline,
            "submitted_at": r.submitted_at,
            "evaluated_at": now,
        }
        for r in items
    ]
    stmt = insert(table)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["agency", "period"],
            set_={c: stmt.excluded[c] for c in ("status", "deadline", "submitted_at", "evaluated_at")},
        ),
        rows,
    )


async def enqueue(conn: AsyncConnection, topic: str, records: Sequence[KafkaRecord], now: datetime) -> None:
    if not records:
        return
    await conn.execute(
        outbox.insert(),
        [
            {
                "topic": topic,
                "key": r.key,
                "value": r.value,
                "created_at": now,
                "headers": encode_headers(r.headers),
            }
            for r in records
        ],
    )


# Headers are kept as msgpack in bytea (migration 0004): any bytes a record's header held (NUL,
# invalid UTF-8) are stored and relayed as they are; text or JSON columns refuse a NUL.
_pack_headers = msgspec.msgpack.Encoder().encode
_unpack_headers = msgspec.msgpack.Decoder(list[tuple[str, bytes]]).decode


def encode_headers(headers: Iterable[tuple[str, bytes | None]]) -> bytes:
    """`[(name, bytes)]` as stored in `outbox.headers`; a name is made encodable (Kafka's are UTF-8)."""
    return _pack_headers(
        [(name.encode("utf-8", "replace").decode("utf-8"), bytes(value or b"")) for name, value in headers]
    )


def decode_headers(headers: Any) -> list[tuple[str, bytes]]:
    """`outbox.headers` back to `[(name, bytes)]` (also the JSON form rows had before 0004)."""
    if isinstance(headers, (bytes, memoryview)):
        return _unpack_headers(bytes(headers))
    if isinstance(headers, str):
        headers = json.loads(headers)
    return [(name, value.encode("latin-1")) for name, value in headers]


async def checksum(conn: AsyncConnection, suffix: str = "") -> str:
    """md5 over the projection's content (facts, KPI figures, report statuses), order-free."""
    parts = []
    for table, columns in (
        ("recorded_events", "source, id, agency, kind, time, data, rejected"),
        ("kpis", "agency, indicator, period, actual, target, expected, forecast, status"),
        ("reports", "agency, period, status, deadline, submitted_at"),
    ):
        row = await conn.execute(
            text(
                f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                f"FROM (SELECT {columns} FROM aggregator.{table}{suffix}) t"
            )
        )
        count, digest = row.one()
        parts.append(f"{table}:{count}:{digest}")
    return "|".join(parts)


async def frozen_baselines(
    conn: AsyncConnection, plans: Plans, agencies: Iterable[str], now: datetime
) -> dict[str, dict[BaselineKey, float | None]]:
    """Per agency, its recorded baselines frozen by `now`, from the live inbox's facts recorded by
    their moment (`domain/baselines.py`); agencies with none are left out."""
    out: dict[str, dict[BaselineKey, float | None]] = {}
    for agency in agencies:
        for moment, keys in due_to_freeze(plans, agency, now).items():
            facts = await load_facts(conn, sources_of(plans, agency, keys), known_by=moment)
            out.setdefault(agency, {}).update(frozen_figures(facts, plans, agency, keys))
    return out
