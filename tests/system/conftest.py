"""Fault-suite plumbing: servers of its own, pipelines torn down after each scenario, and the
scenarios' one-line verdicts repeated in the terminal summary."""

from __future__ import annotations

import shutil

import pytest

from shared.infra import KafkaServer, PostgresServer
from tests.system.pipeline import Pipeline

VERDICTS: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if VERDICTS:
        terminalreporter.section("fault-suite verdicts")
        for line in VERDICTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    """A broker of the fault suite's own: killing it never touches the session's."""
    server = KafkaServer(tmp_path_factory.mktemp("own-kafka"))
    server.start()
    yield server
    server.kill()
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("own-postgres"))
    server.start()
    yield server
    server.remove()


@pytest.fixture
def make_pipeline(tmp_path):
    started: list[Pipeline] = []

    def make(kafka_bootstrap: str, database_url: str, env: dict[str, str] | None = None) -> Pipeline:
        pipe = Pipeline(tmp_path / f"stack-{len(started)}", kafka_bootstrap, database_url, env)
        started.append(pipe)
        return pipe.up()

    yield make
    for pipe in started:
        pipe.down()
