"""Ledger snapshots (issue 20): start-up must not grow with the whole history.

`recorded_events.seq` numbers the facts in the order they were recorded, from one sequence (a
rebuilt table keeps drawing from it); `ledger_snapshots` holds an agency's ledger folded from its
facts up to `upto`, so a replica loads the snapshot and the facts after it, not every fact. The
index on (source, seq) finds an agency's facts after a snapshot without reading the others (a
BRIN index on `seq` would not: the ranges not yet summarised, every recent one, are read whole).
"""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE aggregator.fact_seq")
    op.execute(
        "ALTER TABLE aggregator.recorded_events "
        "ADD COLUMN seq bigint NOT NULL DEFAULT nextval('aggregator.fact_seq')"
    )
    op.execute("CREATE INDEX recorded_events_source_seq ON aggregator.recorded_events (source, seq)")
    op.execute(
        "CREATE TABLE aggregator.ledger_snapshots ("
        " agency text PRIMARY KEY, upto bigint NOT NULL, facts bigint NOT NULL, state bytea NOT NULL,"
        " taken_at timestamptz NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE aggregator.ledger_snapshots")
    op.execute("ALTER TABLE aggregator.recorded_events DROP COLUMN seq")
    op.execute("DROP SEQUENCE aggregator.fact_seq")
