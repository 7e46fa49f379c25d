"""The local infrastructure is real: Kafka, PostgreSQL and SMTP, no mocks."""

from __future__ import annotations

import asyncio
import email.policy
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import aiosmtplib
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from shared.infra import KafkaServer, MailboxSmtpServer, PostgresServer, port_is_open
from shared.infra._process import REPO_ROOT, pid_alive
from shared.kafka import client_security

pytestmark = pytest.mark.infra


# Killing, stopping and restarting happen on servers of this module's own: the session's
# servers serve every other test, and one that failed to come back would fail them all.
@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory):
    with KafkaServer(tmp_path_factory.mktemp("own-kafka")) as server:
        yield server


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory):
    with PostgresServer(tmp_path_factory.mktemp("own-postgres")) as server:
        yield server


# --- Kafka -----------------------------------------------------------------------------


async def _create_topic(bootstrap: str, partitions: int = 3) -> str:
    topic = f"infra-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        # The controller has committed the topic; the broker's metadata cache follows shortly.
        async with asyncio.timeout(15):
            while True:
                (described,) = await admin.describe_topics([topic])
                leaders = [p["leader"] for p in described["partitions"]]
                if len(leaders) == partitions and min(leaders) >= 0:
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return topic


async def _consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **client_security(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        async with asyncio.timeout(timeout):
            while len(values) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                values += [r.value for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return values


async def test_kafka_explicit_topic_produce_acks_all_and_consume(kafka_bootstrap: str) -> None:
    topic = await _create_topic(kafka_bootstrap, partitions=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, **client_security(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"hello", key=b"QT-CA", partition=2)
    finally:
        await producer.stop()
    assert meta.partition == 2
    assert await _consume_all(kafka_bootstrap, topic, expected=1) == [b"hello"]


async def test_kafka_topics_are_never_auto_created(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, **client_security())
    await admin.start()
    try:
        (described,) = await admin.describe_topics(["never-created"])
        assert described["error_code"] != 0  # UNKNOWN_TOPIC_OR_PARTITION
        assert "never-created" not in await admin.list_topics()
    finally:
        await admin.close()


async def test_kafka_kill_and_restart_keeps_data_and_clients_reconnect(own_kafka: KafkaServer) -> None:
    kafka_server, kafka_bootstrap = own_kafka, own_kafka.bootstrap
    topic = await _create_topic(kafka_bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, **client_security(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"before-{i}".encode(), key=str(i).encode())
        pid = kafka_server.pid
        kafka_server.kill()
        assert not psutil.pid_exists(pid)  # SIGKILLed and reaped
        assert await asyncio.to_thread(kafka_server.restart) == kafka_bootstrap
        await producer.send_and_wait(topic, b"after", key=b"0")  # the same client reconnects
    finally:
        await producer.stop()
    values = await _consume_all(kafka_bootstrap, topic, expected=11)
    assert sorted(values) == sorted([f"before-{i}".encode() for i in range(10)] + [b"after"])


def test_kafka_stop_leaves_no_process_and_starts_again_on_the_same_port(own_kafka: KafkaServer) -> None:
    kafka_server = own_kafka
    pid, bootstrap = kafka_server.pid, kafka_server.bootstrap
    assert pid is not None and kafka_server.log_path.exists()
    kafka_server.stop()
    assert not psutil.pid_exists(pid) and kafka_server.pid is None
    assert not port_is_open("127.0.0.1", int(bootstrap.rsplit(":", 1)[1]))
    assert kafka_server.start() == bootstrap


# --- PostgreSQL ------------------------------------------------------------------------


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url, poolclass=NullPool)  # no pooled sockets across restarts
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def test_postgres_answers_select_1(database_url: str) -> None:
    assert await _scalar(database_url, "select 1") == 1
    assert await _scalar(database_url, "select current_database()") == "tiendo"


async def test_postgres_restart_and_crash_keep_committed_data(own_postgres: PostgresServer) -> None:
    postgres_server, database_url = own_postgres, own_postgres.url
    table = f"infra_{uuid.uuid4().hex[:8]}"
    await _scalar(database_url, f"create table {table} as select 42 as answer")
    assert await asyncio.to_thread(postgres_server.restart) == database_url
    assert await _scalar(database_url, f"select answer from {table}") == 42
    pid = postgres_server.pid
    postgres_server.kill()
    assert not pid_alive(pid)
    assert await asyncio.to_thread(postgres_server.restart) == database_url
    assert await _scalar(database_url, f"select answer from {table}") == 42


def test_postgres_stop_leaves_no_process(own_postgres: PostgresServer) -> None:
    postgres_server = own_postgres
    pid = postgres_server.pid
    assert pid is not None
    backends = psutil.Process(pid).children(recursive=True)
    postgres_server.stop()
    # pid_alive: our container's PID 1 may leave the exited postmaster as a zombie.
    assert not pid_alive(pid) and not any(pid_alive(p.pid) for p in backends)
    assert not port_is_open("127.0.0.1", postgres_server.port or 0)
    postgres_server.start()


def test_a_relocated_throwaway_cluster_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    """As root, a workdir the postgres user cannot enter puts the cluster in /tmp; removing the
    server removes that directory, and one whose workdir vanished (a killed run) is swept."""
    if os.geteuid() != 0:
        pytest.skip("relocation happens only when the server commands run as another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    orphan_workdir = private / "gone"
    server = PostgresServer(private / "pg")
    with server:
        assert server.base != server.workdir and server.base.is_dir()
        base = server.base
    assert not base.exists()
    # a killed run's directory: stopped, its workdir deleted, never removed
    orphan = PostgresServer(orphan_workdir)
    orphan.start()
    orphan.stop()
    shutil.rmtree(orphan_workdir)
    assert orphan.base.is_dir()
    with PostgresServer(private / "next"):
        assert not orphan.base.exists()


# --- SMTP ------------------------------------------------------------------------------


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "tiendo@example.org"
    msg["To"] = "truong.ban@example.org"
    msg["Subject"] = subject
    msg.set_content("Chỉ tiêu KPI-01 chậm tiến độ.\n.a line starting with a dot\n")
    return msg


async def test_smtp_stores_exactly_the_bytes_received(smtp_server: MailboxSmtpServer) -> None:
    before = set(smtp_server.paths())  # earlier tests may have cleared some: compare sets, not counts
    raw = _message("Cảnh báo tiến độ").as_bytes(policy=SMTP_POLICY)  # CRLF, as on the wire
    await aiosmtplib.send(
        raw,
        sender="tiendo@example.org",
        recipients=["truong.ban@example.org"],
        hostname=smtp_server.host,
        port=smtp_server.port,
    )
    smtp_server.wait_for(len(before) + 1)
    [path] = [p for p in smtp_server.paths() if p not in before]
    assert re.fullmatch(r"\d{8}T\d{12}Z-\d{6}\.eml", path.name), path.name
    assert path.read_bytes() == raw
    message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    assert message["Subject"] == "Cảnh báo tiến độ"
    assert ".a line starting with a dot" in message.get_content()


async def test_smtp_reject_flag_answers_451_until_removed(smtp_server: MailboxSmtpServer) -> None:
    before = len(smtp_server.paths())
    smtp_server.set_rejecting(True)
    try:
        assert (smtp_server.mailbox / ".reject").exists()
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(_message("refused"), hostname=smtp_server.host, port=smtp_server.port)
        assert refused.value.recipients[0].code == 451
        assert len(smtp_server.paths()) == before
    finally:
        smtp_server.set_rejecting(False)
    await aiosmtplib.send(_message("accepted"), hostname=smtp_server.host, port=smtp_server.port)
    assert smtp_server.wait_for(before + 1)[-1]["Subject"] == "accepted"


def test_smtp_stop_closes_the_port(tmp_path: Path) -> None:
    server = MailboxSmtpServer(tmp_path / "mailbox").start()
    assert port_is_open(server.host, server.port)
    server.stop()
    assert not port_is_open(server.host, server.port)


async def test_smtp_runs_as_its_own_process_and_exits_on_sigterm(tmp_path: Path) -> None:
    mailbox = tmp_path / "mailbox"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.infra.smtp", "--port", "0", "--mailbox", str(mailbox)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)  # type: ignore[union-attr]
        assert line.startswith("SMTP listening on 127.0.0.1:") and f"mailbox {mailbox}" in line
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        await aiosmtplib.send(_message("from a process"), hostname="127.0.0.1", port=port)
        assert MailboxSmtpServer(mailbox).wait_for(1)[0]["Subject"] == "from a process"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert not psutil.pid_exists(proc.pid)
