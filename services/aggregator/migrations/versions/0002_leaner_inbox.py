"""A leaner inbox row: `recorded_at` filled by PostgreSQL, the data kept as JSON text, no
(agency, time) index.

The inbox takes a row per event, so each column and index is paid a million times in a
rebuild: encoding a timestamp costs the client about as much as the rest of the row, the
second index about a third of the server's work and building jsonb another quarter (nothing
queries inside the data; `json` still checks it is JSON). An agency's facts are found through
the primary key instead: a fact's source is `/agencies/{agency}`.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("ALTER TABLE aggregator.recorded_events ALTER COLUMN recorded_at SET DEFAULT now()")
    op.execute("DROP INDEX aggregator.recorded_events_agency")
    op.execute("ALTER TABLE aggregator.recorded_events ALTER COLUMN data TYPE json USING data::json")


def downgrade() -> None:
    op.execute("ALTER TABLE aggregator.recorded_events ALTER COLUMN data TYPE jsonb USING data::jsonb")
    op.execute("CREATE INDEX recorded_events_agency ON aggregator.recorded_events (agency, time)")
    op.execute("ALTER TABLE aggregator.recorded_events ALTER COLUMN recorded_at DROP DEFAULT")
