"""Compose's Kafka, run for real without a Docker engine: `deploy/kafka/start.sh` (the kafka
service's entrypoint) on Kafka's own jars, then the kafka-access job's command
(`tiendo agency kafka-credentials grant-services`) with per-service password files, as compose
gives them. What must hold: nobody connects without credentials, each service authenticates
with its own password and may do only what its least privilege allows, and the grant can be
run again at every start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError
from typer.testing import CliRunner

from shared.infra._process import REPO_ROOT
from shared.infra.kafka import ensure_kafka_runtime, java
from shared.infra.ports import free_port, wait_for_port
from shared.kafka import TOPIC_VARIABLES, KafkaCredentials, client_security, ensure_topics, topic_specs

pytestmark = pytest.mark.infra
START = REPO_ROOT / "deploy" / "kafka" / "start.sh"
HOST = "127.0.0.1"


class Broker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, controller = free_port(), free_port()
        self.bootstrap = f"{HOST}:{self.port}"
        self.admin_file = root / "secrets" / "kafka_admin_password"
        self.admin_file.parent.mkdir()
        self.admin_file.write_text(uuid.uuid4().hex + "\n")
        java_bin = Path(java()).parent
        self.env = {
            "PATH": f"{java_bin}:{os.environ['PATH']}",
            "KAFKA_HOME": str(ensure_kafka_runtime()),
            "KAFKA_NODE_ID": "1",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@{HOST}:{controller}",
            "CLUSTER_ID": "UrQQSVURTa2reFdNLCaf7A",
            "KAFKA_ADMIN_PASSWORD_FILE": str(self.admin_file),
            "KAFKA_LOG_DIRS": str(root / "data"),
            "KAFKA_CONFIG_DIR": str(root / "config"),
            "KAFKA_LOGS_DIR": str(root / "logs"),
            "KAFKA_LOG4J_CONFIG": str(REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"),
            "KAFKA_LISTEN_HOST": HOST,
            "KAFKA_ADVERTISED_HOST": HOST,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(controller),
            "KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        }
        self.output = open(root / "start.log", "wb")
        self.proc = subprocess.Popen(
            ["bash", str(START)],
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(HOST, self.port, timeout=90)
        except TimeoutError:
            self.stop()
            pytest.fail(
                f"start.sh did not open {self.bootstrap}:\n{(root / 'start.log').read_text()[-3000:]}"
            )

    @property
    def admin(self) -> KafkaCredentials:
        return KafkaCredentials("admin", self.admin_file.read_text().strip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.output.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    broker = Broker(tmp_path_factory.mktemp("compose-kafka"))
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def topics(broker):
    """The topics under unique names (what kafka-init makes, as the admin)."""
    suffix = uuid.uuid4().hex[:6]
    env = {var: f"{spec.name}-{suffix}" for spec, var in TOPIC_VARIABLES.items()}
    asyncio.run(ensure_topics(broker.bootstrap, topic_specs(env), credentials=broker.admin))
    return env


def grant_services(broker: Broker, topics: dict[str, str], passwords: dict[str, str]):
    """The kafka-access job: `tiendo agency kafka-credentials grant-services` as compose runs it."""
    from shared import cli

    cli._register()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_SASL_USERNAME": "admin",
        "KAFKA_SASL_PASSWORD_FILE": str(broker.admin_file),
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        **topics,
    }
    for service, password in passwords.items():
        path = broker.root / "secrets" / f"{service}_kafka_password"
        path.write_text(password + "\n")
        env[f"{service.upper()}_KAFKA_PASSWORD_FILE"] = str(path)
    return CliRunner().invoke(cli.app, ["agency", "kafka-credentials", "grant-services"], env=env)


PASSWORDS = {s: f"{s}-{uuid.uuid4().hex}" for s in ("intake", "aggregator", "notifier")}


@pytest.fixture(scope="module")
def granted(broker, topics):
    result = grant_services(broker, topics, PASSWORDS)
    assert result.exit_code == 0, result.output
    return topics


async def _produce(bootstrap: str, topic: str, credentials: KafkaCredentials | None) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        **client_security(credentials) if credentials else {},
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


async def _consume_one(bootstrap: str, topic: str, group: str, credentials: KafkaCredentials) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_security(credentials),
    )
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 15)
    finally:
        await consumer.stop()


def test_a_client_without_credentials_cannot_connect(broker):
    with pytest.raises(KafkaConnectionError):
        asyncio.run(asyncio.wait_for(_produce(broker.bootstrap, "anything", None), 20))


def test_each_service_writes_only_what_it_owns(broker, granted):
    events, status = granted["TIENDO_EVENTS_TOPIC"], granted["TIENDO_STATUS_TOPIC"]
    intake, aggregator, notifier = (KafkaCredentials(s, PASSWORDS[s]) for s in PASSWORDS)
    asyncio.run(_produce(broker.bootstrap, events, intake))
    asyncio.run(_produce(broker.bootstrap, status, aggregator))
    for topic, who in ((events, aggregator), (status, intake), (events, notifier), (status, notifier)):
        with pytest.raises(TopicAuthorizationFailedError):
            asyncio.run(_produce(broker.bootstrap, topic, who))


def test_each_service_reads_with_its_own_group_only(broker, granted):
    events, status = granted["TIENDO_EVENTS_TOPIC"], granted["TIENDO_STATUS_TOPIC"]
    aggregator, notifier = (
        KafkaCredentials("aggregator", PASSWORDS["aggregator"]),
        KafkaCredentials("notifier", PASSWORDS["notifier"]),
    )
    asyncio.run(_consume_one(broker.bootstrap, events, "tiendo-aggregator", aggregator))
    asyncio.run(_consume_one(broker.bootstrap, status, "tiendo-notifier", notifier))
    with pytest.raises(KafkaError):  # the notifier may not read the canonical topic
        asyncio.run(_consume_one(broker.bootstrap, events, "tiendo-notifier", notifier))
    with pytest.raises(KafkaError):  # nor join the aggregator's group
        asyncio.run(_consume_one(broker.bootstrap, status, "tiendo-aggregator", notifier))


def test_a_wrong_password_is_refused_and_the_grant_runs_again_with_new_ones(broker, granted):
    wrong = KafkaCredentials("intake", "not-" + PASSWORDS["intake"])
    with pytest.raises(KafkaError):
        asyncio.run(asyncio.wait_for(_produce(broker.bootstrap, granted["TIENDO_EVENTS_TOPIC"], wrong), 20))
    rotated = {s: f"{s}-rotated-{uuid.uuid4().hex}" for s in PASSWORDS}
    result = grant_services(broker, granted, rotated)
    assert result.exit_code == 0, result.output
    asyncio.run(
        _produce(
            broker.bootstrap, granted["TIENDO_EVENTS_TOPIC"], KafkaCredentials("intake", rotated["intake"])
        )
    )
    with pytest.raises(KafkaError):  # the old password no longer works
        asyncio.run(
            asyncio.wait_for(
                _produce(
                    broker.bootstrap,
                    granted["TIENDO_EVENTS_TOPIC"],
                    KafkaCredentials("intake", PASSWORDS["intake"]),
                ),
                20,
            )
        )
    PASSWORDS.update(rotated)


@pytest.mark.parametrize(
    ("passwords", "message"),
    [
        ({"intake": "x" * 20, "aggregator": "y" * 20}, "set NOTIFIER_KAFKA_PASSWORD_FILE"),
        ({"intake": "short", "aggregator": "y" * 20, "notifier": "z" * 20}, "needs 16+ characters"),
        ({"intake": "x" * 20, "aggregator": "x" * 20, "notifier": "z" * 20}, "a password of its own"),
    ],
)
def test_the_grant_refuses_missing_short_or_shared_passwords_in_one_line(broker, granted, passwords, message):
    result = grant_services(broker, granted, passwords)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # rich boxes the message
    assert "Traceback" not in result.output
