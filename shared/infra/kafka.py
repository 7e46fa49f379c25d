"""Real Apache Kafka (KRaft) from Maven Central's jars: one node, or a cluster of N.

No Docker engine needed: `mvn` resolves the official broker jars once into the
git-ignored cache and `java` runs `kafka.Kafka` as a child process per node. Every node is
a combined broker+controller; a cluster of N is N such processes forming a static quorum of N
voters, each with its own ports and data dir (`KafkaCluster`; the single broker is the 1-node
case). Replication follows the cluster's size: 3 nodes give replication factor 3 and
`min.insync.replicas=2` for Kafka's internal topics and as the topics' default.

Access control is always on, as in production (docs/security.md, "Kafka"): clients authenticate
with SASL/SCRAM-SHA-512, the KRaft `StandardAuthorizer` denies what no ACL allows, and the one
super user is the admin principal, whose SCRAM credential is written at `kafka-storage format`
(the bootstrap credential; every other principal is created through the admin API,
`shared.kafka_access`). The controller listener authenticates the nodes to each other with
SASL/PLAIN as that same admin. The admin password is generated once per data dir
(`admin.secret`, mode 600), or taken from `TIENDO_KAFKA_ADMIN_PASSWORD` for a new one.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from shared.infra._process import REPO_ROOT, ChildServer, InfraError, cache_dir, tail
from shared.infra.faults import Link, NetworkNamespace
from shared.infra.ports import free_port, wait_for_port
from shared.kafka import SCRAM, KafkaCredentials, make_admin

KAFKA_VERSION = "4.1.1"
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2 = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
INSTALL_HINT = "install a JRE 17+ and Maven, e.g. `apt-get install openjdk-17-jre-headless maven`"
HOST = "127.0.0.1"
ADMIN = "admin"
_PROBE_THREAD = "kafka-readiness-probe"


class _DropProbeRecords(logging.Filter):
    # The probe expects refused connections while the broker boots: keep them off consoles.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_PROBE_THREAD)


for _name in ("aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.admin.client"):
    logging.getLogger(_name).addFilter(_DropProbeRecords())


def java() -> str:
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
    java()
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
        print(
            f"downloading Kafka {KAFKA_VERSION} jars from Maven Central (once)...",
            file=sys.stderr,
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={home / 'libs'}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(
                f"`{' '.join(cmd)}` failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        marker.write_text(KAFKA_VERSION + "\n")
    return home


def _cluster_id() -> str:
    # Kafka's Uuid: url-safe base64 of 16 random bytes, never starting with '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def admin_secret(workdir: Path) -> str:
    """The admin principal's password for the node(s) in `workdir`, made once (mode 600)."""
    path = Path(workdir) / "admin.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(0o600)
        # A test session's brokers share one (its clients reach any of them as the admin).
        password = os.environ.get("TIENDO_KAFKA_ADMIN_PASSWORD") or secrets.token_hex(24)
        if not password.isalnum():
            raise InfraError("TIENDO_KAFKA_ADMIN_PASSWORD: letters and digits only (it goes into JAAS)")
        path.write_text(password + "\n")
    return path.read_text().strip()


async def _ready(bootstrap: str, node_id: int, admin_credentials: KafkaCredentials) -> bool:
    """The broker answers metadata, lists itself among the live brokers, and every partition it
    knows has a leader."""
    admin = make_admin(bootstrap, credentials=admin_credentials, request_timeout_ms=3000)
    try:
        await admin.start()
        if node_id not in {b["node_id"] for b in (await admin.describe_cluster())["brokers"]}:
            return False
        topics = await admin.describe_topics()
        return all(t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"]) for t in topics)
    except Exception:
        return False
    finally:
        await admin.close()


def _in_thread(probe):
    # A thread of its own runs the probe's loop, so start() also works under a running loop.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=_PROBE_THREAD) as pool:
        return pool.submit(lambda: asyncio.run(probe())).result()


def _probe(bootstrap: str, node_id: int, admin_credentials: KafkaCredentials) -> bool:
    return _in_thread(lambda: _ready(bootstrap, node_id, admin_credentials))


def replication_for(nodes: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) a cluster of `nodes` runs its topics at."""
    return (3, 2) if nodes >= 3 else (1, 1)


class KafkaServer(ChildServer):
    """One Kafka node (broker+controller) whose config, data and logs live in `workdir`.

    Alone it is a 1-voter quorum; `KafkaCluster` makes N of them share a cluster id and a
    static voter list (`quorum`), each still started, stopped, killed and restarted on its own.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        node_id: int = 1,
        quorum: list[KafkaServer] | None = None,
        cluster_id: str | None = None,
        admin_password: str | None = None,
        namespace: NetworkNamespace | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        """`namespace`, `links` (fault tests): the node runs inside that network namespace, its
        client listener on the first link and one more listener per further link, so a
        partition of one link cuts only the clients that bootstrapped through it."""
        self.workdir = Path(workdir).resolve()
        self.namespace = namespace
        self.links = list(links)
        self.host = self.links[0].address if self.links else HOST
        self.link_ports: list[int] = []
        self.admin_password = admin_password or admin_secret(self.workdir)
        self.node_id = node_id
        self.quorum = quorum if quorum is not None else [self]
        self.cluster_id = cluster_id
        self.port: int | None = None
        self.controller_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise InfraError("Kafka was never started")
        return f"{self.host}:{self.port}"

    def bootstrap_via(self, link: Link) -> str:
        """The bootstrap address of the listener on `link` (one of `links`)."""
        index = self.links.index(link)
        return self.bootstrap if index == 0 else f"{link.address}:{self.link_ports[index - 1]}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def admin(self) -> KafkaCredentials:
        """The super user's credentials (creates the other principals, `shared.kafka_access`)."""
        return KafkaCredentials(ADMIN, self.admin_password)

    @property
    def log_path(self) -> Path:
        return self.workdir / "logs" / "server.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def assign_ports(self) -> None:
        """Pick the node's ports once; restarts keep them so clients and peers reconnect."""
        if self.port is None:
            self.port, self.controller_port = free_port(HOST), free_port(HOST)
            self.link_ports = [free_port(HOST) for _ in self.links[1:]]

    def quorum_state(self) -> dict:
        """This node's view of the KRaft quorum (`leaderId`, `leaderEpoch`), {} if none yet."""
        try:
            return json.loads((self.data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
        except (OSError, ValueError):
            return {}

    def _write_config(self) -> Path:
        replication, min_isr = replication_for(len(self.quorum))
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.quorum)
        password = self.admin_password
        names = [f"LINK{i}" for i in range(1, len(self.links))]
        clients = [
            f"{name}://{link.address}:{port}"
            for name, link, port in zip(names, self.links[1:], self.link_ports)
        ]
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join(
                [
                    f"SASL_PLAINTEXT://{self.host}:{self.port}",
                    *clients,
                    f"CONTROLLER://{HOST}:{self.controller_port}",
                ]
            ),
            "advertised.listeners": ",".join([f"SASL_PLAINTEXT://{self.host}:{self.port}", *clients]),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": ",".join(
                f"{name}:SASL_PLAINTEXT" for name in ["SASL_PLAINTEXT", *names, "CONTROLLER"]
            ),
            # Clients and brokers: SCRAM, whose credentials live in the cluster's metadata. The
            # controllers cannot read that metadata before they have a quorum, so they
            # authenticate each other with PLAIN as the same admin principal.
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            **{
                f"listener.name.{name.lower()}.{SCRAM.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{ADMIN}" password="{password}";'
                )
                for name in ["SASL_PLAINTEXT", *names]
            },
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";'
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN}",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": str(replication),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(replication),
            "transaction.state.log.replication.factor": str(replication),
            "transaction.state.log.min.isr": str(min_isr),
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash the controller refuses the new incarnation until the old
            # session expires (default 9 s); shorter makes kill()+restart() fast, and a
            # killed leader's partitions move sooner.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "2500",
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _java_cmd(self, home: Path, *args: str) -> list[str]:
        return [
            java(),
            f"-Dlog4j2.configurationFile={LOG4J2}",
            f"-Dkafka.logs.dir={self.log_path.parent}",
            "-cp",
            str(home / "libs" / "*"),
            *args,
        ]

    def launch(self) -> None:
        """Start the process without waiting for it (a quorum's nodes must boot together)."""
        if self.is_running():
            return
        home = ensure_kafka_runtime()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for node in self.quorum:
            node.assign_ports()
        config = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            # Static quorum (controller.quorum.voters), hence no --standalone.
            self.cluster_id = self.cluster_id or _cluster_id()
            # The admin's SCRAM credential is bootstrapped with the metadata (KRaft has no
            # ZooKeeper to write it to before the first start).
            scram = f"{SCRAM}=[name={ADMIN},password={self.admin_password}]"
            fmt = self._java_cmd(
                home,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(config),
                "--add-scram",
                scram,
            )
            result = subprocess.run(fmt, capture_output=True, text=True, cwd=self.workdir)
            if result.returncode != 0:
                raise InfraError(f"Kafka storage format failed:\n{result.stdout}{result.stderr}")
        self._output = open(self.log_path.parent / "stdout.log", "ab")
        cmd = self._java_cmd(home, "kafka.Kafka", str(config))
        heap = ["-Xmx512m", "-Xms256m"] if len(self.quorum) == 1 else ["-Xmx384m", "-Xms128m"]
        cmd[1:1] = [*heap, "-XX:+UseG1GC"]
        if self.namespace is not None:
            cmd[:0] = self.namespace.exec_prefix
        # Own session: a Ctrl-C in the terminal must not kill the broker behind our back.
        self._proc = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=self._output, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, timeout: float = 60) -> str:
        """Start (or return the running) node; ready once it answers metadata as a live broker."""
        if not self.is_running():
            self.launch()
            self.await_ready(timeout)
        return self.bootstrap

    def await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                self.kill()  # reaps it and closes the log handle
                raise InfraError(f"Kafka exited during start-up\n{self._logs()}")
            try:
                wait_for_port(self.host, self.port or 0, timeout=min(1.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            if _probe(self.bootstrap, self.node_id, self.admin):
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


class KafkaCluster:
    """N Kafka nodes on loopback, each its own process, ports and data dir (`workdir/node-<id>`;
    a 1-node cluster keeps `workdir` itself, the single broker's layout)."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.workdir = Path(workdir).resolve()
        self.cluster_id = _cluster_id()
        self.admin_password = admin_secret(self.workdir)
        self.nodes: list[KafkaServer] = []
        for node_id in range(1, nodes + 1):
            home = self.workdir if nodes == 1 else self.workdir / f"node-{node_id}"
            self.nodes.append(
                KafkaServer(
                    home,
                    node_id=node_id,
                    quorum=self.nodes,
                    cluster_id=self.cluster_id,
                    admin_password=self.admin_password,
                )
            )
        self.replication, self.min_insync = replication_for(nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def admin(self) -> KafkaCredentials:
        return KafkaCredentials(ADMIN, self.admin_password)

    def node(self, node_id: int) -> KafkaServer:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 90) -> str:
        """Start every node that is not running (together: a quorum needs a majority to elect)
        and wait until each is a live broker."""
        starting = [n for n in self.nodes if not n.is_running()]
        try:
            for node in starting:
                node.launch()
            deadline = time.monotonic() + timeout
            for node in starting:
                node.await_ready(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.kill()  # never leave a half-started cluster behind
            raise
        return self.bootstrap

    def stop(self, grace: float = 30) -> None:
        """Controlled shutdown of every node at once: one by one, the last ones would wait on a
        quorum that is already gone."""
        for node in self.nodes:
            if node.is_running():
                node._proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop(grace)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def active_controller(self) -> int:
        """The node id of the quorum's leader, as the running nodes last recorded it."""
        states = [n.quorum_state() for n in self.nodes if n.is_running()]
        known = [s for s in states if s.get("leaderId", -1) >= 0]
        if not known:
            raise InfraError("no running node knows the quorum's leader")
        return max(known, key=lambda s: s.get("leaderEpoch", -1))["leaderId"]

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> leader node id (-1 while it has none)."""
        return {p["partition"]: p["leader"] for p in self._describe(topic)["partitions"]}

    def in_sync(self, topics: list[str]) -> bool:
        """Every partition of `topics` has a leader and all its replicas in sync."""
        try:
            described = [self._describe(t) for t in topics]
        except InfraError:
            return False
        return all(
            p["leader"] >= 0 and sorted(p["isr"]) == sorted(p["replicas"])
            for t in described
            for p in t["partitions"]
        )

    def _describe(self, topic: str) -> dict:
        running = ",".join(n.bootstrap for n in self.nodes if n.is_running())

        async def go() -> dict:
            admin = make_admin(running, credentials=self.admin, request_timeout_ms=5000)
            await admin.start()
            try:
                return (await admin.describe_topics([topic]))[0]
            finally:
                await admin.close()

        try:
            found = _in_thread(go)
        except Exception as exc:
            raise InfraError(f"cannot describe {topic}: {exc!r}") from exc
        if found.get("error_code", 0):
            raise InfraError(f"cannot describe {topic}: error {found['error_code']}")
        return found

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kafka_from_env_or_start(workdir: Path) -> tuple[str, KafkaServer | None]:
    """`KAFKA_BOOTSTRAP_SERVERS` if set (server None), else a broker started in `workdir`. A broker
    started here takes SASL clients only and knows no principal but its admin, so this process and
    the ones it starts use that admin (benchmarks, like the test session) — whatever principal the
    environment named before, which can only be another broker's (`make bench` starts several)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return external, None
    server = KafkaServer(workdir)
    try:
        bootstrap = server.start()
    except BaseException:
        server.kill()  # never leave a half-started server behind
        raise
    os.environ.pop("KAFKA_SASL_PASSWORD_FILE", None)
    os.environ.update(server.admin.env())
    return bootstrap, server
