"""kill -9 of the aggregator process: right after a batch's DB commit but before its offset
commit, and at an arbitrary moment mid-stream. The restarted process ends in the projection a
from-scratch recomputation of the topic gives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.aggregator.sample import sample_events
from shared.infra.ports import free_port
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
RECORDED = "SELECT count(*) FROM aggregator.recorded_events"


def start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.aggregator"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def exited(proc: subprocess.Popen, timeout: float = 120) -> int:
    await helpers.wait_until(lambda: asyncio.sleep(0, proc.poll() is not None), timeout=timeout, every=0.1)
    return proc.returncode


async def test_kill_9_after_db_commit_and_mid_stream(kafka_bootstrap, database_url):
    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("crash")
    await helpers.create_topics(kafka_bootstrap, topics)
    events = sample_events(helpers.PLAN, 1200, seed=21)
    await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events)
    env = {
        "DATABASE_URL": db,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        **topics,
        "TIENDO_NOW": helpers.NOW.isoformat(),
        "TIENDO_CLOCK_SPEED": "0",
        "AGGREGATOR_BATCH_SIZE": "50",
        "AGGREGATOR_POLL_TIMEOUT_MS": "50",
        "AGGREGATOR_SNAPSHOT_AFTER": "7",  # the kills fall between snapshots and the facts after them
        "TIENDO_LOG_LEVEL": "WARNING",
    }
    engine = create_async_engine(db)

    def group_done():
        return helpers.caught_up(
            kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], topics["AGGREGATOR_GROUP_ID"]
        )

    try:
        # 1. SIGKILL right after the 3rd batch's DB commit, before its Kafka offset commit
        proc = start(
            {**env, "AGGREGATOR_HTTP_PORT": str(free_port()), "AGGREGATOR_FAULT": "after_db_commit:3"}
        )
        assert await exited(proc) == -signal.SIGKILL, proc.stderr.read().decode()[-3000:]
        recorded = await helpers.count(engine, RECORDED)
        assert 0 < recorded < len(events)
        assert not await group_done()

        # 2. SIGKILL at an arbitrary moment while batches are flowing
        proc = start({**env, "AGGREGATOR_HTTP_PORT": str(free_port())})
        await helpers.wait_until(lambda: _more_than(engine, recorded + 200), timeout=120, every=0.02)
        proc.send_signal(signal.SIGKILL)
        assert await exited(proc) == -signal.SIGKILL
        assert await helpers.count(engine, RECORDED) < len(events), "everything was done before the kill"

        # 3. a clean restart finishes the topic: the figures are those of a recomputation
        proc = start({**env, "AGGREGATOR_HTTP_PORT": str(free_port())})
        try:
            await helpers.wait_until(group_done, timeout=180, every=0.3)
            assert await helpers.count(engine, RECORDED) == len(events)
            await helpers.wait_until(lambda: _all_targets(engine), timeout=30)
            assert await helpers.live_kpis(engine) == helpers.recomputed_kpis(events, helpers.NOW)
            async with engine.connect() as conn:  # the restarts read snapshots, and the facts after them
                snapshots = (
                    await conn.exec_driver_sql("SELECT count(*) FROM aggregator.ledger_snapshots")
                ).scalar()
            assert snapshots and snapshots > 0
        finally:
            proc.terminate()
            await exited(proc, 30)
    finally:
        await engine.dispose()


async def _more_than(engine, n: int) -> bool:
    return await helpers.count(engine, RECORDED) > n


async def _all_targets(engine) -> bool:
    return len(await helpers.live_kpis(engine)) == len(helpers.PLAN.targets)
