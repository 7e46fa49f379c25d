"""Real local infrastructure for tests, the demo and benchmarks (no Docker engine needed)."""

from shared.infra._process import InfraError
from shared.infra.kafka import (
    KAFKA_VERSION,
    KafkaCluster,
    KafkaServer,
    ensure_kafka_runtime,
    kafka_from_env_or_start,
    replication_for,
)
from shared.infra.ports import free_port, port_is_open, wait_for_port
from shared.infra.postgres import (
    SERVICE_ROLES,
    PostgresServer,
    create_database,
    drop_database,
    find_pg_bin,
    postgres_from_env_or_start,
    provision_database,
    provision_roles,
    remember_passwords,
    service_database_url,
    with_role,
)
from shared.infra.smtp import MailboxSmtpServer

__all__ = [
    "KAFKA_VERSION",
    "SERVICE_ROLES",
    "InfraError",
    "KafkaCluster",
    "KafkaServer",
    "MailboxSmtpServer",
    "PostgresServer",
    "create_database",
    "drop_database",
    "ensure_kafka_runtime",
    "find_pg_bin",
    "free_port",
    "kafka_from_env_or_start",
    "port_is_open",
    "postgres_from_env_or_start",
    "provision_database",
    "provision_roles",
    "remember_passwords",
    "replication_for",
    "service_database_url",
    "wait_for_port",
    "with_role",
]
