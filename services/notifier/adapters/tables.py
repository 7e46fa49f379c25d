"""SQLAlchemy Core tables of schema `notifier` (the migrations create them by hand)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.audit import audit_table

SCHEMA = "notifier"
metadata = MetaData(schema=SCHEMA)
TS = DateTime(timezone=True)

# Status events already applied, keyed as the contract says: (source, id).
inbox = Table(
    "inbox",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("type", String(200), nullable=False),
    Column("received_at", TS, nullable=False),
)

# Latest KPI status per agency × indicator × period ("at risk two periods running").
kpi_status = Table(
    "kpi_status",
    metadata,
    Column("agency", String(64), primary_key=True),
    Column("indicator", String(64), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("as_of", TS, nullable=False),
    Column("since", TS, nullable=False),  # as_of of the change into this status
    Column("facts", JSONB, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("fingerprint", String(300), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("indicator", String(64)),
    Column("period", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("as_of", TS, nullable=False),
    Column("resolved_at", TS),
    Column("acked_at", TS),
    Column("acked_by", String(320)),
    Column("acked_by_subject", String(320)),
    Column("facts", JSONB, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("agency", String(64)),
    Column("indicator", String(64)),
    Column("period", String(16)),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by_subject", String(320)),
)

# Who acknowledged, silenced or lifted what (issue 17, shared.audit).
audit_log = audit_table(metadata)

# Per leader: the grouping clock and which alert state each was last mailed in.
recipients = Table(
    "recipients",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("first_pending_at", TS),
    Column("last_sent_at", TS),
    Column("delivered", JSONB, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(400), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("message", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sending | sent | failed
    Column("created_at", TS, nullable=False),  # service clock
    Column("enqueued_wall", TS, nullable=False),  # wall clock, for send latency
    Column("next_attempt_at", TS, nullable=False),  # wall clock
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", TS),  # wall clock; a claim older than the lease is taken over
    Column("claimed_by", String(100)),
    Column("sent_at", TS),
    Column("last_error", Text),
    UniqueConstraint("idempotency_key", name="outbox_idempotency_key"),
)

used_ack_tokens = Table(
    "used_ack_tokens",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("used_at", TS, nullable=False),
)
