"""The whole pipeline under test: three service processes started by `shared.stack.up` on
given Kafka / PostgreSQL (unique topics and consumer groups, a fresh database), plus the
handles the fault scenarios need: SIGKILL and restart a service, stop and restart the SMTP
server, tokens, and black-box observations (read API, inbox rows, DLQ size, mailbox).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import pg_dsn
from services.intake.adapters.tokens import issue_tokens
from shared.auth import Role
from shared.auth.testing import bearer, jwks_file
from shared.infra._process import REPO_ROOT, pid_alive
from shared.infra.ports import wait_for_port
from shared.kafka import client_security
from shared.stack import StackPaths, down, service_kafka_env, up

NOW = "2024-06-20T08:00:00+07:00"


def api_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET on the read API or the notifier's API as the committee (a fresh token each call)."""
    return httpx.get(url, headers={**bearer(Role.COMMITTEE), **kwargs.pop("headers", {})}, **kwargs)


def wait_until(what: str, probe, timeout: float = 60, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last is True or (last and not isinstance(last, (list, str))):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"[:3000])


class Pipeline:
    def __init__(
        self, root: Path, kafka_bootstrap: str, database_url: str, env: dict[str, str] | None = None
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.paths = StackPaths(root)
        self.kafka_bootstrap, self.database_url = kafka_bootstrap, database_url
        self.topics = {
            "raw": f"sys-raw-{tag}",
            "events": f"sys-events-{tag}",
            "dlq": f"sys-dlq-{tag}",
            "status": f"sys-status-{tag}",
        }
        self.env = {
            "TIENDO_RAW_TOPIC": self.topics["raw"],
            "TIENDO_EVENTS_TOPIC": self.topics["events"],
            "TIENDO_DLQ_TOPIC": self.topics["dlq"],
            "TIENDO_STATUS_TOPIC": self.topics["status"],
            "AGGREGATOR_GROUP_ID": f"sys-agg-{tag}",
            "NOTIFIER_CONSUMER_GROUP": f"sys-notifier-{tag}",
            "INTAKE_RAW_GROUP_ID": f"sys-intake-raw-{tag}",
            "NOTIFIER_GROUP_WAIT": "PT1S",
            "NOTIFIER_GROUP_INTERVAL": "PT2S",
            "NOTIFIER_CRITICAL_INTERVAL": "PT2S",
            "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
            "NOTIFIER_RETRY_CAP_SECONDS": "2",
            "NOTIFIER_SEND_LEASE": "5",
            "NOTIFIER_TICK_SECONDS": "0.5",
            "AGGREGATOR_DEADLINE_CHECK_SECONDS": "2",
            "INTAKE_PUBLISH_TIMEOUT_S": "3",
            "INTAKE_RETRY_AFTER_S": "1",
            "INTAKE_RATE_PER_S": "5000",
            "INTAKE_RATE_BURST": "20000",
            "AUTH_JWKS_FILE": str(jwks_file()),  # the services accept shared.auth.testing's tokens
            **(env or {}),
        }
        self.state: dict = {}
        self.overrides: dict[str, dict[str, str]] = {}  # a service's own settings on restarts
        self.tokens: dict[str, str] = {}
        self.started = 0.0
        self.kills: Counter = Counter()

    # ---------------------------------------------------------------- lifecycle
    def up(self) -> Pipeline:
        self.started = time.time()
        self.state = up(
            self.paths,
            lambda _: None,
            now=NOW,
            extra_env=self.env,
            kafka_bootstrap=self.kafka_bootstrap,
            database_url=self.database_url,
            stable_ports=False,
        )  # any free ports: other stacks may be starting at once
        self.up_seconds = time.time() - self.started
        return self

    def down(self) -> None:
        down(self.paths, lambda _: None, grace=15)

    def url(self, name: str) -> str:
        return self.state["components"][name]["url"]

    def pid(self, name: str) -> int:
        return self.state["components"][name]["pid"]

    def _record(self) -> None:
        self.paths.state.write_text(json.dumps(self.state, indent=2, ensure_ascii=False))

    def _service_env(self, name: str) -> dict[str, str]:
        """The environment `stack.up` gave the services, with the clock continued (not reset)."""
        c = self.state["components"]
        elapsed = time.time() - self.started
        now = (datetime.fromisoformat(NOW) + timedelta(seconds=elapsed)).isoformat()
        ports = {n: c[n]["url"].rsplit(":", 1)[1] for n in ("intake", "aggregator", "notifier")}
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "TIENDO_CLOCK_SPEED": "1.0",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(c["smtp"]["port"]),
            "NOTIFIER_ACK_SECRET": (self.paths.root / "notifier-ack-secret").read_text().strip(),
            "NOTIFIER_PUBLIC_URL": c["notifier"]["url"],
            **{f"{n.upper()}_HTTP_PORT": p for n, p in ports.items()},
            "TIENDO_NOW": now,
            **self.env,
            **service_kafka_env(self.paths, name),  # its own Kafka principal, as `up` gave it
            **self.overrides.get(name, {}),
        }

    def restart_with(self, name: str, **settings: str) -> None:
        """Restart a service with some settings of its own (e.g. another route to a server)."""
        self.overrides.setdefault(name, {}).update(settings)
        self._end(name)  # a reconfiguration, not a fault: not counted in `kills`
        self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL a service (or the SMTP server) and wait until it is gone."""
        self._end(name)
        self.kills[name] += 1

    def _end(self, name: str) -> None:
        pid = self.pid(name)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            try:  # our child: reap it so it is not a zombie forever
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)

    def start(self, name: str, wait_ready: bool = True) -> None:
        """Start a killed service again on the same port, same settings."""
        c = self.state["components"][name]
        log = open(c["log"], "ab")
        if name == "smtp":
            args = [
                sys.executable,
                "-m",
                "shared.infra.smtp",
                "--port",
                str(c["port"]),
                "--mailbox",
                c["mailbox"],
            ]
            env = dict(os.environ)
        else:
            args = [sys.executable, "-m", f"services.{name}"]
            env = self._service_env(name)
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )
        log.close()
        c["pid"] = proc.pid
        self._record()
        if name == "smtp":
            wait_for_port("127.0.0.1", c["port"], timeout=20)
        elif wait_ready:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        def ready() -> bool:
            if not pid_alive(self.pid(name)):
                raise AssertionError(f"{name} exited; see {self.state['components'][name]['log']}")
            try:
                return httpx.get(self.url(name) + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(f"{name} ready", ready, timeout, 0.3)

    def alive(self, name: str) -> bool:
        return pid_alive(self.pid(name))

    # ---------------------------------------------------------------- tokens
    def issue_tokens(self, agencies: list[str]) -> dict[str, str]:
        self.tokens.update(
            asyncio.run(
                issue_tokens(
                    self.database_url,
                    [a for a in agencies if a not in self.tokens],
                    datetime.fromisoformat(NOW),
                )
            )
        )
        return self.tokens

    def send(self, agency: str, body: dict | list[dict], timeout: float = 30) -> httpx.Response:
        """POST an event (a dict) or a batch (a list) to intake with the agency's token."""
        batch = isinstance(body, list)
        return httpx.post(
            self.url("intake") + ("/v1/events/batch" if batch else "/v1/events"),
            json=body,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {self.tokens[agency]}",
                "Content-Type": f"application/cloudevents{'-batch' if batch else ''}+json",
            },
        )

    def revoke(self, agency: str) -> list[str]:
        from services.intake.adapters.tokens import TokenRepository
        from shared.db import make_engine

        async def go() -> list[str]:
            engine = make_engine(self.database_url)
            try:
                return await TokenRepository(engine).revoke(agency, datetime.fromisoformat(NOW))
            finally:
                await engine.dispose()

        return asyncio.run(go())

    # ---------------------------------------------------------------- observations
    def kpis(self) -> list[dict]:
        response = api_get(self.url("aggregator") + "/v1/kpis", timeout=15)
        response.raise_for_status()
        return response.json()["items"]

    def firing_alerts(self) -> list[dict]:
        response = api_get(self.url("notifier") + "/alerts", params={"state": "firing"}, timeout=15)
        response.raise_for_status()
        return response.json()

    def sql(self, query: str, *args: Any) -> list[dict]:
        import asyncpg

        async def go():
            conn = await asyncpg.connect(pg_dsn(self.database_url))
            try:
                return [dict(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return asyncio.run(go())

    def applied(self) -> set[tuple[str, str]]:
        """(source, id) of the events the aggregator recorded (its inbox, rejected ones excluded)."""
        rows = self.sql("SELECT source, id FROM aggregator.recorded_events WHERE rejected IS NULL")
        return {(r["source"], r["id"]) for r in rows}

    def outbox(self) -> list[dict]:
        return self.sql("SELECT message_id, recipient, status, attempts FROM notifier.outbox")

    def dlq_count(self) -> int:
        """Records on the scenario's dead-letter topic."""
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        async def go() -> int:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, **client_security())
            await admin.start()
            try:
                described = await admin.describe_topics([self.topics["dlq"]])
            finally:
                await admin.close()
            tps = [
                TopicPartition(self.topics["dlq"], p["partition"]) for t in described for p in t["partitions"]
            ]
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.kafka_bootstrap,
                **client_security(),
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
            await consumer.start()
            try:
                ends = await consumer.end_offsets(tps)
                starts = await consumer.beginning_offsets(tps)
                return sum(ends[tp] - starts[tp] for tp in tps)
            finally:
                await consumer.stop()

        return asyncio.run(go())

    def mailbox(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.paths.mailbox.glob("*.eml"))
        ]

    def produce_raw(self, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> None:
        """Write records straight to the raw topic (the Kafka path of agency systems)."""
        from shared.kafka import make_producer

        async def go() -> None:
            producer = make_producer(self.kafka_bootstrap)
            await producer.start()
            try:
                for key, value, headers in records:
                    await producer.send_and_wait(self.topics["raw"], value, key=key, headers=headers)
            finally:
                await producer.stop()

        asyncio.run(go())
