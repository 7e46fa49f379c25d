"""The outbox keeps a record's headers as bytes (msgpack in `bytea`), not JSON text.

A dead letter carries the original record's headers, and those may hold any bytes: a NUL in
`ce_id` was refused by `jsonb` (no `\\u0000` in PostgreSQL text), so the batch that tried to
dead-letter it rolled back again and again. msgpack keeps each value's bytes as they are.
Downgrading turns them back into latin-1 text in `jsonb`; a NUL (unstorable there) becomes "?".
"""

import json

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("headers_packed", sa.LargeBinary), schema="aggregator")
    conn = op.get_bind()
    for seq, headers in conn.execute(sa.text("SELECT seq, headers FROM aggregator.outbox")).all():
        if isinstance(headers, str):
            headers = json.loads(headers)
        packed = msgspec.msgpack.encode([(name, value.encode("latin-1")) for name, value in headers])
        conn.execute(
            sa.text("UPDATE aggregator.outbox SET headers_packed = :h WHERE seq = :s"),
            {"h": packed, "s": seq},
        )
    op.drop_column("outbox", "headers", schema="aggregator")
    op.alter_column(
        "outbox", "headers_packed", new_column_name="headers", nullable=False, schema="aggregator"
    )


def downgrade() -> None:
    op.add_column("outbox", sa.Column("headers_json", sa.dialects.postgresql.JSONB), schema="aggregator")
    conn = op.get_bind()
    decode = msgspec.msgpack.Decoder(list[tuple[str, bytes]]).decode
    for seq, headers in conn.execute(sa.text("SELECT seq, headers FROM aggregator.outbox")).all():
        rows = [
            [name.replace("\x00", "?"), value.decode("latin-1").replace("\x00", "?")]
            for name, value in decode(bytes(headers))
        ]
        conn.execute(
            sa.text("UPDATE aggregator.outbox SET headers_json = CAST(:h AS jsonb) WHERE seq = :s"),
            {"h": json.dumps(rows), "s": seq},
        )
    op.drop_column("outbox", "headers", schema="aggregator")
    op.alter_column("outbox", "headers_json", new_column_name="headers", nullable=False, schema="aggregator")
