"""`tiendo aggregator rebuild` from the command line: progress, checksums, swap."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from services.aggregator.entrypoints.cli import app
from services.aggregator.sample import sample_events
from tests.aggregator.helpers import NOW, PLAN, create_topics, fresh_database, produce, unique_topics

pytestmark = pytest.mark.infra


def test_rebuild_command_replays_the_topic_and_swaps_the_projection_in(kafka_bootstrap, database_url):
    topics = unique_topics("cli")
    db = asyncio.run(fresh_database(database_url))

    async def prepare():
        await create_topics(kafka_bootstrap, topics)
        await produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], sample_events(PLAN, 120, seed=41))

    asyncio.run(prepare())
    env = {
        "DATABASE_URL": db,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        **topics,
        "TIENDO_NOW": NOW.isoformat(),
        "TIENDO_CLOCK_SPEED": "0",
    }
    runner = CliRunner()
    dry = runner.invoke(app, ["rebuild", "--no-swap"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "120 records" in dry.output and "differs from the live projection" in dry.output
    assert "not swapped" in dry.output

    swapped = runner.invoke(app, ["rebuild"], env=env)
    assert swapped.exit_code == 0, swapped.output
    again = runner.invoke(app, ["rebuild", "--no-swap"], env=env)
    assert "equal to the live projection" in again.output, again.output
