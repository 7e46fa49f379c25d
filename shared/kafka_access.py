"""Who may do what on Kafka: SCRAM credentials and ACLs for each service and agency system.

The broker runs the KRaft `StandardAuthorizer` with `allow.everyone.if.no.acl.found=false`, so a
principal can do only what an ACL here grants it (docs/security.md, "Kafka"). Least privilege:

- intake reads the raw topics (the shared one and every agency's own) and writes only the
  canonical topic and the dead-letter topic;
- the aggregator reads the canonical topic and writes only the status topic and dead letters;
- the notifier reads only the status topic (and dead-letters what it cannot decode);
- an agency system writes only its own raw topic, `<raw>.<AGENCY>`; intake binds the records it
  reads there to that agency (`ce_source` must name it).

aiokafka has no client for ACLs or SCRAM credentials: the two admin requests are sent with its
protocol classes (CreateAcls v1, AlterUserScramCredentials v0).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest_v1
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from shared.kafka import KafkaCredentials, TopicSpec, make_admin, topic_specs

SERVICES = ("intake", "aggregator", "notifier")
# The consumer group each service takes by default (its settings' variable), its ACLs' prefix.
SERVICE_GROUPS = {
    "intake": ("INTAKE_RAW_GROUP_ID", "tiendo-intake-raw"),
    "aggregator": ("AGGREGATOR_GROUP_ID", "tiendo-aggregator"),
    "notifier": ("NOTIFIER_CONSUMER_GROUP", "tiendo-notifier"),
}
SCRAM_ITERATIONS = 8192  # Kafka accepts 4096..16384
_SCRAM_SHA_512 = 2  # ScramMechanism in the protocol

# Kafka's ACL enumerations (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3

_AGENCY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,63}$")


@dataclass(frozen=True)
class Acl:
    resource_type: int
    name: str
    pattern: int
    principal: str
    operation: int


@dataclass(frozen=True)
class TopicNames:
    """The topic names and consumer groups a deployment runs with (tests use unique ones)."""

    raw: str
    events: str
    dlq: str
    status: str

    @classmethod
    def from_specs(cls, specs: list[TopicSpec]) -> TopicNames:
        raw, events, dlq, status = (s.name for s in specs)
        return cls(raw, events, dlq, status)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicNames:
        return cls.from_specs(topic_specs(env))


def service_groups(env: Mapping[str, str]) -> dict[str, str]:
    """Each service's consumer group as the environment sets it, else the service's default."""
    return {service: env.get(var) or default for service, (var, default) in SERVICE_GROUPS.items()}


def agency_topic(raw_topic: str, agency: str) -> str:
    """An agency system's own raw topic: only its principal may write it."""
    return f"{raw_topic}.{agency}"


def agency_principal(agency: str) -> str:
    return f"agency-{agency}"


def check_agency_code(agency: str) -> str:
    """An agency code usable in a topic name and a SCRAM user name (the plan's codes are)."""
    if not _AGENCY_CODE.match(agency):
        raise ValueError(f"{agency!r} is not an agency code (capital letters, digits and '-')")
    return agency


def service_password(admin_password: str, service: str) -> str:
    """A service's local password, derived from the admin's: every local stack on one broker
    agrees on it (so one stack's grant never locks out another's running service), and it
    changes with the broker's admin secret."""
    return hmac.new(admin_password.encode(), f"tiendo-kafka:{service}".encode(), hashlib.sha256).hexdigest()


def service_acls(service: str, topics: TopicNames, group_id: str) -> list[Acl]:
    """The least privilege of one service; `group_id` is a prefix (a service's helper groups)."""
    user = f"User:{service}"
    topic = lambda name, op, pattern=LITERAL: Acl(TOPIC, name, pattern, user, op)  # noqa: E731
    group = Acl(GROUP, group_id, PREFIXED, user, READ)
    if service == "intake":
        return [
            topic(topics.raw, READ),
            topic(f"{topics.raw}.", READ, PREFIXED),  # every agency's own raw topic
            topic(topics.events, WRITE),
            topic(topics.dlq, WRITE),
            group,
        ]
    if service == "aggregator":
        return [topic(topics.events, READ), topic(topics.status, WRITE), topic(topics.dlq, WRITE), group]
    if service == "notifier":
        return [topic(topics.status, READ), topic(topics.dlq, WRITE), group]
    raise ValueError(f"unknown service {service!r}")


def agency_acls(agency: str, raw_topic: str) -> list[Acl]:
    """An agency system may write its own raw topic and nothing else (not even read it back)."""
    name = agency_topic(raw_topic, check_agency_code(agency))
    return [Acl(TOPIC, name, LITERAL, f"User:{agency_principal(agency)}", WRITE)]


# -- the two admin requests ---------------------------------------------------------------------


class _AlterScramResponse(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramRequest_v0]):
    API_KEY = 51

    def __init__(self, upsertions: list[tuple]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterScramRequest_v0]) -> _AlterScramRequest_v0:
        return request_struct_class([], self._upsertions, {})


class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, acls: list[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [(a.resource_type, a.name, a.pattern, a.principal, "*", a.operation, ALLOW) for a in self._acls]
        )


class AccessError(RuntimeError):
    pass


async def upsert_scram(admin: AIOKafkaAdminClient, users: dict[str, str]) -> None:
    """Create or replace SCRAM-SHA-512 credentials: the broker stores only the salted password."""
    upsertions = []
    for name, password in users.items():
        salt = secrets.token_bytes(32)
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
        upsertions.append((name, _SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))
    response = await admin._send_request(_AlterScram(upsertions))
    errors = [(user, code, message) for user, code, message, _ in response.results if code]
    if errors:
        raise AccessError(f"SCRAM credentials refused: {errors}")


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Add ACLs (creating one that exists is a no-op)."""
    if not acls:
        return
    response = await admin._send_request(_CreateAcls(acls))
    errors = [(acl, code, message) for acl, (code, message) in zip(acls, response.creation_responses) if code]
    if errors:
        raise AccessError(f"ACLs refused: {errors}")


async def grant(
    bootstrap: str, admin: KafkaCredentials, users: dict[str, str], acls: list[Acl], timeout_ms: int = 30_000
) -> None:
    """As the admin principal: `users`' credentials (name -> password) and `acls`."""
    client = make_admin(bootstrap, credentials=admin, request_timeout_ms=timeout_ms)
    await client.start()
    try:
        if users:
            await upsert_scram(client, users)
        await create_acls(client, acls)
    finally:
        await client.close()


async def grant_services(
    bootstrap: str,
    admin: KafkaCredentials,
    topics: TopicNames,
    groups: dict[str, str],
    passwords: dict[str, str] | None = None,
) -> dict[str, KafkaCredentials]:
    """Every service's principal with its least privilege; returns each service's credentials.
    `passwords` (service -> password) are an installation's own (compose's secrets); without
    them each is derived from the admin's (`service_password`, the local stack)."""
    passwords = passwords or {s: service_password(admin.password, s) for s in SERVICES}
    issued = {s: KafkaCredentials(s, passwords[s], admin.protocol) for s in SERVICES}
    acls = [acl for s in SERVICES for acl in service_acls(s, topics, groups[s])]
    await grant(bootstrap, admin, {s: c.password for s, c in issued.items()}, acls)
    return issued


async def grant_agency(
    bootstrap: str, admin: KafkaCredentials, agency: str, raw: TopicSpec, replication: int | None = None
) -> KafkaCredentials:
    """A new password for `agency`'s system, its own raw topic (created if missing) and its ACL."""
    from shared.kafka import ensure_topics

    check_agency_code(agency)
    credentials = KafkaCredentials(agency_principal(agency), secrets.token_urlsafe(24), admin.protocol)
    # One partition: an agency's events are one key, hence one partition anyway.
    topic = TopicSpec(agency_topic(raw.name, agency), 1, raw.retention_ms)
    await ensure_topics(bootstrap, [topic], replication, credentials=admin)
    await grant(bootstrap, admin, {credentials.username: credentials.password}, agency_acls(agency, raw.name))
    return credentials
