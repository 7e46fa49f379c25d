"""The body of every service's Alembic `env.py`: one schema per service, async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine


def run(target_metadata: MetaData | None) -> None:
    config = context.config
    schema = config.attributes["schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic config without sqlalchemy.url"
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=target_metadata, version_table_schema=schema, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_online(url, schema, target_metadata))


async def _online(url: str, schema: str, target_metadata: MetaData | None) -> None:
    from shared.db import connect_args  # password file and TLS, as the services' engines

    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    async with engine.connect() as connection:
        # Two services may start at once; the advisory lock serialises their migrations.
        await connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
        # A service's role owns its schema but may not create schemas: provisioning made it
        # (shared.infra.postgres.provision_database); CREATE SCHEMA only where it is missing.
        exists = await connection.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
        if not exists:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.commit()
        await connection.run_sync(_do_run, schema, target_metadata)
        await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": schema})
        await connection.commit()
    await engine.dispose()


def _do_run(connection, schema: str, target_metadata: MetaData | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()
