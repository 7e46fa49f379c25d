"""`python -m services.notifier` as the local stack starts it: migrations, consumer, scheduler and
sender loops, HTTP; then the `tiendo alerts` commands against its API, each with a token."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest

from shared.auth import Role
from shared.auth.testing import issue_for, jwks_file
from shared.events.codec import to_kafka
from shared.infra._process import REPO_ROOT
from shared.infra.ports import free_port
from shared.kafka import make_producer
from tests.notifier.conftest import eventually
from tests.notifier.helpers import SECRET, T0, Inbox, kpi_event, report_event

pytestmark = pytest.mark.infra


def tiendo_process(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The real `tiendo` command (slow to start: it imports every area)."""
    return subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def tiendo(*args: str, env: dict):
    """`tiendo alerts ...` in-process (a worker thread: the command runs its own event loop)."""
    from typer.testing import CliRunner

    from services.notifier.entrypoints.cli_alerts import app

    assert args[0] == "alerts"
    result = CliRunner().invoke(
        app, list(args[1:]), env={"NOTIFIER_URL": env["NOTIFIER_URL"], "TIENDO_TOKEN": env["TIENDO_TOKEN"]}
    )
    result.returncode = result.exit_code
    return result


async def test_the_service_process_end_to_end(notifier_db, kafka_bootstrap, smtp_server, status_topic):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": notifier_db,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TIENDO_NOW": T0.isoformat(),
        "TIENDO_CLOCK_SPEED": "0",
        "NOTIFIER_HTTP_PORT": str(port),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "NOTIFIER_ACK_SECRET": SECRET,
        "TIENDO_STATUS_TOPIC": status_topic,
        "NOTIFIER_GROUP_WAIT": "0",
        "NOTIFIER_QUIET_HOURS": "off",
        "NOTIFIER_TICK_SECONDS": "0.2",
        "NOTIFIER_CONSUMER_GROUP": f"g-{status_topic}",
        "AUTH_JWKS_FILE": str(jwks_file()),
    }
    mail = Inbox(smtp_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.notifier"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def ready():
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=60, interval=0.3)
            producer = make_producer(kafka_bootstrap)
            await producer.start()
            for event in (
                kpi_event(agency="SYT", indicator="propaganda_sessions"),
                report_event(agency="HQ", period="2024-06"),
            ):
                record = to_kafka(event)
                await producer.send_and_wait(
                    status_topic, record.value, key=record.key, headers=record.headers
                )
            await producer.stop()
            await eventually(lambda: len(mail.messages()) >= 2, timeout=60)
            subjects = sorted(str(m["Subject"]) for m in mail.messages())
            assert subjects == [
                "[Tiendo] 1 báo cáo chưa nộp — Cục Hải quan tỉnh Quảng Trị — Tháng 6/2024",
                "[Tiendo] 1 chỉ tiêu chậm tiến độ — Sở Y tế — Tháng 6/2024",
            ]
            metrics = (await http.get("/metrics/")).text
            assert "notifier_emails_sent_total 2.0" in metrics
            # The status topic is consumed by FastStream, whose own metrics share the service's /metrics.
            assert (
                f'faststream_received_processed_messages_total{{app_name="notifier",broker="kafka",'
                f'handler="{status_topic}",status="acked"}} 2.0'
            ) in metrics

        cli = {**env, "NOTIFIER_URL": f"http://127.0.0.1:{port}", "TIENDO_TOKEN": issue_for(Role.COMMITTEE)}
        anonymous = await asyncio.to_thread(tiendo, "alerts", "list", env={**cli, "TIENDO_TOKEN": ""})
        assert anonymous.returncode == 2 and "--token" in anonymous.stderr
        listed = await asyncio.to_thread(tiendo_process, "alerts", "list", "--state", "firing", env=cli)
        assert listed.returncode == 0, listed.stderr
        lines = [line.split() for line in listed.stdout.splitlines()]
        by_agency = {parts[4]: parts[0] for parts in lines}
        assert set(by_agency) == {"SYT", "HQ"}
        other = {**cli, "TIENDO_TOKEN": issue_for(Role.LEADER, "HQ", "Cục trưởng Hải quan")}
        refused = await asyncio.to_thread(tiendo, "alerts", "ack", by_agency["SYT"], env=other)
        assert refused.returncode == 2 and "refused (403)" in refused.stderr
        leader = {**cli, "TIENDO_TOKEN": issue_for(Role.LEADER, "SYT", "Giám đốc Sở Y tế")}
        acked = await asyncio.to_thread(tiendo, "alerts", "ack", by_agency["SYT"], env=leader)
        assert acked.returncode == 0 and "acknowledged by Giám đốc Sở Y tế" in acked.stdout, acked.output
        operator = {**cli, "TIENDO_TOKEN": issue_for(Role.OPERATOR, name="Trực ban")}
        muted = await asyncio.to_thread(
            tiendo,
            "alerts",
            "silence",
            "--agency",
            "HQ",
            "--hours",
            "12",
            "--reason",
            "Đang bảo trì hệ thống báo cáo",
            env=operator,
        )
        assert muted.returncode == 0, muted.stderr
        refused = await asyncio.to_thread(tiendo, "alerts", "silence", "--reason", "x", env=operator)
        assert refused.returncode == 2 and "refused" in refused.stderr
        unknown = await asyncio.to_thread(
            tiendo, "alerts", "silence", "--agency", "NOPE", "--hours", "1", "--reason", "x", env=operator
        )
        assert unknown.returncode == 2 and "unknown agency 'NOPE'" in unknown.stderr, unknown.stderr
        assert len(unknown.stderr.strip().splitlines()) == 1  # one line, no traceback
        shown = await asyncio.to_thread(tiendo, "alerts", "silences", env=operator)
        assert "Đang bảo trì hệ thống báo cáo" in shown.stdout and '"created_by": "Trực ban"' in shown.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = proc.stderr.read().decode()
    # uvicorn re-raises the SIGTERM after a clean shutdown
    assert proc.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in log, log[-2000:]
