"""PostgreSQL least privilege, on the session's real cluster: each service connects as its own
role, which owns its schema (it ran its own migrations) and reaches nothing else; no role is a
superuser or may create roles; every connection needs its password (no trust)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.db import SERVICES, upgrade_async
from shared.infra import create_database, drop_database, service_database_url

pytestmark = pytest.mark.infra


def _dsn(url: str, **changes) -> str:
    return make_url(url).set(drivername="postgresql", **changes).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
async def db(database_url: str, service_passwords: dict[str, str]) -> AsyncIterator[str]:
    """A database with every service's migrations applied, each by its own role."""
    url = await create_database(database_url, "roles")
    for service in SERVICES:
        await upgrade_async(service, service_database_url(url, service))
    yield url
    await drop_database(database_url, url)


async def _tables(admin_url: str, schema: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        rows = await conn.fetch("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = $1", schema)
    finally:
        await conn.close()
    return [(r["tablename"], r["tableowner"]) for r in rows]


async def test_each_service_owns_its_schema_and_everything_in_it(db: str) -> None:
    for service in SERVICES:
        tables = await _tables(db, service)
        assert len(tables) >= 2  # its tables and its alembic_version
        assert {owner for _, owner in tables} == {service}


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_is_no_superuser_and_reads_no_other_schema(db: str, service: str) -> None:
    conn = await asyncpg.connect(_dsn(service_database_url(db, service)))
    try:
        assert await conn.fetchval("SELECT current_user") == service
        flags = await conn.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(flags) == (False, False, False, False)
        own = await _tables(db, service)
        for table, _ in own:  # its own tables: readable
            await conn.fetch(f'SELECT * FROM "{service}"."{table}" LIMIT 1')
        for other in set(SERVICES) - {service}:
            for table, _ in await _tables(db, other):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(f'SELECT * FROM "{other}"."{table}" LIMIT 1')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f'CREATE TABLE "{other}".planted (x int)')
        for refused in (
            "CREATE ROLE intruder LOGIN SUPERUSER",
            "CREATE ROLE intruder",
            "CREATE SCHEMA intruder",
            "CREATE TABLE public.planted (x int)",
            f"ALTER ROLE {service} SUPERUSER",
            "CREATE DATABASE intruder",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(refused)
    finally:
        await conn.close()


async def test_the_aggregator_cannot_read_the_notifier_or_intake_by_name(db: str) -> None:
    """The issue's proof, spelled out: leaders' addresses and agency tokens stay out of reach."""
    conn = await asyncpg.connect(_dsn(service_database_url(db, "aggregator")))
    try:
        for statement in ("SELECT * FROM notifier.outbox", "SELECT * FROM intake.api_tokens"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(statement)
    finally:
        await conn.close()


async def test_a_wrong_or_missing_password_is_refused(db: str) -> None:
    for url in (
        _dsn(service_database_url(db, "aggregator"), password="not-the-password"),
        _dsn(db, password="not-the-password"),  # the superuser too: no trust, locally neither
    ):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url)
    no_password = make_url(_dsn(db))
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.ClientCannotConnectError)):
        await asyncpg.connect(
            user=no_password.username,
            host=no_password.host,
            port=no_password.port,
            database=no_password.database,
            password="",
        )


def test_db_provision_makes_the_roles_schemas_and_migrates_as_each_role(
    fresh_database_url: str, service_passwords: dict[str, str], tmp_path, monkeypatch
) -> None:
    """Compose's one-shot `tiendo db provision`: the superuser's URL without its password (a
    file), each role's password from a file; afterwards each schema and table is its role's."""
    import asyncio

    from typer.testing import CliRunner

    from shared import cli

    cli._register()  # as `tiendo` does at start
    app = cli.app
    url = make_url(fresh_database_url)
    (tmp_path / "admin").write_text(url.password or "")
    from shared.stack import _without_password

    assert make_url(_without_password(fresh_database_url)).password is None
    monkeypatch.setenv("DATABASE_URL", _without_password(fresh_database_url))
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "admin"))
    for service in SERVICES:
        (tmp_path / service).write_text(service_passwords[service] + "\n")
        monkeypatch.setenv(f"{service.upper()}_DATABASE_PASSWORD_FILE", str(tmp_path / service))
    result = CliRunner().invoke(app, ["db", "provision"])
    assert result.exit_code == 0, result.output
    for service in SERVICES:
        tables = asyncio.run(_tables(fresh_database_url, service))
        assert tables and {owner for _, owner in tables} == {service}


async def test_tls_when_the_server_offers_it_verified_against_its_ca(tmp_path, monkeypatch) -> None:
    """DATABASE_SSLMODE / DATABASE_SSLROOTCERT (shared.db) on a real cluster with TLS on: the
    service's connection is encrypted and the server's certificate verified; a certificate that
    the given CA did not sign is refused."""
    import ssl

    from sqlalchemy import text

    from shared.db import make_engine
    from shared.infra import PostgresServer

    server = PostgresServer(tmp_path / "pg-tls", tls=True)
    try:
        await asyncio.to_thread(server.start)
        url = service_database_url(server.url, "aggregator")
        monkeypatch.setenv("DATABASE_SSLMODE", "verify-full")
        monkeypatch.setenv("DATABASE_SSLROOTCERT", str(server.ca_file))
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                encrypted = await conn.scalar(
                    text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
                assert encrypted is True
                assert await conn.scalar(text("SELECT current_user")) == "aggregator"
        finally:
            await engine.dispose()
        monkeypatch.delenv("DATABASE_SSLROOTCERT")  # the system's CAs: they did not sign it
        engine = make_engine(url)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()
    finally:
        await asyncio.to_thread(server.remove)


def test_the_local_stack_gives_each_service_its_role_and_a_password_file(tmp_path) -> None:
    """`tiendo stack up` with its own cluster: each service's DATABASE_URL names its role and no
    password; DATABASE_PASSWORD_FILE (mode 600) holds it. A process with only that environment
    connects as the role (shared.db's engine and the migrations alike)."""
    import os
    import stat
    import subprocess
    import sys

    from shared.infra import PostgresServer
    from shared.infra._process import REPO_ROOT
    from shared.stack import _migrate_as_roles

    server = PostgresServer(tmp_path / "pg-stack")
    try:
        server.start()
        envs = _migrate_as_roles(server.url, server, lambda message: None)
        assert set(envs) == set(SERVICES)
        for service, env in envs.items():
            assert make_url(env["DATABASE_URL"]).username == service
            assert make_url(env["DATABASE_URL"]).password is None
            assert stat.S_IMODE(os.stat(env["DATABASE_PASSWORD_FILE"]).st_mode) == 0o600
        probe = (
            "import asyncio, os\n"
            "from sqlalchemy import text\n"
            "from shared.db import make_engine, upgrade\n"
            "upgrade('notifier', os.environ['DATABASE_URL'])\n"
            "async def main():\n"
            "    engine = make_engine(os.environ['DATABASE_URL'])\n"
            "    async with engine.connect() as conn:\n"
            "        print(await conn.scalar(text('SELECT current_user')))\n"
            "    await engine.dispose()\n"
            "asyncio.run(main())\n"
        )
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env={**clean, **envs["notifier"]},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == "notifier"
        wrong = {
            **clean,
            **envs["notifier"],
            "DATABASE_PASSWORD_FILE": envs["aggregator"]["DATABASE_PASSWORD_FILE"],
        }
        refused = subprocess.run(
            [sys.executable, "-c", probe],
            env=wrong,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0 and "password authentication failed" in refused.stderr
    finally:
        server.remove()
