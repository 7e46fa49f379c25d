"""People's local accounts (issue 17): the embedded identity store, argon2id password hashes only."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("login", sa.Text, primary_key=True),  # lower case; never reused (disabled rows stay)
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("agency", sa.Text),  # a leader's agency; none for the committee and operators
        sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, never the password
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('committee', 'leader', 'operator')", name="accounts_role"),
        sa.CheckConstraint("(role = 'leader') = (agency IS NOT NULL)", name="accounts_leader_agency"),
        sa.CheckConstraint("login = lower(login)", name="accounts_login_lower"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("accounts", schema=SCHEMA)
