"""KPI status memory: since when the status holds, and the figures that came with it."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("kpi_status", sa.Column("since", sa.DateTime(timezone=True)), schema="notifier")
    op.add_column("kpi_status", sa.Column("facts", JSONB), schema="notifier")
    op.execute("UPDATE notifier.kpi_status SET since = as_of, facts = '{}'::jsonb")
    op.alter_column("kpi_status", "since", nullable=False, schema="notifier")
    op.alter_column("kpi_status", "facts", nullable=False, schema="notifier")


def downgrade() -> None:
    op.drop_column("kpi_status", "facts", schema="notifier")
    op.drop_column("kpi_status", "since", schema="notifier")
