"""`tiendo stack up` refuses what the services would refuse before starting anything, and a start
that fails leaves nothing running (issue 18: `--now 2024-06-20` started Kafka, PostgreSQL and SMTP,
then every service died and the three were left running)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from shared.infra import create_database, drop_database
from shared.infra._process import pid_alive
from shared.stack import StackPaths, StackRefused, up

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("now", ["2024-06-20", "2024-06-20T08:00:00", "yesterday"])
def test_a_clock_pin_the_services_refuse_is_refused_before_anything_starts(tmp_path, now):
    paths = StackPaths(tmp_path)
    with pytest.raises(StackRefused, match="--now"):
        up(paths, lambda _: None, now=now)
    assert not paths.logs.exists() and not paths.state.exists()


async def test_a_failed_start_stops_what_it_started(tmp_path, database_url, kafka_bootstrap):
    url = await create_database(database_url, "stackfail")
    tag = uuid.uuid4().hex[:8]
    env = {
        "TIENDO_PLAN_FILE": str(tmp_path / "no-such-plan.yaml"),  # every service exits at start-up
        **{f"TIENDO_{t}_TOPIC": f"sf-{tag}.{t.lower()}" for t in ("RAW", "EVENTS", "DLQ", "STATUS")},
    }
    paths, seen = StackPaths(tmp_path / "stack"), []

    def progress(message: str) -> None:
        seen.append(message)
        if paths.state.exists():
            state = json.loads(paths.state.read_text())
            pids.update(c["pid"] for c in state["components"].values() if c.get("pid"))

    pids: set[int] = set()
    try:
        with pytest.raises(RuntimeError, match="exited during start-up"):
            await asyncio.to_thread(
                up,
                paths,
                progress,
                now="2024-06-20T08:00:00+07:00",
                extra_env=env,
                kafka_bootstrap=kafka_bootstrap,
                database_url=url,
                stable_ports=False,
            )
    finally:
        await drop_database(database_url, url)
    assert pids, seen  # SMTP and the services had been started
    assert not any(pid_alive(p) for p in pids) and not paths.state.exists()
    assert any("stopping what was started" in m for m in seen)
