"""The one place Kafka clients are made: raw aiokafka clients and the FastStream broker.

Every producer is idempotent with `acks=all` (a 202 from intake means the write is durable);
every consumer commits explicitly (never Kafka's auto-commit); topics are created explicitly
with their partition count and retention, never by auto-creation.

Every client authenticates with SASL/SCRAM-SHA-512 when credentials are configured
(`kafka_credentials()`: `KAFKA_SASL_USERNAME` and `KAFKA_SASL_PASSWORD` or
`KAFKA_SASL_PASSWORD_FILE`); each service runs as its own principal (docs/security.md, Kafka).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from faststream.exceptions import IgnoredException
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy, BaseMiddleware
from faststream.security import SASLScram512
from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
SCRAM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaCredentials:
    """One principal's SASL/SCRAM credentials (`User:<username>` to the broker's ACLs)."""

    username: str
    password: str = field(repr=False)
    # Loopback and compose's private network; TLS (SASL_SSL) is the same settings plus a CA.
    protocol: str = "SASL_PLAINTEXT"

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for these credentials."""
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": SCRAM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def env(self) -> dict[str, str]:
        """The environment that makes a child process's clients use these credentials."""
        return {
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SECURITY_PROTOCOL": self.protocol,
        }


def kafka_credentials(env: Mapping[str, str] | None = None) -> KafkaCredentials | None:
    """The process's Kafka credentials from the environment (a password file wins, compose's
    `secrets:`), None when none are configured (a broker without SASL)."""
    env = os.environ if env is None else env
    username = env.get("KAFKA_SASL_USERNAME", "").strip()
    if not username:
        return None
    password_file = env.get("KAFKA_SASL_PASSWORD_FILE", "").strip()
    password = Path(password_file).read_text().strip() if password_file else env.get("KAFKA_SASL_PASSWORD")
    if not password:
        raise ValueError("KAFKA_SASL_USERNAME is set without KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE")
    return KafkaCredentials(username, password, env.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"))


def client_security(credentials: KafkaCredentials | None = None) -> dict[str, Any]:
    """aiokafka's security keyword arguments: the given credentials, else the environment's."""
    credentials = credentials or kafka_credentials()
    return credentials.client_options() if credentials else {}


def make_admin(
    bootstrap: str, *, credentials: KafkaCredentials | None = None, **overrides: Any
) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security(credentials), **overrides)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int

    @property
    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


# Keyed by agency: all of one agency's events stay in order on one partition.
RAW = TopicSpec("progress.raw.v1", partitions=6, retention_ms=14 * DAY_MS)
EVENTS = TopicSpec("progress.events.v1", partitions=6, retention_ms=400 * DAY_MS)
DLQ = TopicSpec("progress.dlq.v1", partitions=3, retention_ms=90 * DAY_MS)
STATUS = TopicSpec("kpi.status.v1", partitions=6, retention_ms=90 * DAY_MS)
ALL_TOPICS = (RAW, EVENTS, DLQ, STATUS)
# The variable that renames each topic for every service (tests run under unique names).
TOPIC_VARIABLES = {
    RAW: "TIENDO_RAW_TOPIC",
    EVENTS: "TIENDO_EVENTS_TOPIC",
    DLQ: "TIENDO_DLQ_TOPIC",
    STATUS: "TIENDO_STATUS_TOPIC",
}


def topic_specs(env: Mapping[str, str]) -> list[TopicSpec]:
    """The four topics under the names the services are told (raw, events, dlq, status)."""
    return [
        TopicSpec(env.get(var) or spec.name, spec.partitions, spec.retention_ms)
        for spec, var in TOPIC_VARIABLES.items()
    ]


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    replication: int | None = None,
    *,
    credentials: KafkaCredentials | None = None,
) -> list[str]:
    """Create the missing topics; returns the names created. Safe to run concurrently.

    `replication` defaults to the cluster's own `default.replication.factor` (1 on the single
    local broker, 3 on the local 3-node cluster); from 3 replicas on, a topic takes
    `min.insync.replicas=2`, so an `acks=all` write is on two brokers before it is acknowledged.
    """
    admin = make_admin(bootstrap, credentials=credentials, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = []
        if missing and replication is None:
            replication = await _default_replication(admin)
        for spec in missing:
            config = {**spec.config, **({"min.insync.replicas": "2"} if (replication or 1) >= 3 else {})}
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication, topic_configs=config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        await _await_metadata(admin, [s.name for s in missing])
        return created
    finally:
        await admin.close()


async def _default_replication(admin: AIOKafkaAdminClient) -> int:
    brokers = (await admin.describe_cluster())["brokers"]
    resource = ConfigResource(
        ConfigResourceType.BROKER, str(brokers[0]["node_id"]), {"default.replication.factor": None}
    )
    for response in await admin.describe_configs([resource]):
        for _error, _message, _type, _name, entries in response.resources:
            for entry in entries:
                if entry[0] == "default.replication.factor" and entry[1]:
                    return int(entry[1])
    return 1


async def _await_metadata(admin: AIOKafkaAdminClient, names: Sequence[str], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while names:
        described = await admin.describe_topics(list(names))
        if all(t.get("error_code", 0) == 0 and t.get("partitions") for t in described):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not ready after {timeout}s: {names}")
        await asyncio.sleep(0.2)


PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "request_timeout_ms": 10_000,
    "max_request_size": 2 * 1024 * 1024,
}


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets `group` has committed, by partition (what it will read next)."""
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


def make_producer(
    bootstrap: str, *, credentials: KafkaCredentials | None = None, **overrides: Any
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, **{**client_security(credentials), **PRODUCER_DEFAULTS, **overrides}
    )


CONSUMER_DEFAULTS: dict[str, Any] = {"auto_offset_reset": "earliest", "isolation_level": "read_committed"}


def make_consumer(
    bootstrap: str,
    *topics: str,
    group_id: str | None,
    credentials: KafkaCredentials | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        **client_security(credentials),
        "group_id": group_id,
        "enable_auto_commit": False,
        **CONSUMER_DEFAULTS,
        **overrides,
    }
    if options.get("enable_auto_commit"):
        raise ValueError("auto-commit is never used: offsets are committed after the database")
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **options)


# -- FastStream ---------------------------------------------------------------------------------
# FastStream's Kafka default is AckPolicy.ACK_FIRST, which it implements as aiokafka's auto-commit.
COMMIT_AFTER_HANDLER = (AckPolicy.NACK_ON_ERROR, AckPolicy.MANUAL)


def make_broker(
    bootstrap: str,
    *,
    registry: CollectorRegistry,
    app_name: str,
    error_backoff_s: float = 1.0,
    credentials: KafkaCredentials | None = None,
    **overrides: Any,
) -> KafkaBroker:
    """A FastStream broker: the project's producer settings, FastStream's Prometheus metrics on the
    service's own registry (its existing /metrics), failed handlers logged and backed off.

    Handlers receive the aiokafka record (a tuple of them for batch subscribers): the services
    decode CloudEvents with their own codec, and FastStream's JSON decoding would make a poison
    record fail before the handler could dead-letter or skip it.
    """
    if overrides.get("ack_policy", AckPolicy.NACK_ON_ERROR) not in COMMIT_AFTER_HANDLER:
        raise ValueError("offsets are committed after the handler, never on receipt (auto-commit)")
    options: dict[str, Any] = {
        "client_id": f"tiendo-{app_name}",
        "allow_auto_create_topics": False,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "parser": tolerant_parser,
        "decoder": raw_records,
        "apply_types": False,
        "log_level": logging.DEBUG,  # FastStream logs "Received"/"Processed" per message
        "middlewares": (
            backoff_after_error(error_backoff_s),
            KafkaPrometheusMiddleware(registry=registry, app_name=app_name),
        ),
        **PRODUCER_DEFAULTS,
        **overrides,
    }
    credentials = credentials or kafka_credentials()
    if credentials is not None:
        options["security"] = SASLScram512(
            credentials.username, credentials.password, use_ssl=credentials.protocol == "SASL_SSL"
        )
    # FastStream takes a string as one server: "a:9092,b:9092" (a cluster's list) must be split.
    return KafkaBroker([s.strip() for s in bootstrap.split(",") if s.strip()], **options)


async def start_when_ready(broker: KafkaBroker, retry_s: float = 2.0) -> None:
    """Starts `broker` once Kafka answers: a service comes up (and says "not ready") without it;
    once started, FastStream reconnects by itself."""
    while True:
        try:
            await broker.start()
            return
        except Exception as exc:
            log.warning("FastStream broker cannot start (%r); retrying in %.1fs", exc, retry_s)
            await broker.stop()
            await asyncio.sleep(retry_s)


async def serve(
    broker: KafkaBroker, retry_s: float = 2.0, on_started: Callable[[], None] | None = None
) -> None:
    """Runs `broker`'s subscribers until cancelled (`on_started` once Kafka took them)."""
    try:
        await start_when_ready(broker, retry_s)
        if on_started is not None:
            on_started()
        await asyncio.Event().wait()
    finally:
        await broker.stop()


class RawHeader(str):
    """A header value FastStream sends as the bytes it was made of.

    FastStream types header values as text and its producer calls `.encode()` on each: this
    text (the bytes decoded for FastStream's own logging) encodes back to the original bytes,
    so a dead letter's NUL bytes or invalid UTF-8 leave exactly as they came."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeader:
        text = super().__new__(cls, raw.decode("utf-8", "replace"))
        text.raw = raw
        return text

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:  # type: ignore[override]
        return self.raw


def raw_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """Kafka headers as `broker.publish(headers=...)` takes them, every value's bytes kept (a
    repeated name keeps its last value: FastStream takes a mapping)."""
    return {
        name: RawHeader(value if isinstance(value, bytes) else bytes(value or b"")) for name, value in headers
    }


def subscriber_options(ack_policy: AckPolicy, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of `broker.subscriber(...)`: the same reading position and isolation as
    `make_consumer`, and an explicit acknowledgement policy that commits only after the handler."""
    if ack_policy not in COMMIT_AFTER_HANDLER:
        raise ValueError("offsets are committed after the handler, never on receipt (auto-commit)")
    return {"ack_policy": ack_policy, **CONSUMER_DEFAULTS, **overrides}


async def raw_records(message: Any) -> ConsumerRecord | tuple[ConsumerRecord, ...]:
    return message.raw_message


async def tolerant_parser(raw: Any, default: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes every header value as UTF-8 for its own bookkeeping; a record with a
    binary or null header value must still reach the handler (which dead-letters or skips it)."""
    try:
        return await default(raw)
    except (UnicodeDecodeError, AttributeError):
        records = raw if isinstance(raw, tuple) else (raw,)
        clean = tuple(
            dataclasses.replace(
                r, headers=[(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in r.headers]
            )
            for r in records
        )
        message = await default(clean if isinstance(raw, tuple) else clean[0])
        message.raw_message = raw  # the handler sees the original bytes
        return message


def backoff_after_error(seconds: float) -> Callable[..., BaseMiddleware]:
    """Logs a failed handler with its records' coordinates, then waits before FastStream nacks
    (seeks back): a lasting failure (database down) is retried at that pace, never in a tight loop."""

    class BackoffAfterError(BaseMiddleware):
        async def after_processed(self, exc_type=None, exc_val=None, exc_tb=None) -> bool:
            if isinstance(exc_val, Exception) and not isinstance(exc_val, IgnoredException):
                records = self.msg if isinstance(self.msg, tuple) else (self.msg,)
                where = ", ".join(f"{r.topic}/{r.partition}@{r.offset}" for r in records[:3])
                log.error(
                    "handler failed on %d record(s) from %s: %r; reading again in %.1fs",
                    len(records),
                    where,
                    exc_val,
                    seconds,
                )
                await asyncio.sleep(seconds)
            return False

    return BackoffAfterError
