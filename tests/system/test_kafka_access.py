"""Kafka access control (issue 17) on the session's real broker (SASL/SCRAM-SHA-512, the KRaft
`StandardAuthorizer`, nothing allowed without an ACL) and a stack whose three services run as
their own least-privileged principals (`shared.stack` grants them, `shared.kafka_access`).

The attacks of the issue: a client without credentials, an agency system writing another
agency's topic, the shared raw topic, the canonical or the status topic, a record on an agency's
own topic claiming another agency, a service writing what it does not own, and a status event
forged on a compromised path (the admin) that the notifier must refuse.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from services.intake.entrypoints.examples import examples
from shared.deadletter import read_dead_letter
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter, status_event_adapter
from shared.events.types import EventType
from shared.kafka import KafkaCredentials, make_producer
from shared.kafka_access import agency_topic
from tests.system.pipeline import Pipeline, wait_until
from tests.topics import read_topic

pytestmark = pytest.mark.infra
AGENCY, OTHER = "CA-TINH", "CA-DONG-HA"


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, kafka_bootstrap, database_url, kafka_admin) -> Pipeline:
    if kafka_admin is None:
        pytest.skip("the broker takes no credentials (external, without SASL)")
    from shared.infra import create_database, drop_database

    url = asyncio.run(create_database(database_url, "kafka-access"))
    pipeline = Pipeline(tmp_path_factory.mktemp("kafka-access"), kafka_bootstrap, url).up()
    yield pipeline
    pipeline.down()
    asyncio.run(drop_database(database_url, url))


def kafka_credentials_create(pipe: Pipeline, agency: str) -> KafkaCredentials:
    """`tiendo agency kafka-credentials create AGENCY` as an operator runs it (as the admin)."""
    from typer.testing import CliRunner

    from shared import cli

    cli._register()
    env = {"KAFKA_BOOTSTRAP_SERVERS": pipe.kafka_bootstrap, "TIENDO_RAW_TOPIC": pipe.topics["raw"]}
    result = CliRunner().invoke(cli.app, ["agency", "kafka-credentials", "create", agency], env=env)
    assert result.exit_code == 0, result.output
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert printed["topic"] == agency_topic(pipe.topics["raw"], agency)
    assert printed["username"] == f"agency-{agency}"
    return KafkaCredentials(printed["username"], printed["password"])


@pytest.fixture(scope="module")
def agencies(pipe: Pipeline) -> dict[str, KafkaCredentials]:
    """Kafka credentials of two agency systems."""
    return {a: kafka_credentials_create(pipe, a) for a in (AGENCY, OTHER)}


def service_credentials(pipe: Pipeline, service: str) -> KafkaCredentials:
    return KafkaCredentials(service, (pipe.paths.root / "kafka-secrets" / service).read_text())


def report(agency: str) -> tuple[bytes, bytes, list]:
    """A valid indicator report of `agency`."""
    doc = dict(examples(agency)["indicator.reported"])
    doc["id"] = f"access-{uuid.uuid4().hex[:10]}"
    doc["data"] = {k: v for k, v in doc["data"].items() if k != "unit_code"}  # the agency's own figure
    record = to_kafka(agency_event_adapter.validate_python(doc))
    return record.key, record.value, list(record.headers)


async def _write(bootstrap: str, credentials: KafkaCredentials, topic: str, record) -> None:
    key, value, headers = record
    producer = make_producer(bootstrap, credentials=credentials, request_timeout_ms=5000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), 20)
    finally:
        await producer.stop()


def write(pipe: Pipeline, credentials: KafkaCredentials, topic: str, record) -> None:
    asyncio.run(_write(pipe.kafka_bootstrap, credentials, topic, record))


def dead_letters(pipe: Pipeline) -> dict[bytes, str]:
    """ce_id -> reason of every dead letter on the pipeline's DLQ."""
    out = {}
    for r in read_topic(pipe.kafka_bootstrap, pipe.topics["dlq"]):
        ids = [v for n, v in r.headers if n == "ce_id"]
        out[ids[0] if ids else b""] = read_dead_letter(r.headers).reason
    return out


def ce_id(record) -> bytes:
    return next(v for n, v in record[2] if n == "ce_id")


# --- the broker refuses ----------------------------------------------------------------------


def test_a_client_without_credentials_or_with_a_wrong_password_cannot_connect(pipe: Pipeline) -> None:
    async def connect(**security) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=pipe.kafka_bootstrap, request_timeout_ms=3000, **security
        )
        try:
            await asyncio.wait_for(producer.start(), 20)
            await asyncio.wait_for(producer.send_and_wait(pipe.topics["raw"], b"forged"), 10)
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect())  # PLAINTEXT on the SASL listener: the broker closes the connection
    wrong = KafkaCredentials("intake", "not-the-password").client_options()
    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect(**wrong))


def test_an_agency_system_writes_only_its_own_topic(pipe: Pipeline, agencies) -> None:
    own = agency_topic(pipe.topics["raw"], AGENCY)
    write(pipe, agencies[AGENCY], own, report(AGENCY))  # allowed
    for topic in (
        agency_topic(pipe.topics["raw"], OTHER),  # another agency's
        pipe.topics["raw"],  # the shared raw topic: operators' replays only
        pipe.topics["events"],  # the canonical topic: intake only
        pipe.topics["status"],  # the status topic: the aggregator only
        pipe.topics["dlq"],
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            write(pipe, agencies[AGENCY], topic, report(AGENCY))


def test_each_service_writes_only_what_it_owns(pipe: Pipeline) -> None:
    intake, aggregator, notifier = (
        service_credentials(pipe, s) for s in ("intake", "aggregator", "notifier")
    )
    t = pipe.topics
    for credentials, topic in [
        (intake, t["status"]),
        (intake, t["raw"]),
        (aggregator, t["events"]),
        (aggregator, t["raw"]),
        (notifier, t["status"]),
        (notifier, t["events"]),
    ]:
        with pytest.raises(TopicAuthorizationFailedError):
            write(pipe, credentials, topic, report(AGENCY))

    async def notifier_reads_events() -> None:
        consumer = AIOKafkaConsumer(
            t["events"],
            bootstrap_servers=pipe.kafka_bootstrap,
            **notifier.client_options(),
            group_id=f"tiendo-notifier-{uuid.uuid4().hex[:6]}",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 15)
        finally:
            await consumer.stop()

    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        asyncio.run(notifier_reads_events())


# --- the consumers refuse ----------------------------------------------------------------------


def test_a_record_on_an_agencys_topic_claiming_another_agency_is_dead_lettered_and_not_counted(
    pipe: Pipeline, agencies
) -> None:
    own = agency_topic(pipe.topics["raw"], AGENCY)
    forged, true = report(OTHER), report(AGENCY)  # OTHER's valid report, on AGENCY's topic
    write(pipe, agencies[AGENCY], own, forged)
    write(pipe, agencies[AGENCY], own, true)  # the same door with the truth: counted
    true_id = ce_id(true).decode()
    wait_until(
        "the true report applied by the aggregator",
        lambda: (f"/agencies/{AGENCY}", true_id) in pipe.applied(),
        90,
    )
    wait_until("the forged record dead-lettered", lambda: ce_id(forged) in dead_letters(pipe), 30)
    assert dead_letters(pipe)[ce_id(forged)] == "source-mismatch"
    forged_id = ce_id(forged).decode()
    assert not {(s, i) for s, i in pipe.applied() if i == forged_id}
    assert all(
        dict(r.headers).get("ce_id") != ce_id(forged)
        for r in read_topic(pipe.kafka_bootstrap, pipe.topics["events"])
    ), "the forged record reached the canonical topic"


def test_a_status_event_forged_on_a_compromised_path_is_refused_by_the_notifier(
    pipe: Pipeline, kafka_admin
) -> None:
    subject = f"{AGENCY}/drug_cases_detected/2024-Q1"
    event = status_event_adapter.validate_python(
        {
            "specversion": "1.0",
            "id": f"forged-status-{uuid.uuid4().hex[:8]}",
            "source": f"/agencies/{AGENCY}",  # not the aggregator
            "time": "2024-06-20T08:00:00+07:00",
            "type": EventType.KPI_STATUS_CHANGED,
            "subject": subject,
            "data": {
                "agency": AGENCY,
                "indicator": "drug_cases_detected",
                "period": "2024-Q1",
                "status": "lagging",
                "previous_status": None,
                "actual": 1.0,
                "target": 123.456,
                "expected": 5.0,
                "forecast": 2.0,
                "as_of": "2099-01-01T00:00:00+07:00",
            },
        }
    )
    record = to_kafka(event, key=AGENCY)
    # Only the aggregator's principal may write the topic; the admin stands for a compromised path.
    write(pipe, kafka_admin, pipe.topics["status"], (record.key, record.value, list(record.headers)))
    wait_until("the forged status event dead-lettered", lambda: event.id.encode() in dead_letters(pipe), 60)
    assert dead_letters(pipe)[event.id.encode()] == "wrong-source"
    assert not pipe.sql("SELECT id FROM notifier.inbox WHERE id = $1", event.id)
    assert "123.456" not in str(pipe.sql("SELECT * FROM notifier.kpi_status"))
