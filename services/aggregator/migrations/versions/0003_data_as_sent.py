"""The inbox keeps an event's data as the bytes the agency sent (UTF-8 JSON), in `bytea`.

Every event's data goes into the inbox's COPY. As `json`, the client turned the record's bytes
into text and back to bytes, and PostgreSQL parsed each row's JSON again, though the aggregator
had just decoded it (nothing queries inside it; `load_facts` decodes it with msgspec). Read it
in SQL with `convert_from(data, 'UTF8')::json`.
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE aggregator.recorded_events ALTER COLUMN data TYPE bytea "
        "USING convert_to(data::text, 'UTF8')"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE aggregator.recorded_events ALTER COLUMN data TYPE json "
        "USING convert_from(data, 'UTF8')::json"
    )
