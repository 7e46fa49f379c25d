"""Database access shared by the services: one async engine factory and the Alembic runner.

Each service owns a PostgreSQL schema of its own name with its own Alembic tree in
`services/<service>/migrations/` (its version table lives in that schema), so services evolve
their tables independently and talk to each other only through Kafka.

Connections (`make_engine`, and the migrations' engine) take from the environment what a DSN
should not hold:

- `DATABASE_PASSWORD_FILE` (a secret file, e.g. compose's `/run/secrets/...`) or
  `DATABASE_PASSWORD`: the password, when the URL has none (a URL's own password wins);
- `DATABASE_SSLMODE`: `disable` (default), `prefer`, `require` (encrypted, server not verified),
  `verify-ca` (its certificate signed by the CA) or `verify-full` (and its name the host's);
- `DATABASE_SSLROOTCERT`: the CA certificate file for the `verify-*` modes (else the system's).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from asyncpg.exceptions import CannotConnectNowError, PostgresConnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
SERVICES = ("intake", "aggregator", "notifier")


SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")


def tls_context(mode: str, root_cert: str | None = None) -> ssl.SSLContext | str | bool:
    """asyncpg's `ssl` argument for a libpq-style `sslmode` (False: no TLS)."""
    if mode not in SSL_MODES:
        raise ValueError(f"DATABASE_SSLMODE {mode!r}: one of {', '.join(SSL_MODES)}")
    if mode == "disable":
        return False
    if mode in ("prefer", "require"):  # asyncpg's own, as libpq: the certificate is not checked
        return mode
    context = ssl.create_default_context(cafile=root_cert or None)
    context.check_hostname = mode == "verify-full"
    return context


def connect_args(url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The asyncpg arguments the environment adds to `url`: password (file) and TLS."""
    env = dict(os.environ) if env is None else env
    found: dict[str, Any] = {}
    if make_url(url).password is None:
        if env.get("DATABASE_PASSWORD_FILE"):
            found["password"] = Path(env["DATABASE_PASSWORD_FILE"]).read_text(encoding="utf-8").strip()
        elif env.get("DATABASE_PASSWORD"):
            found["password"] = env["DATABASE_PASSWORD"]
    mode = env.get("DATABASE_SSLMODE") or "disable"
    context = tls_context(mode, env.get("DATABASE_SSLROOTCERT"))
    if context is not False:
        found["ssl"] = context
    return found


def make_engine(url: str, **options) -> AsyncEngine:
    options.setdefault("connect_args", connect_args(url))
    options.setdefault("pool_size", 5)
    options.setdefault("max_overflow", 5)
    options.setdefault("pool_pre_ping", True)  # survive a PostgreSQL restart
    return create_async_engine(url, **options)


# The driver's errors for a database that is away (asyncpg raises them; SQLAlchemy wraps them in a
# DBAPIError whose `orig` carries them as its cause) and SQLSTATEs of the same: 08 connection
# exception, 57P01-57P03 the server shutting down, crashed or not yet accepting connections.
_AWAY = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    OperationalError,
    InterfaceError,
    PostgresConnectionError,
    CannotConnectNowError,
)
_AWAY_STATES = ("08", "57P01", "57P02", "57P03")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (SQLAlchemy's `orig`, else the cause), each once."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = getattr(error, "orig", None) or error.__cause__


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def transient(exc: BaseException) -> bool:
    """The database (or the network to it) is away, not a bug: the work is worth retrying. Looks
    through SQLAlchemy's wrapping: "the database system is shutting down" reaches the caller as a
    DBAPIError, neither invalidated nor an OperationalError."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return any(
        isinstance(error, _AWAY)
        or ((state := _sqlstate(error)) is not None and state.startswith(_AWAY_STATES))
        for error in _causes(exc)
    )


# SQLSTATE classes of errors caused by the statement's data (22 data exception, e.g. a NUL byte or a
# number out of range; 23 integrity constraint violation): one record's fault. Every other class
# (a missing table or privilege, resources, an operator's shutdown) fails every record alike.
_DATA_FAULTS = ("22", "23")


def systemic(exc: BaseException) -> bool:
    """A database error that no record causes: retrying (and alerting) is right, dead-lettering
    the record at hand would throw away a good event."""
    for error in _causes(exc):
        if (state := _sqlstate(error)) is not None:
            return not state.startswith(_DATA_FAULTS)
    return False


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
