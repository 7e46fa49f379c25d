"""The aggregator's tables (schema `aggregator`), SQLAlchemy Core.

`recorded_events` is inbox, fact store and audit trail at once: its primary key `(source, id)`
drops repeats, its rows are what every figure is folded from; an agency's facts are found
through it too (their source is `/agencies/{agency}`). `agency_versions` is bumped
(from one sequence) whenever an agency's facts change, so a replica knows when its cached
ledger of that agency is stale (after a rebalance or a rebuild).
"""

from __future__ import annotations

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Column,
    Float,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    Table,
    Text,
    text,
)

from shared.audit import audit_table

SCHEMA = "aggregator"
metadata = MetaData(schema=SCHEMA)
TZ = TIMESTAMP(timezone=True)

version_seq = Sequence("version_seq", metadata=metadata)
fact_seq = Sequence("fact_seq", metadata=metadata)  # the order facts were recorded in (migration 0007)

recorded_events = Table(
    "recorded_events",
    metadata,
    Column("source", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("agency", Text),
    Column("kind", Text),  # reported, corrected, activity, assessed, submitted; NULL if rejected
    Column("time", TZ),
    Column("arrival", BigInteger, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("data", LargeBinary),  # UTF-8 JSON as the agency sent it; in SQL: convert_from(data, 'UTF8')::json
    Column("rejected", Text),  # the reason it went to the dead-letter topic
    # the aggregator's clock when the batch recorded it (migration 0005): what `?as_of=` reads
    Column(
        "recorded_at",
        TZ,
        nullable=False,
        server_default=text(
            "coalesce(nullif(current_setting('aggregator.now', true), '')::timestamptz, now())"
        ),
    ),
    Column("seq", BigInteger, nullable=False, server_default=text("nextval('aggregator.fact_seq')")),
)

agency_versions = Table(
    "agency_versions",
    metadata,
    Column("agency", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

kpis = Table(
    "kpis",
    metadata,
    Column("agency", Text, primary_key=True),
    Column("indicator", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("actual", Float, nullable=False),
    Column("target", Float),
    Column("expected", Float),
    Column("forecast", Float),
    Column("status", Text, nullable=False),
    Column("due", TZ),
    Column("evaluated_at", TZ, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("agency", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("deadline", TZ, nullable=False),
    Column("submitted_at", TZ),
    Column("evaluated_at", TZ, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary, nullable=False),
    Column(
        "headers", LargeBinary, nullable=False
    ),  # msgpack [[name, bytes], ...] (repository.encode_headers)
    Column("created_at", TZ, nullable=False),
)

# An agency's ledger as folded from its facts up to `upto` (their `seq`): a replica loads it and
# the facts after it (domain/snapshots.py). Taken again once a load had many facts to fold.
ledger_snapshots = Table(
    "ledger_snapshots",
    metadata,
    Column("agency", Text, primary_key=True),
    Column("upto", BigInteger, nullable=False),
    Column("facts", BigInteger, nullable=False),  # how many facts it holds folded (for operators)
    Column("state", LargeBinary, nullable=False),
    Column("taken_at", TZ, nullable=False),
)

# Rebuilt from the topic by `tiendo aggregator rebuild`, then swapped in (the outbox is not); the
# snapshots of the old facts go with them (the rebuilt table starts with none).
PROJECTION_TABLES = ("recorded_events", "agency_versions", "kpis", "reports", "ledger_snapshots")

# Who read which agency's figures (issue 17, shared.audit).
audit_log = audit_table(metadata)
