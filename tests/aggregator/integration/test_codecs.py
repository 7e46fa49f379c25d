"""The aggregator's timestamptz codec against PostgreSQL's own reading of the same instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from services.aggregator.adapters.codecs import with_lean_codecs
from shared.db import make_engine

pytestmark = pytest.mark.infra
VN = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    "value, literal",
    [
        (datetime(2024, 1, 1, 8, tzinfo=VN), "2024-01-01 01:00:00+00"),
        (datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC), "2024-06-30 23:59:59.999999+00"),
        (datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC), "1999-12-31 23:59:59.000001+00"),
        (datetime(1970, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), "1970-01-01 03:30:00+00"),
        (datetime.max, "infinity"),
        (datetime.min, "-infinity"),
    ],
)
async def test_what_it_writes_is_the_instant_postgresql_reads_and_it_reads_it_back(
    database_url, value, literal
):
    engine = with_lean_codecs(make_engine(database_url))
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            same, back = await raw.fetchrow(
                f"SELECT $1::timestamptz = '{literal}'::timestamptz, '{literal}'::timestamptz", value
            )
            assert same
            assert back == value
            assert back.tzinfo is (UTC if value.tzinfo else None)  # aware values come back in UTC
            # and through SQLAlchemy, as the API's queries read them
            assert (await conn.execute(text(f"SELECT '{literal}'::timestamptz"))).scalar() == value
    finally:
        await engine.dispose()


async def test_naive_times_and_dates_are_local_time_as_asyncpg_takes_them(database_url):
    engine = with_lean_codecs(make_engine(database_url))
    plain = make_engine(database_url)
    try:
        for value in (datetime(2024, 3, 1, 12, 30), date(2024, 3, 1)):
            async with engine.connect() as lean, plain.connect() as default:
                ours = (await lean.execute(text("SELECT (:v)::timestamptz::text"), {"v": value})).scalar()
                theirs = (
                    await default.execute(text("SELECT (:v)::timestamptz::text"), {"v": value})
                ).scalar()
                assert ours == theirs
    finally:
        await engine.dispose()
        await plain.dispose()
