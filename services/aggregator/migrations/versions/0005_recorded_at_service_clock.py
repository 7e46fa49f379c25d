"""`recorded_at` is the moment by the aggregator's clock (`TIENDO_NOW`, `TIENDO_CLOCK_SPEED`) at
which the batch recorded the event, not PostgreSQL's wall clock: `?as_of=` reads "what the system
knew then" from it, and a simulated or replayed clock must agree with the events' times.

The batch transaction sets `aggregator.now` (`set_config(..., true)`, local to it); anything
else inserting (a manual fix, a rebuild) falls back to `now()`.
"""

from alembic import op

revision = "0005"
down_revision = "0004"

DEFAULT = "coalesce(nullif(current_setting('aggregator.now', true), '')::timestamptz, now())"


def upgrade() -> None:
    op.execute(f"ALTER TABLE aggregator.recorded_events ALTER COLUMN recorded_at SET DEFAULT {DEFAULT}")


def downgrade() -> None:
    op.execute("ALTER TABLE aggregator.recorded_events ALTER COLUMN recorded_at SET DEFAULT now()")
