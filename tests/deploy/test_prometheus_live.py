"""A real Prometheus (Debian's package) scrapes the three services running as real processes
(two aggregator replicas, as in the compose file) with deploy/prometheus/prometheus.yml — only
its targets replaced and its intervals shortened to 1 s — and loads the alert rules unchanged.

The pipeline is driven until every metric a panel or rule reads has data: half a year of
simulated agency reporting (one agency lagging, one late, one missing its report), duplicates,
rejected events, a 503 from an intake replica whose broker is gone, a garbage record on the raw
topic (intake dead-letters it), a poison record on the events topic, leaders' emails sent, a status
event the notifier's database refuses for a moment (FastStream counts the exception and reads it
again; tests/deploy/notifier_fault.py). Then every PromQL
expression of every dashboard panel and alert rule is run: none may error, every panel must
return series, and every vector selector a rule reads must return series (a rule's full
expression is empty while it does not fire). Long ranges ([10m], [1d], $__rate_interval) are
replaced by one window covering the whole run; see tests/deploy/promql.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime

import httpx
import pytest
import yaml

from services.intake.adapters.tokens import issue_tokens
from shared.infra._process import REPO_ROOT
from shared.infra.ports import free_port
from shared.infra.prometheus import PrometheusServer
from shared.plan.loader import load_plan
from shared.settings import DEFAULT_PLAN
from shared.simulation import Behaviour, Simulation
from shared.stack import StackPaths, down, up
from tests.deploy import notifier_fault, promql

pytestmark = pytest.mark.infra
NOW = "2024-06-20T08:00:00+07:00"
BEHAVIOURS = {
    "CA-HUONG-HOA": Behaviour(pace=0.5),  # lagging
    "UBND-DAKRONG": Behaviour(pace=0.4, skips_latest_report=True),  # June report missing
    "CA-DAKRONG": Behaviour(late_days=2),  # June report late
}
BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"


def _wait(what: str, probe, timeout: float = 90, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last is True or (last and not isinstance(last, (list, set, dict, str))):
            return last
        if isinstance(last, (list, set, dict)) and not last:
            return True
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; still missing: {last}")


def _start(module: str, env: dict[str, str], log_path) -> subprocess.Popen:
    """A service process of its own session, its output appended to `log_path`."""
    with open(log_path, "ab") as log:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, kafka_bootstrap, database_url):
    from shared.infra.postgres import create_database

    tmp = tmp_path_factory.mktemp("deploy-live")
    tag = uuid.uuid4().hex[:8]
    env = {
        "TIENDO_RAW_TOPIC": f"prom-raw-{tag}",
        "TIENDO_EVENTS_TOPIC": f"prom-events-{tag}",
        "TIENDO_DLQ_TOPIC": f"prom-dlq-{tag}",
        "TIENDO_STATUS_TOPIC": f"prom-status-{tag}",
        "AGGREGATOR_GROUP_ID": f"prom-agg-{tag}",
        "NOTIFIER_CONSUMER_GROUP": f"prom-notifier-{tag}",
        "INTAKE_RAW_GROUP_ID": f"prom-raw-{tag}",
        "NOTIFIER_GROUP_WAIT": "PT1S",
        "NOTIFIER_GROUP_INTERVAL": "PT2S",
        "NOTIFIER_CRITICAL_INTERVAL": "PT2S",
        "AGGREGATOR_DEADLINE_CHECK_SECONDS": "1",
    }
    paths = StackPaths(tmp / "stack")
    db = asyncio.run(create_database(database_url, "deploy"))
    state = up(
        paths,
        print,
        now=NOW,
        extra_env=env,
        kafka_bootstrap=kafka_bootstrap,
        database_url=db,
        stable_ports=False,
    )
    replica = cut = None
    try:
        # The second aggregator replica (the compose file runs two): same group, own port.
        port = free_port()
        replica_env = {
            **os.environ,
            **env,
            "DATABASE_URL": db,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "TIENDO_NOW": NOW,
            "AGGREGATOR_HTTP_PORT": str(port),
        }
        replica = _start("services.aggregator", replica_env, paths.logs / "aggregator-2.log")
        replica_url = f"http://127.0.0.1:{port}"
        # An intake replica whose broker is gone (a closed port): it answers 503 kafka-unavailable,
        # what TiendoIntakeCannotStoreEvents watches.
        cut_port = free_port()
        cut_env = {
            **os.environ,
            **env,
            "DATABASE_URL": db,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "TIENDO_NOW": NOW,
            "INTAKE_HTTP_PORT": str(cut_port),
            "INTAKE_HTTP_HOST": "127.0.0.1",
            "INTAKE_PUBLISH_TIMEOUT_S": "1",
            "INTAKE_RAW_CONSUMER": "false",
        }
        cut = _start("services.intake", cut_env, paths.logs / "intake-no-kafka.log")
        cut_url = f"http://127.0.0.1:{cut_port}"
        _wait("the second aggregator replica", lambda: _ready(replica_url))
        _wait("the intake replica without Kafka", lambda: _alive(cut_url), timeout=60)
        yield {
            "state": state,
            "env": env,
            "paths": paths,
            "replica_url": replica_url,
            "cut_url": cut_url,
            "tmp": tmp,
        }
    finally:
        for proc in (replica, cut):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        down(paths, print)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _host(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


def _test_config(prometheus_port: int, targets: dict[str, list[str]]) -> str:
    """deploy/prometheus/prometheus.yml with local targets and 1 s intervals; all else unchanged."""
    config = yaml.safe_load((promql.DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    targets = {**targets, "prometheus": [f"127.0.0.1:{prometheus_port}"]}
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), f"scrape jobs {jobs} vs the services started {sorted(targets)}"
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="module")
def prometheus(pipeline):
    components = pipeline["state"]["components"]
    server = PrometheusServer(pipeline["tmp"] / "prometheus")
    server.port = free_port()
    config = _test_config(
        server.port,
        {
            "intake": [_host(components["intake"]["url"]), _host(pipeline["cut_url"])],
            "aggregator": [_host(components["aggregator"]["url"]), _host(pipeline["replica_url"])],
            "notifier": [_host(components["notifier"]["url"])],
        },
    )
    rules = {f"rules/{p.name}": p.read_text() for p in promql.RULE_FILES}
    started = time.monotonic()
    server.start(config, rules)
    try:
        yield server, started
    finally:
        server.stop()


async def _produce(bootstrap: str, topic: str, value: bytes, key: bytes) -> None:
    from shared.kafka import make_producer

    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _drive(pipeline) -> int:
    """Returns how many events were accepted."""
    state, env = pipeline["state"], pipeline["env"]
    intake = state["components"]["intake"]["url"]
    plan = load_plan(DEFAULT_PLAN)
    events = Simulation(plan, BEHAVIOURS).events(datetime.fromisoformat(NOW))
    by_agency: dict[str, list[dict]] = {}
    for event in events:
        by_agency.setdefault(event["source"].rsplit("/", 1)[1], []).append(event)
    tokens = asyncio.run(issue_tokens(state["database_url"], sorted(by_agency), datetime.fromisoformat(NOW)))
    pipeline["tokens"], pipeline["spare_event"] = tokens, events[2]
    # Before and after the replay (scrapes apart, so the 503 counter is seen to increase).
    _cannot_store(pipeline, tokens, events[0], "prom-no-kafka-1")
    outcomes: dict[str, int] = {}
    with httpx.Client(timeout=30) as client:
        for agency, stream in sorted(by_agency.items()):
            auth = {"Authorization": f"Bearer {tokens[agency]}"}
            for start in range(0, len(stream), 200):
                response = client.post(
                    f"{intake}/v1/events/batch",
                    json=stream[start : start + 200],
                    headers={**auth, "Content-Type": BATCH},
                )
                assert response.status_code == 200, response.text
                for result in response.json()["results"]:
                    outcomes[result["status"]] = outcomes.get(result["status"], 0) + 1
        assert outcomes.get("accepted", 0) == len(events), outcomes
        # An agency retrying: duplicates, not errors.
        agency, stream = sorted(by_agency.items())[0]
        auth = {"Authorization": f"Bearer {tokens[agency]}"}
        again = client.post(
            f"{intake}/v1/events/batch", json=stream[:5], headers={**auth, "Content-Type": BATCH}
        )
        assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 5, again.text
        # Rejections with several reasons.
        broken = {
            **stream[0],
            "id": "prom-broken-1",
            "data": {**stream[0]["data"], "value": -5, "period": "2024-13"},
        }
        assert (
            client.post(
                f"{intake}/v1/events", json=broken, headers={**auth, "Content-Type": STRUCTURED}
            ).status_code
            == 422
        )
        other = sorted(by_agency)[1]
        foreign = {**stream[0], "id": "prom-foreign-1", "source": f"/agencies/{other}"}
        assert (
            client.post(
                f"{intake}/v1/events", json=foreign, headers={**auth, "Content-Type": STRUCTURED}
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"{intake}/v1/events", content=b"{not json", headers={**auth, "Content-Type": STRUCTURED}
            ).status_code
            == 400
        )
    _cannot_store(pipeline, tokens, events[1], "prom-no-kafka-2")
    # Garbage on the raw topic (intake dead-letters it) and on the events topic (the aggregator does).
    bootstrap = state["kafka_bootstrap"]
    asyncio.run(_produce(bootstrap, env["TIENDO_RAW_TOPIC"], b"not a cloudevent", b"CA-TINH"))
    asyncio.run(_produce(bootstrap, env["TIENDO_EVENTS_TOPIC"], b"\x00poison", b"CA-TINH"))
    asyncio.run(
        notifier_fault.refused_then_applied(
            state["database_url"],
            bootstrap,
            env["TIENDO_STATUS_TOPIC"],
            state["components"]["notifier"]["url"],
            NOW,
        )
    )
    return len(events)


def _cannot_store(pipeline, tokens: dict[str, str], event: dict, new_id: str) -> None:
    """The intake replica without Kafka cannot store an event: 503, never 202."""
    agency = event["source"].rsplit("/", 1)[1]
    answer = httpx.post(
        f"{pipeline['cut_url']}/v1/events",
        json={**event, "id": new_id},
        timeout=30,
        headers={"Authorization": f"Bearer {tokens[agency]}", "Content-Type": STRUCTURED},
    )
    assert answer.status_code == 503, answer.text


def _query(server: PrometheusServer, expr: str) -> dict:
    answer = server.query(expr)
    assert answer.get("status") == "success", (
        f"{expr!r} failed: {answer.get('errorType')}: {answer.get('error')}"
    )
    return answer["data"]


def _series(server: PrometheusServer, expr: str) -> list:
    data = _query(server, expr)
    return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]


def test_every_panel_and_rule_expression_returns_data_from_the_running_services(pipeline, prometheus):
    server, started = prometheus

    def targets_down():
        active = httpx.get(f"{server.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return [
            f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
            for t in active
            if t["health"] != "up"
        ]

    _wait("every target scraped", targets_down, timeout=30)

    accepted = _drive(pipeline)

    expressions = promql.panel_expressions() + promql.rule_expressions()
    assert len(promql.panel_expressions()) >= 30 and len(promql.rule_expressions()) >= 10
    every_selector = sorted({s for e in expressions for s in promql.selectors(e.expr)})
    # Evidence the pipeline really did each thing, not just that counters exist at zero.
    evidence = [
        f'sum(intake_events_total{{outcome="accepted"}}) >= {accepted}',
        'sum(intake_events_total{outcome="duplicate"}) >= 5',
        'sum(intake_events_total{outcome="rejected"}) >= 3',
        'sum(intake_request_seconds_count{route="/v1/events", status="503"}) >= 1',
        "sum(intake_dlq_writes_total) >= 1",
        f"sum(aggregator_events_applied_total) >= {accepted}",
        "sum(notifier_emails_sent_total) >= 1",
        'max(aggregator_reports{status="missing"}) >= 1',
        'max(aggregator_reports{status="late"}) >= 1',
        'sum(max by (indicator, status) (aggregator_current_kpis{status="lagging"})) >= 1',
        # FastStream: the notifier's and intake's subscribers, the aggregator's relay, a refused event.
        'sum(faststream_received_messages_total{app_name="notifier"}) >= 1',
        'sum(faststream_received_messages_total{app_name="intake"}) >= 1',
        'sum(faststream_published_messages_total{app_name="aggregator", status="success"}) >= 1',
        'sum(faststream_received_processed_messages_exceptions_total{app_name="notifier"}) >= 1',
        # Both replicas consume: each owns some partitions of the events topic.
        "count(count by (instance) (aggregator_consumer_lag_records)) == 2",
    ]

    def missing():
        empty = [s for s in every_selector if not _series(server, promql.for_test(s, "1m"))]
        return empty + [e for e in evidence if not _series(server, e)]

    _wait("data behind every selector", missing, timeout=120, every=1)

    window = f"{int(time.monotonic() - started) + 10}s"
    failures = []
    for e in expressions:
        expr = promql.for_test(e.expr, window)
        answer = server.query(expr)
        if answer.get("status") != "success":
            failures.append(f"{e.where}: error {answer.get('error')} in {expr}")
            continue
        if e.kind == "panel" and not answer["data"]["result"]:
            failures.append(f"{e.where}: no series for {expr}")
        for selector in promql.selectors(e.expr):
            if not _series(server, promql.for_test(selector, window)):
                failures.append(f"{e.where}: selector {selector} has no series")
    assert not failures, "\n".join(failures)

    # The rules as written (their real ranges) are evaluated by Prometheus itself, without error.
    def unhealthy():
        groups = httpx.get(f"{server.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        loaded = [r for g in groups for r in g["rules"]]
        assert len(loaded) == len(promql.rules())
        return [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in loaded if r["health"] != "ok"]

    _wait("every rule evaluated healthy", unhealthy, timeout=30)

    # A real rule sees the real series: a 503 of the intake replica without Kafka makes
    # TiendoIntakeCannotStoreEvents pending (it would fire after its 2 minutes). A fresh one:
    # on a loaded machine the replay's 503s may already be out of the rule's 5-minute window.
    _cannot_store(pipeline, pipeline["tokens"], pipeline["spare_event"], "prom-no-kafka-3")
    _wait(
        "TiendoIntakeCannotStoreEvents pending",
        lambda: bool(_series(server, 'ALERTS{alertname="TiendoIntakeCannotStoreEvents"}')),
        timeout=60,
    )
