"""Database access shared by the services: one async engine factory and the Alembic runner.

Each service owns a PostgreSQL schema of its own name with its own Alembic tree in
`services/<service>/migrations/` (its version table lives in that schema), so services evolve
their tables independently and talk to each other only through Kafka.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from asyncpg.exceptions import CannotConnectNowError, PostgresConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
SERVICES = ("intake", "aggregator", "notifier")


def make_engine(url: str, **options) -> AsyncEngine:
    options.setdefault("pool_size", 5)
    options.setdefault("max_overflow", 5)
    options.setdefault("pool_pre_ping", True)  # survive a PostgreSQL restart
    return create_async_engine(url, **options)


def transient(exc: BaseException) -> bool:
    """The database (or the network to it) is away, not a bug: the work is worth retrying."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OSError, ConnectionError, asyncio.TimeoutError, OperationalError,
                            InterfaceError, PostgresConnectionError, CannotConnectNowError))


def alembic_config(service: str, url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    migrations = SERVICES_DIR / service / "migrations"
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["schema"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Apply a service's migrations (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, service, url, revision)


def upgrade_all(url: str) -> None:
    for service in SERVICES:
        upgrade(service, url)
