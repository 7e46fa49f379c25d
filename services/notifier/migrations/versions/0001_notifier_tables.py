"""Notifier tables: inbox, KPI status memory, alerts, silences, recipients, outbox, used ack tokens."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None

S = "notifier"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "kpi_status",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(300), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(64)),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.Column("acked_at", TS),
        sa.Column("acked_by", sa.String(320)),
        sa.Column("facts", JSONB, nullable=False),
        schema=S,
    )
    op.create_index("alerts_agency_state", "alerts", ["agency", "state"], schema=S)
    op.create_table(
        "silences",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("agency", sa.String(64)),
        sa.Column("indicator", sa.String(64)),
        sa.Column("period", sa.String(16)),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "recipients",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("first_pending_at", TS),
        sa.Column("last_sent_at", TS),
        sa.Column("delivered", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=S,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(400), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("enqueued_wall", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_at", TS),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("sent_at", TS),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("idempotency_key", name="outbox_idempotency_key"),
        schema=S,
    )
    op.create_index("outbox_due", "outbox", ["status", "next_attempt_at"], schema=S)
    op.create_table(
        "used_ack_tokens",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.BigInteger, nullable=False),
        sa.Column("used_at", TS, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    for table in ("used_ack_tokens", "outbox", "recipients", "silences", "alerts", "kpi_status", "inbox"):
        op.drop_table(table, schema=S)
