"""API tokens (hashes only) and the accepted-event registry."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Text, primary_key=True),  # public half of the token, for lookup
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),  # argon2id of the secret half
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("api_tokens_agency", "api_tokens", ["agency"], schema=SCHEMA)
    op.create_table(
        "accepted_events",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("indicator", sa.Text),  # for corrections: which indicator's cap applies
        sa.Column("digest", sa.Text, nullable=False),  # tells a true re-send from a reused id
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("accepted_events", schema=SCHEMA)
    op.drop_table("api_tokens", schema=SCHEMA)
