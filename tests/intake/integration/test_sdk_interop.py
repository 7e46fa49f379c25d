"""The official CloudEvents SDKs against a real intake (uvicorn on loopback, real Kafka): events
built by the Python SDK (PyPI `cloudevents`), the JavaScript SDK (npm `cloudevents`, on the
machine's Node.js) and the Java SDK (`io.cloudevents` from Maven Central, on the JDK Kafka runs on)
are sent structured and binary over HTTP, and as binary-mode records to the raw topic through the
SDKs' Kafka conversion; each reaches the canonical topic, its data as sent, and the aggregator
consuming that topic shows its figure in the read API (the figure's history, as a committee
member reads it). The npm and Maven packages are fetched by the tests into .cache/ (once)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.aggregator.bootstrap import bootstrap as aggregator
from services.aggregator.entrypoints.app import create_app as aggregator_app
from services.intake.__main__ import topic_specs
from services.intake.bootstrap import bootstrap as intake_bootstrap
from shared.auth import Role
from shared.auth.testing import auth_settings, bearer
from shared.clock import ManualClock
from shared.infra._process import cache_dir
from shared.kafka import ensure_topics
from tests.aggregator.helpers import create_topics, fresh_database, settings_for, unique_topics

from .conftest import NOW, FakeMonotonic, Service, make_settings, served_on_loopback
from .npm_cache import node_modules
from .test_raw_topic import produce

pytestmark = pytest.mark.infra
TIME = "2024-06-20T07:30:00+07:00"  # an hour before the service's clock (NOW)
PATIENCE = 20.0
JS_SDK = "cloudevents@10.0.0"
JS_DIR = Path(__file__).with_name("sdk_js")


class Running(Service):
    """Intake served by shared.http_server on a loopback port."""

    url = ""


@pytest.fixture(scope="module")
async def intake(intake_db: str, kafka_bootstrap: str) -> AsyncIterator[Running]:
    settings = make_settings(intake_db, kafka_bootstrap)
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    container = intake_bootstrap(settings, clock=ManualClock(NOW), monotonic=FakeMonotonic())
    async with served_on_loopback(container, settings, PATIENCE) as (host, port):
        running = Running(container, None, None, None)  # type: ignore[arg-type]
        running.url = f"http://{host}:{port}"
        yield running


@pytest.fixture(scope="module")
async def token(intake: Running) -> str:
    return await intake.token("CA-TINH")


@pytest.fixture(scope="module")
async def read_api(intake: Running, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The aggregator consuming intake's canonical topic, its read API answering a committee member."""
    bootstrap_servers = intake.settings.kafka_bootstrap_servers
    topics = {**unique_topics("sdk"), "TIENDO_EVENTS_TOPIC": intake.settings.events_topic}
    await create_topics(bootstrap_servers, topics)
    settings = settings_for(bootstrap_servers, await fresh_database(database_url), topics)
    app = aggregator_app(aggregator(settings, clock=ManualClock(NOW)), auth=auth_settings())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://aggregator",
            headers=bearer(Role.COMMITTEE),
        ) as client:
            yield client


async def in_read_api(read_api: httpx.AsyncClient, values: dict[str, int]) -> None:
    """Wait until the figure's history in the read API holds each of these events with its value."""
    path = "/v1/kpis/CA-TINH/drug_cases_detected/2024-06/history"
    shown: dict[str, object] = {}
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        response = await read_api.get(path)
        assert response.status_code in (200, 404), response.text  # 404 until the first event is folded
        if response.status_code == 200:
            shown = {e["id"]: e["value"] for e in response.json()["events"]}
            if all(shown.get(event_id) == value for event_id, value in values.items()):
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not in the read API as sent: {values}; the history shows {shown}")


def attributes(event_id: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/agencies/CA-TINH",
        "type": "vn.gov.pcmt.indicator.reported.v1",
        "time": TIME,
        "datacontenttype": "application/json",
    }


def data(value: int) -> dict:
    return {"indicator": "drug_cases_detected", "period": "2024-06", "value": value}


async def canonical(intake: Running, ids: set[str]) -> dict[str, object]:
    """The canonical records of these ids, waiting for all of them to arrive."""
    found: dict[str, object] = {}
    deadline = time.monotonic() + PATIENCE
    while set(found) != ids and time.monotonic() < deadline:
        for r in await intake.read(intake.settings.events_topic, 10_000, timeout=2):
            event_id = dict(r.headers)["ce_id"].decode()
            if event_id in ids:
                found[event_id] = r
    assert set(found) == ids, f"not forwarded: {sorted(ids - set(found))}"
    return found


async def post(intake: Running, token: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=intake.url, timeout=PATIENCE) as client:
        return await client.post(
            "/v1/events", content=body, headers={**headers, "authorization": f"Bearer {token}"}
        )


async def test_python_sdk_structured_binary_and_kafka(intake, token, read_api):
    from datetime import datetime

    from cloudevents.core.bindings import http as ce_http
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.v1.event import CloudEvent

    def event(event_id: str, value: int) -> CloudEvent:
        # the SDK wants the time as a datetime (it writes it back in RFC 3339)
        return CloudEvent({**attributes(event_id), "time": datetime.fromisoformat(TIME)}, data(value))

    sent: dict[str, bytes] = {}
    structured = ce_http.to_structured_event(event("py-structured", 5))
    binary = ce_http.to_binary_event(event("py-binary đợt 6", 6))  # percent-encoded by the SDK
    assert "%" in binary.headers["ce-id"] and binary.headers["content-type"] == "application/json"
    for message in (structured, binary):
        response = await post(intake, token, message.headers, message.body)
        assert response.status_code == 202, response.text
    sent["py-binary đợt 6"] = binary.body
    record = ce_kafka.to_binary_event(event("py-kafka", 7))
    await produce(intake, [(b"CA-TINH", record.value, list(record.headers.items()))])
    sent["py-kafka"] = record.value

    found = await canonical(intake, {"py-structured", "py-binary đợt 6", "py-kafka"})
    for event_id, body in sent.items():
        assert found[event_id].value == body  # the SDK's bytes, not re-encoded
    assert json.loads(found["py-structured"].value)["value"] == 5
    await in_read_api(read_api, {"py-structured": 5, "py-binary đợt 6": 6, "py-kafka": 7})


async def test_python_sdk_legacy_api(intake, token, read_api):
    """`cloudevents.v1` (the SDK's 1.x API, still shipped): its `to_binary` is the call issue 18
    found answered 415."""
    import warnings

    from cloudevents.v1.http import CloudEvent, to_binary
    from cloudevents.v1.kafka import to_binary as to_kafka_binary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated names, still the ones most integrations call
        headers, body = to_binary(CloudEvent(attributes("py-legacy-binary"), data(8)))
        record = to_kafka_binary(CloudEvent(attributes("py-legacy-kafka"), data(9)))
    response = await post(intake, token, headers, body)
    assert response.status_code == 202, response.text
    await produce(intake, [(b"CA-TINH", record.value, list(record.headers.items()))])
    found = await canonical(intake, {"py-legacy-binary", "py-legacy-kafka"})
    assert found["py-legacy-binary"].value == body and found["py-legacy-kafka"].value == record.value
    await in_read_api(read_api, {"py-legacy-binary": 8, "py-legacy-kafka": 9})


async def test_javascript_sdk_structured_binary_and_kafka(intake, token, read_api):
    modules = node_modules(JS_SDK, "npm-cloudevents")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "send.js"),
        intake.url,
        token,
        TIME,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE * 3)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert [r["status"] for r in report["http"]] == [202, 202], report
    kafka = report["kafka"]
    value = kafka["value"].encode()
    await produce(
        intake, [(kafka["key"].encode(), value, [(k, v.encode()) for k, v in kafka["headers"].items()])]
    )
    found = await canonical(intake, {"js-structured", "js-binary-11", "js-kafka"})
    assert found["js-binary-11"].value == report["binary_body"].encode()
    assert found["js-kafka"].value == value
    assert json.loads(found["js-structured"].value)["value"] == 10
    binary, kafka_value = json.loads(found["js-binary-11"].value), json.loads(value)
    await in_read_api(
        read_api, {"js-structured": 10, "js-binary-11": binary["value"], "js-kafka": kafka_value["value"]}
    )


EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
JAVA_DIR = EXAMPLES / "java"


def java_classpath() -> str:
    """The Java SDK's jars (docs/examples/java/pom.xml) fetched by Maven into .cache/ once, under a lock;
    skipped only where there is no JDK or Maven."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if not java or not mvn:
        pytest.skip("a JDK (java) and Maven (mvn) are needed to run the Java SDK")
    work = cache_dir() / "sdk-java"
    work.mkdir(parents=True, exist_ok=True)
    pom = (JAVA_DIR / "pom.xml").read_text()
    with open(work / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        classpath = work / "classpath.txt"
        if not classpath.exists() or (work / "pom.xml").read_text() != pom:
            (work / "pom.xml").write_text(pom)
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    f"-Dmaven.repo.local={work / 'repository'}",
                    "dependency:build-classpath",
                    f"-Dmdep.outputFile={classpath}",
                ],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, f"mvn could not fetch the Java SDK:\n{result.stdout[-3000:]}"
    return classpath.read_text().strip()


async def test_java_sdk_structured_binary_and_kafka(intake, token, read_api):
    classpath = java_classpath()
    process = await asyncio.create_subprocess_exec(
        "java",
        "-cp",
        classpath,
        str(JAVA_DIR / "Send.java"),
        intake.url,
        token,
        TIME,
        intake.settings.kafka_bootstrap_servers,
        intake.settings.raw_topic,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE * 6)
    assert process.returncode == 0, err.decode()[-3000:]
    assert json.loads(out)["http"] == [202, 202], err.decode()[-3000:]
    found = await canonical(intake, {"java-structured", "java-binary", "java-kafka"})
    expected = b'{"indicator": "drug_cases_detected", "period": "2024-06", "value": %d}'
    assert found["java-binary"].value == expected % 21 and found["java-kafka"].value == expected % 22
    assert json.loads(found["java-structured"].value)["value"] == 20
    await in_read_api(read_api, {"java-structured": 20, "java-binary": 21, "java-kafka": 22})


async def test_the_python_example_client(intake, token, read_api):
    """docs/examples/python/send.py, run as an agency would: binary and structured over HTTP, then
    to the raw topic."""
    import sys

    script = str(EXAMPLES / "python" / "send.py")
    runs = [
        ["--intake", intake.url, "--token", token, "--id", "example-binary", "--value", "30"],
        [
            "--intake",
            intake.url,
            "--token",
            token,
            "--id",
            "example-structured",
            "--value",
            "31",
            "--structured",
        ],
        [
            "--kafka",
            intake.settings.kafka_bootstrap_servers,
            "--topic",
            intake.settings.raw_topic,
            "--id",
            "example-kafka",
            "--value",
            "32",
        ],
    ]
    for run in runs:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            *run,
            "--time",
            TIME,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), PATIENCE * 2)
        assert process.returncode == 0, (out + err).decode()[-3000:]
    found = await canonical(intake, {"example-binary", "example-structured", "example-kafka"})
    assert found["example-kafka"].value == found["example-binary"].value.replace(b"30", b"32")
    assert json.loads(found["example-structured"].value)["value"] == 31
    await in_read_api(read_api, {"example-binary": 30, "example-structured": 31, "example-kafka": 32})
