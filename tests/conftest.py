"""Session-wide real infrastructure: each server starts when a test first asks for it and
stops at session end. Logs stay in `.tiendo/test-infra/<session>/` for debugging (data dirs
are removed). `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` point the tests at external servers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.infra import (
    KafkaServer,
    MailboxSmtpServer,
    PostgresServer,
    kafka_from_env_or_start,
    postgres_from_env_or_start,
)
from shared.infra._process import REPO_ROOT
from shared.kafka import KafkaCredentials

# Every broker this session starts (its own, and those tests start to kill) shares one admin
# secret, and the tests' clients and in-process services are that admin; a service process
# started through shared.stack runs as its own least-privileged principal.
if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
    os.environ.setdefault("TIENDO_KAFKA_ADMIN_PASSWORD", secrets.token_hex(24))
    os.environ.update(KafkaCredentials("admin", os.environ["TIENDO_KAFKA_ADMIN_PASSWORD"]).env())


@pytest.fixture(scope="session", autouse=True)
def _test_signing_key() -> Iterator[None]:
    """shared.auth.testing's key lives in a temporary directory: gone when the session ends."""
    yield
    from shared.auth.testing import discard_keys

    discard_keys()


@pytest.fixture(scope="session")
def infra_dir() -> Path:
    path = REPO_ROOT / ".tiendo" / "test-infra" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def _kafka(infra_dir: Path) -> Iterator[tuple[str, KafkaServer | None]]:
    bootstrap, server = kafka_from_env_or_start(infra_dir / "kafka")
    yield bootstrap, server
    if server is not None:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_server(_kafka: tuple[str, KafkaServer | None]) -> KafkaServer | None:
    """The session's broker; None when KAFKA_BOOTSTRAP_SERVERS names an external one (whose
    credentials, if any, come from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)."""
    return _kafka[1]


@pytest.fixture(scope="session")
def kafka_admin(_kafka: tuple[str, KafkaServer | None]):
    """The super user's credentials (None for an external broker without SASL)."""
    from shared.kafka import kafka_credentials

    return _kafka[1].admin if _kafka[1] is not None else kafka_credentials()


@pytest.fixture(scope="session")
def kafka_bootstrap(_kafka: tuple[str, KafkaServer | None]) -> str:
    return _kafka[0]


@pytest.fixture(scope="session")
def _postgres(infra_dir: Path) -> Iterator[tuple[str, PostgresServer | None]]:
    url, server = postgres_from_env_or_start(infra_dir / "postgres")
    yield url, server
    if server is not None:
        server.remove()


@pytest.fixture(scope="session")
def postgres_server(_postgres: tuple[str, PostgresServer | None]) -> PostgresServer | None:
    """The session's cluster; None when DATABASE_URL names an external one."""
    return _postgres[1]


@pytest.fixture(scope="session")
def database_url(_postgres: tuple[str, PostgresServer | None]) -> str:
    """The superuser's URL: for provisioning and tests' own checks; services get `service_url`."""
    return _postgres[0]


@pytest.fixture(scope="session")
def service_passwords(_postgres: tuple[str, PostgresServer | None]) -> dict[str, str]:
    """Each service role's password: the session cluster's (files in its workdir); on an external
    cluster (DATABASE_URL, a superuser's) the roles are provisioned with passwords of this session."""
    import asyncio
    import secrets

    from shared.infra import SERVICE_ROLES, provision_database, provision_roles, remember_passwords

    url, server = _postgres
    if server is not None:
        return server.service_passwords
    passwords = {role: secrets.token_urlsafe(24) for role in SERVICE_ROLES}
    asyncio.run(provision_roles(url, passwords))
    asyncio.run(provision_database(url))
    remember_passwords(url, passwords)  # for shared.infra.service_database_url
    return passwords


@pytest.fixture(scope="session")
def service_url(service_passwords: dict[str, str]):
    """`service_url(database_url, "aggregator")`: that database as the service's own role
    (no superuser; rights on its own schema only), as services run in the tests and the demo."""
    from shared.infra import service_database_url

    return service_database_url


@pytest.fixture(scope="session")
def smtp_server(infra_dir: Path) -> Iterator[MailboxSmtpServer]:
    """Shared by the session: count messages relative to `len(smtp_server.paths())`."""
    server = MailboxSmtpServer(infra_dir / "mailbox").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """An empty database of its own for one (synchronous) test, on the session's cluster."""
    import asyncio

    from shared.infra import create_database, drop_database

    url = asyncio.run(create_database(database_url, "test"))
    yield url
    asyncio.run(drop_database(database_url, url))
