"""The cluster fault suite (issue #22): the whole pipeline on a local 3-node KRaft cluster
(`shared.infra.KafkaCluster`, combined broker+controller nodes, topics at replication factor 3
and `min.insync.replicas=2`), with Kafka nodes SIGKILLed while agencies keep posting.

Each scenario converges to the same independent oracle as the rest of tests/system
(`oracle.py` via `driving.converge`): every event intake answered 202/duplicate for is in the
projections exactly once, nothing applied that intake never accepted, a firing alert per
lagging KPI, every queued email delivered. Each prints its verdict line plus a line of cluster
timings (both repeated in the terminal summary).

Three JVMs are too heavy for every `make test`: the module runs only when `cluster` is selected
(`make test-cluster`, i.e. `pytest -m cluster tests/system/test_cluster_faults.py`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.infra import KafkaCluster, free_port
from shared.infra._process import REPO_ROOT, pid_alive
from shared.kafka import client_security
from tests.system import conftest as verdicts
from tests.system.driving import MIXED, PLAN, Load, converge
from tests.system.oracle import EventLog, Workload
from tests.system.pipeline import wait_until

pytestmark = [
    pytest.mark.infra,
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        "'cluster' not in config.option.markexpr",
        reason="3-node Kafka cluster suite: run with `make test-cluster` (-m cluster)",
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three nodes of the suite's own (never the session's broker)."""
    kafka = KafkaCluster(tmp_path_factory.mktemp("cluster"), nodes=3)
    kafka.start()
    yield kafka
    kafka.kill()
    shutil.rmtree(kafka.workdir, ignore_errors=True)


@pytest.fixture
def healthy(cluster):
    """Every node up again after a scenario, whatever it left behind."""
    yield cluster
    cluster.start()


def _partition_sizes(bootstrap: str, topic: str, partitions: list[int]) -> dict[int, int]:
    async def go() -> dict[int, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, **client_security(), enable_auto_commit=False
        )
        await consumer.start()
        try:
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return {tp.partition: n for tp, n in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _busiest_leader(cluster: KafkaCluster, topic: str) -> tuple[int, list[int]]:
    """The node leading the most records of `topic` so far, and the partitions it leads."""
    leaders = cluster.leaders(topic)
    sizes = _partition_sizes(cluster.bootstrap, topic, list(leaders))
    load: dict[int, int] = {}
    for partition, size in sizes.items():
        load[leaders[partition]] = load.get(leaders[partition], 0) + size
    node = max(load, key=load.get)
    return node, sorted(p for p, leader in leaders.items() if leader == node)


def _await_failover(cluster: KafkaCluster, topic: str, dead: int, partitions: list[int]) -> float:
    """Seconds until every partition `dead` led has a live leader again."""
    t0 = time.monotonic()

    def moved():
        try:
            leaders = cluster.leaders(topic)
        except Exception as exc:
            return repr(exc)
        stuck = {p: leaders.get(p) for p in partitions if leaders.get(p) in (dead, -1, None)}
        return not stuck or f"still without a live leader: {stuck}"

    wait_until(f"a new leader for partitions {partitions} of {topic}", moved, 60, 0.2)
    return time.monotonic() - t0


def _await_in_sync(cluster: KafkaCluster, topics: list[str]) -> float:
    t0 = time.monotonic()
    wait_until(f"all replicas of {topics} in sync", lambda: cluster.in_sync(topics), 90, 0.5)
    return time.monotonic() - t0


def _note(line: str) -> None:
    print(line)
    verdicts.VERDICTS.append(line)


def test_topics_are_replicated_three_times_with_two_in_sync(healthy, fresh_database_url, make_pipeline):
    """What every scenario relies on: the stack's topics on the cluster are RF 3, min ISR 2."""
    pipe = make_pipeline(healthy.bootstrap, fresh_database_url)

    async def describe():
        admin = AIOKafkaAdminClient(bootstrap_servers=healthy.bootstrap, **client_security())
        await admin.start()
        try:
            topics = await admin.describe_topics(list(pipe.topics.values()))
            configs = await admin.describe_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, t, {"min.insync.replicas": None})
                    for t in pipe.topics.values()
                ]
            )
            return topics, configs
        finally:
            await admin.close()

    topics, configs = asyncio.run(describe())
    assert {len(p["replicas"]) for t in topics for p in t["partitions"]} == {3}, topics
    min_isr = {r[3]: {e[0]: e[1] for e in r[4]}["min.insync.replicas"] for c in configs for r in c.resources}
    assert min_isr == dict.fromkeys(pipe.topics.values(), "2"), min_isr


def test_leader_of_the_busiest_partitions_killed_under_load_and_restarted(
    healthy, fresh_database_url, make_pipeline
):
    """1. SIGKILL the node leading most of the canonical topic's traffic while agencies post;
    restart it later. Its partitions move to the other two (both in sync), every 202 is kept."""
    cluster = healthy
    started = time.monotonic()
    pipe = make_pipeline(cluster.bootstrap, fresh_database_url)
    pipe.issue_tokens(MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=21).stream(MIXED, 90), rate=4).start()
    time.sleep(5)
    events = pipe.topics["events"]
    victim, partitions = _busiest_leader(cluster, events)
    accepted_before = len(log.accepted())
    cluster.node(victim).kill()
    failover = _await_failover(cluster, events, victim, partitions)
    time.sleep(max(0.0, 8 - failover))  # the load runs on two nodes for a while
    t0 = time.monotonic()
    cluster.node(victim).start()
    back = time.monotonic() - t0
    load.join()
    in_sync = _await_in_sync(cluster, list(pipe.topics.values()))
    assert len(log.accepted()) > accepted_before, "nothing was accepted after the kill"
    converge("cluster-leader-killed", pipe, log, started=started)
    _note(
        f"[cluster-leader-killed] node {victim} (leader of {events} partitions {partitions}) SIGKILLed: "
        f"new leaders in {failover:.1f}s, node back in {back:.1f}s, all replicas in sync {in_sync:.1f}s later; "
        f"503={log.codes(503)} conn-errors={log.codes(0)}"
    )


def test_active_controller_killed_under_load(healthy, fresh_database_url, make_pipeline):
    """2. SIGKILL the quorum's active controller (a combined node, so also a broker) while
    agencies post: the other two elect a new one, nothing accepted is lost or counted twice."""
    cluster = healthy
    started = time.monotonic()
    pipe = make_pipeline(cluster.bootstrap, fresh_database_url)
    pipe.issue_tokens(MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=22).stream(MIXED, 90), rate=4).start()
    time.sleep(5)
    controller = cluster.active_controller()
    led = sorted(p for p, leader in cluster.leaders(pipe.topics["events"]).items() if leader == controller)
    cluster.node(controller).kill()
    killed = t0 = time.monotonic()

    def elected():
        try:
            now = cluster.active_controller()
        except Exception as exc:
            return repr(exc)
        return now != controller or f"controller still {now}"

    wait_until("a new active controller", elected, 60, 0.2)
    election = time.monotonic() - t0
    new_controller = cluster.active_controller()
    if led:
        _await_failover(cluster, pipe.topics["events"], controller, led)
    failover = time.monotonic() - killed
    time.sleep(max(0.0, 8 - election))
    t0 = time.monotonic()
    cluster.node(controller).start()
    back = time.monotonic() - t0
    load.join()
    in_sync = _await_in_sync(cluster, list(pipe.topics.values()))
    converge("cluster-controller-killed", pipe, log, started=started)
    _note(
        f"[cluster-controller-killed] controller node {controller} SIGKILLed: node {new_controller} elected in "
        f"{election:.1f}s, its {len(led)} canonical partitions led again {failover:.1f}s after the kill, node "
        f"back in {back:.1f}s, in sync {in_sync:.1f}s later; 503={log.codes(503)} conn-errors={log.codes(0)}"
    )


def test_two_nodes_lost_below_min_insync_then_one_back(healthy, fresh_database_url, make_pipeline):
    """3. SIGKILL two of the three nodes (below `min.insync.replicas=2`, and the controller
    quorum lost): intake answers 503 with Retry-After and acknowledges nothing it cannot keep;
    with one node back, everything answered 202 is in the projections, nothing twice."""
    cluster = healthy
    started = time.monotonic()
    pipe = make_pipeline(cluster.bootstrap, fresh_database_url)
    probe_agency = "CA-DAKRONG"  # not in MIXED: its one event is the probe's own
    pipe.issue_tokens([*MIXED, probe_agency])
    workload = Workload(PLAN, seed=23)
    log = EventLog()
    load = Load(pipe, log, workload.stream(MIXED, 60), rate=4).start()
    probe_event = workload.reported(probe_agency)
    time.sleep(5)
    survivor = cluster.active_controller()  # any node would do; the survivor's view names the others
    lost = [n.node_id for n in cluster.nodes if n.node_id != survivor]
    for node_id in lost:
        cluster.node(node_id).kill()
    killed = time.monotonic()

    def post_probe() -> httpx.Response:
        return pipe.send(probe_agency, probe_event, timeout=20)

    answers = []
    while time.monotonic() - killed < 12:
        response = post_probe()
        answers.append((response.status_code, response.headers.get("Retry-After")))
        time.sleep(0.5)
    assert answers and all(code == 503 and retry for code, retry in answers), answers
    back_at = time.monotonic()
    cluster.node(lost[0]).start()
    back = time.monotonic() - back_at
    acked_while_down = [s for s in log.sent if s.accepted_at and killed + 4 < s.accepted_at < back_at]
    assert not acked_while_down, f"{len(acked_while_down)} events answered 202 with two of three nodes down"
    probe_final = wait_until(
        "the probe event accepted once a node is back",
        lambda: (r := post_probe()).status_code in (200, 202) and r,
        90,
        0.5,
    )
    load.join()
    first_202 = min(
        (s.accepted_at for s in log.sent if s.accepted_at and s.accepted_at >= back_at), default=None
    )
    converge("cluster-two-nodes-lost", pipe, log, extra_accepted=[probe_event], started=started)
    _note(
        f"[cluster-two-nodes-lost] nodes {lost} SIGKILLed: {len(answers)} probe answers in "
        f"{back_at - killed:.0f}s all 503 with Retry-After, 0 events acknowledged meanwhile; node {lost[0]} "
        f"back in {back:.1f}s, first 202 of the load "
        f"{'n/a' if first_202 is None else f'{first_202 - back_at:.1f}s'} after its restart began, probe answered "
        f"{probe_final.status_code}; 503={log.codes(503)} conn-errors={log.codes(0)} (node {lost[1]} restarted after)"
    )


def _graceful_stop(pipe, name: str) -> None:
    """SIGTERM a service (as a deploy would) and wait until it is gone."""
    pid = pipe.pid(name)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        try:  # our child: reap it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    assert not pid_alive(pid), f"{name} did not stop within 30s of SIGTERM"


def _spawn_replica(pipe, name: str, port: int) -> None:
    """Another aggregator process on the stack's settings, under `name` in stack.json (so
    `down` stops it too)."""
    log = pipe.paths.logs / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.aggregator"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**pipe._service_env("aggregator"), "AGGREGATOR_HTTP_PORT": str(port)},
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    pipe.state["components"][name] = {
        "pid": proc.pid,
        "url": f"http://127.0.0.1:{port}",
        "log": str(log),
        "signal": "TERM",
    }
    pipe._record()
    pipe.wait_ready(name)


def test_rolling_restart_of_every_service_while_agencies_post(healthy, fresh_database_url, make_pipeline):
    """6. Every service process restarted one after the other (SIGTERM, start, ready), two
    aggregator replicas sharing the consumer group, while agencies keep posting: intake's
    restart costs agencies connection errors they retry, nothing is lost or counted twice."""
    cluster = healthy
    started = time.monotonic()
    pipe = make_pipeline(cluster.bootstrap, fresh_database_url)
    second = "aggregator-2"
    _spawn_replica(pipe, second, free_port())
    pipe.issue_tokens(MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=26).stream(MIXED, 90), rate=4).start()
    time.sleep(3)
    timings = {}
    for name in ("intake", "aggregator", second, "notifier"):
        t0 = time.monotonic()
        _graceful_stop(pipe, name)
        if name == second:
            _spawn_replica(pipe, name, int(pipe.url(name).rsplit(":", 1)[1]))
        else:
            pipe.start(name)
        timings[name] = time.monotonic() - t0
    load.join()
    assert log.codes(0) > 0, "no agency noticed intake's restart: the fault did not bite"
    converge("cluster-rolling-restart", pipe, log, started=started)
    _note(
        "[cluster-rolling-restart] stop+start+ready: "
        + ", ".join(f"{n} {t:.1f}s" for n, t in timings.items())
        + f"; 503={log.codes(503)} conn-errors={log.codes(0)}"
    )


def test_stack_up_with_three_brokers_runs_the_whole_system(tmp_path, fresh_database_url):
    """`tiendo stack up --brokers 3`: three Kafka nodes as components of their own, an event
    posted to intake is applied by the aggregator, and `down` leaves no node running."""
    from services.intake.adapters.tokens import issue_tokens
    from shared.stack import StackPaths, down, up
    from tests.system.pipeline import NOW, Pipeline

    paths = StackPaths(tmp_path / "stack")
    state = up(paths, lambda _: None, now=NOW, database_url=fresh_database_url, stable_ports=False, brokers=3)
    try:
        nodes = {name: c for name, c in state["components"].items() if name.startswith("kafka")}
        assert sorted(nodes) == ["kafka-1", "kafka-2", "kafka-3"], sorted(state["components"])
        assert all(pid_alive(c["pid"]) for c in nodes.values())
        assert state["kafka_bootstrap"].count(",") == 2, state["kafka_bootstrap"]
        token = asyncio.run(issue_tokens(fresh_database_url, ["SYT"], datetime.fromisoformat(NOW)))["SYT"]
        event = Workload(PLAN, seed=27).reported("SYT")
        response = httpx.post(
            state["components"]["intake"]["url"] + "/v1/events",
            json=event,
            timeout=20,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json"},
        )
        assert response.status_code == 202, response.text
        pipe = Pipeline(tmp_path, state["kafka_bootstrap"], fresh_database_url)
        wait_until("the event applied", lambda: ("/agencies/SYT", event["id"]) in pipe.applied(), 60)
    finally:
        down(paths, lambda _: None, grace=20)
    assert not any(pid_alive(c["pid"]) for c in state["components"].values())
