"""A real single-node Apache Kafka (KRaft, broker+controller) from Maven Central's jars.

No Docker engine needed: `mvn` resolves the official broker jars once into the
git-ignored cache and `java` runs `kafka.Kafka` as a child process.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from shared.infra._process import REPO_ROOT, ChildServer, InfraError, cache_dir, tail
from shared.infra.ports import free_port, wait_for_port

KAFKA_VERSION = "4.1.1"
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2 = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
INSTALL_HINT = "install a JRE 17+ and Maven, e.g. `apt-get install openjdk-17-jre-headless maven`"
HOST = "127.0.0.1"
_PROBE_THREAD = "kafka-readiness-probe"


class _DropProbeRecords(logging.Filter):
    # The probe expects refused connections while the broker boots: keep them off consoles.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_PROBE_THREAD)


for _name in ("aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.admin.client"):
    logging.getLogger(_name).addFilter(_DropProbeRecords())


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise InfraError(f"`java` not found: Kafka needs a Java runtime; {INSTALL_HINT}")
    return java


def ensure_kafka_runtime() -> Path:
    """Kafka's home in the cache (jars in `libs/`), downloading them once.

    A `.complete` marker is written last, so an interrupted download is redone; a file
    lock keeps concurrent sessions (xdist workers, demo + tests) from racing.
    """
    _java()
    home = cache_dir() / f"kafka-{KAFKA_VERSION}"
    marker = home / ".complete"
    if marker.exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"kafka-{KAFKA_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another process finished while we waited
            return home
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError(f"`mvn` not found: needed once to fetch Kafka's jars; {INSTALL_HINT}")
        print(f"downloading Kafka {KAFKA_VERSION} jars from Maven Central (once)...",
              file=sys.stderr, flush=True)
        shutil.rmtree(home, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={home / 'libs'}", "-DincludeScope=runtime"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"`{' '.join(cmd)}` failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
        marker.write_text(KAFKA_VERSION + "\n")
    return home


def _cluster_id() -> str:
    # Kafka's Uuid: url-safe base64 of 16 random bytes, never starting with '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


async def _ready(bootstrap: str) -> bool:
    """The broker answers metadata and every partition it knows has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        if not (await admin.describe_cluster())["brokers"]:
            return False
        topics = await admin.describe_topics()
        return all(t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"])
                   for t in topics)
    except Exception:
        return False
    finally:
        await admin.close()


def _probe(bootstrap: str) -> bool:
    # A thread of its own runs the probe's loop, so start() also works under a running loop.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=_PROBE_THREAD) as pool:
        return pool.submit(lambda: asyncio.run(_ready(bootstrap))).result()


class KafkaServer(ChildServer):
    """One Kafka node whose config, data and logs live in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.port: int | None = None
        self.controller_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise InfraError("Kafka was never started")
        return f"{HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "logs" / "server.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash the controller refuses the new incarnation until the old
            # session expires (default 9 s); shorter makes kill()+restart() fast.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "2500",
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java_cmd(self, home: Path, *args: str) -> list[str]:
        return [_java(), f"-Dlog4j2.configurationFile={LOG4J2}",
                f"-Dkafka.logs.dir={self.log_path.parent}", "-cp", str(home / "libs" / "*"), *args]

    def start(self, timeout: float = 60) -> str:
        """Start (or return the running) broker; ready once it answers metadata."""
        if self.is_running():
            return self.bootstrap
        home = ensure_kafka_runtime()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.port is None:  # first start; restarts keep ports so clients reconnect
            self.port, self.controller_port = free_port(HOST), free_port(HOST)
        config = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            # Static quorum (controller.quorum.voters), hence no --standalone.
            fmt = self._java_cmd(home, "kafka.tools.StorageTool", "format",
                                 "-t", _cluster_id(), "-c", str(config))
            result = subprocess.run(fmt, capture_output=True, text=True, cwd=self.workdir)
            if result.returncode != 0:
                raise InfraError(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")
        self._output = open(self.log_path.parent / "stdout.log", "ab")
        cmd = self._java_cmd(home, "kafka.Kafka", str(config))
        cmd[1:1] = ["-Xmx512m", "-Xms256m", "-XX:+UseG1GC"]
        # Own session: a Ctrl-C in the terminal must not kill the broker behind our back.
        self._proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=self._output,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self._await_ready(timeout)
        return self.bootstrap

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                self.kill()  # reaps it and closes the log handle
                raise InfraError(f"Kafka exited during start-up\n{self._logs()}")
            try:
                wait_for_port(HOST, self.port or 0, timeout=min(1.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            if _probe(self.bootstrap):
                return
            time.sleep(0.2)
        self.kill()
        raise InfraError(f"Kafka not ready on {self.bootstrap} after {timeout:.0f}s\n{self._logs()}")

    def _logs(self) -> str:
        try:  # the first errors explain more than the shutdown noise that follows them
            lines = self.log_path.read_text(errors="replace").splitlines()
            errors = [line for line in lines if "ERROR" in line][:3]
        except OSError:
            errors = []
        return "\n".join([*errors, tail(self.log_path), tail(self.log_path.parent / "stdout.log", 15)])

    def restart(self, timeout: float = 60) -> str:
        """Stop if running, start again on the same ports with the same data."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> KafkaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kafka_from_env_or_start(workdir: Path) -> tuple[str, KafkaServer | None]:
    """`KAFKA_BOOTSTRAP_SERVERS` if set (server None), else a broker started in `workdir`."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return external, None
    server = KafkaServer(workdir)
    try:
        return server.start(), server
    except BaseException:
        server.kill()  # never leave a half-started server behind
        raise
