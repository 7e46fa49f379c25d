"""Network partitions and a full disk (issue #22, scenarios 4 and 5), while agencies keep posting.

Partitions are made with network namespaces of the suite's own (`shared.infra.faults`): the
server runs inside a namespace joined to this one by two veth pairs, one the route of the
service under test, one everybody else's; taking the first pair down cuts that service alone,
silently (packets dropped, no reset), for a bounded time. The full disk is a tmpfs of
160 MB holding PostgreSQL's data, filled with a ballast file and freed again.

Each scenario converges to the same independent oracle as the rest of tests/system, prints a
one-line verdict and what the services showed during the fault. Needs root (namespaces,
mounts); a machine that refuses them skips with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.infra import KafkaServer, PostgresServer, create_database, service_database_url
from shared.infra.faults import NetworkNamespace, SmallDisk, can_mount_tmpfs, can_use_namespaces
from tests.system import conftest as verdicts
from tests.system.driving import MIXED, PLAN, Load, converge
from tests.system.oracle import EventLog, Workload

pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.timeout(280)]

needs_namespaces = pytest.mark.skipif(
    not can_use_namespaces(), reason="network namespaces need root with CAP_NET_ADMIN (`ip netns add`)"
)
needs_mounts = pytest.mark.skipif(
    not can_mount_tmpfs(), reason="a tmpfs of the test's own needs root (`mount`)"
)

CUT_SECONDS = 10


class Watch:
    """Samples, every half second in a thread of its own, a service's /readyz code and the
    number of events the aggregator recorded, until stopped."""

    def __init__(self, pipe, service: str) -> None:
        self.pipe, self.service = pipe, service
        self.samples: list[tuple[float, int, int]] = []  # (monotonic time, readyz code, applied)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{service}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code = httpx.get(self.pipe.url(self.service) + "/readyz", timeout=2).status_code
            except httpx.HTTPError:
                code = 0
            try:
                applied = len(self.pipe.applied())
            except Exception:
                applied = -1
            self.samples.append((time.monotonic(), code, applied))
            self._stop.wait(0.5)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def between(self, start: float, end: float) -> list[tuple[float, int, int]]:
        return [s for s in self.samples if start <= s[0] <= end]

    def first_ready_after(self, moment: float) -> float | None:
        return next((t - moment for t, code, _ in self.samples if t > moment and code == 200), None)


def _outcome(verdict: str) -> str:
    """'CONVERGED in 34s' of a verdict line."""
    return verdict.split("] ", 1)[-1].split(":", 1)[0]


def _codes(samples: list[tuple[float, int, int]]) -> str:
    """'503×6, none×2': the /readyz answers seen (none: no answer within 2 s)."""
    counts: dict[str, int] = {}
    for _, code, _ in samples:
        counts[str(code) if code else "none"] = counts.get(str(code) if code else "none", 0) + 1
    return ", ".join(f"{code}×{n}" for code, n in sorted(counts.items()))


def _note(line: str) -> None:
    print(line)
    verdicts.VERDICTS.append(line)


@pytest.fixture
def namespace():
    ns = NetworkNamespace()
    yield ns
    ns.remove()


@dataclass
class Fault:
    log: EventLog
    watch: Watch
    began: float  # when the fault was complete
    ended: float  # when it was undone

    def during(self, settle: float) -> list[tuple[float, int, int]]:
        """The samples taken while the fault held, but for its first `settle` seconds (what was
        in flight may still land then)."""
        return self.watch.between(self.began + settle, self.ended)

    def back(self) -> str:
        """'0.6' seconds from the end of the fault to the first ready answer, or 'never'."""
        seconds = self.watch.first_ready_after(self.ended)
        return "never" if seconds is None else f"{seconds:.1f}"


def _under_load(pipe, watched: str, seed: int, begin, end, log: EventLog | None = None) -> Fault:
    """Agencies post (60 events each, 4/s); 4 s in `begin()` makes the fault, which holds for
    CUT_SECONDS, then `end()` undoes it; returns once every agency had its final answers."""
    pipe.issue_tokens(MIXED)
    log = log or EventLog()
    with Watch(pipe, watched) as watch:
        load = Load(pipe, log, Workload(PLAN, seed=seed).stream(MIXED, 60), rate=4).start()
        time.sleep(4)
        begin()
        began = time.monotonic()
        time.sleep(CUT_SECONDS)
        ended = time.monotonic()
        end()
        load.join()
        time.sleep(1)
    return Fault(log, watch, began, ended)


@needs_namespaces
def test_partition_between_the_aggregator_and_postgresql(kafka_bootstrap, namespace, make_pipeline, tmp_path):
    """4a. The aggregator's route to PostgreSQL is cut for 10 s under load, then healed: intake
    keeps answering 202 (its own route holds), the aggregator stops recording and says so on
    /readyz, dead-letters nothing, and catches up once healed — nothing lost, nothing twice."""
    started = time.monotonic()
    others, aggregators = namespace.link(), namespace.link()
    postgres = PostgresServer(tmp_path / "pg", namespace=namespace, links=[others, aggregators])
    postgres.start()
    try:
        database_url = asyncio.run(create_database(postgres.url, "partition"))
        pipe = make_pipeline(kafka_bootstrap, database_url)
        own_route = make_url(service_database_url(database_url, "aggregator")).set(host=aggregators.address)
        pipe.restart_with("aggregator", DATABASE_URL=own_route.render_as_string(hide_password=False))
        fault = _under_load(
            pipe, "aggregator", 41, lambda: namespace.cut(aggregators), lambda: namespace.heal(aggregators)
        )
        during = fault.during(settle=3)
        assert during, "no sample of the aggregator during the partition"
        assert all(code != 200 for _, code, _ in during), f"/readyz said ready while cut off: {during}"
        recorded = {applied for _, _, applied in during}
        assert len(recorded) == 1, f"the aggregator recorded events while cut off from PostgreSQL: {during}"
        assert fault.log.codes(503) == 0, "intake refused events though its own route to PostgreSQL held"
        assert pipe.alive("aggregator"), "the aggregator died of the partition"
        assert pipe.dlq_count() == 0, "a good event was dead-lettered during the partition"
        verdict = converge("pg-partitioned-from-aggregator", pipe, fault.log, started=started)
        _note(
            f"[pg-partitioned-from-aggregator] route cut {CUT_SECONDS}s: /readyz {_codes(during)} while "
            f"cut, nothing recorded meanwhile, intake 503=0; ready again {fault.back()}s after the heal; "
            f"{_outcome(verdict)}"
        )
    finally:
        postgres.remove()


@needs_namespaces
def test_partition_between_intake_and_the_brokers(fresh_database_url, namespace, make_pipeline, tmp_path):
    """4b. Intake's route to Kafka is cut for 10 s under load, then healed: intake answers 503
    with Retry-After meanwhile and acknowledges nothing it could not write; the agencies'
    retries then land, and every 202 is in the projections once."""
    started = time.monotonic()
    others, intakes = namespace.link(), namespace.link()
    kafka = KafkaServer(tmp_path / "kafka", namespace=namespace, links=[others, intakes])
    kafka.start()
    try:
        pipe = make_pipeline(kafka.bootstrap, fresh_database_url)
        pipe.restart_with("intake", KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_via(intakes))
        fault = _under_load(
            pipe, "intake", 42, lambda: namespace.cut(intakes), lambda: namespace.heal(intakes)
        )
        refused = fault.log.codes(503)
        assert refused > 0, "intake answered no 503 while cut off from the brokers: the fault did not bite"
        assert pipe.alive("intake")
        during = fault.during(settle=5)
        verdict = converge("intake-partitioned-from-kafka", pipe, fault.log, started=started)
        _note(
            f"[intake-partitioned-from-kafka] route cut {CUT_SECONDS}s: 503={refused} (Retry-After, "
            f"retried by the agencies), /readyz {_codes(during)} while cut, "
            f"ready again {fault.back()}s after the heal; {_outcome(verdict)}"
        )
    finally:
        kafka.kill()
        shutil.rmtree(kafka.workdir, ignore_errors=True)


@needs_mounts
def test_postgresql_disk_full_under_load(kafka_bootstrap, make_pipeline):
    """5. PostgreSQL's disk fills up under load, and space returns 10 s later: the services
    degrade (intake 503, the aggregator paused and not ready), no good event is dead-lettered,
    and everything answered 202 is projected once when space is back."""
    started = time.monotonic()
    disk = SmallDisk(size_mb=160)
    postgres = PostgresServer(disk.path / "pg")
    try:
        postgres.start()
        database_url = asyncio.run(create_database(postgres.url, "diskfull"))
        pipe = make_pipeline(kafka_bootstrap, database_url)
        filled: dict[str, int] = {}

        def fill() -> None:
            # A backlog on Kafka the aggregator must apply on the full disk: it is frozen while
            # intake accepts more, then thawed once the disk is full.
            os.kill(pipe.pid("aggregator"), signal.SIGSTOP)
            time.sleep(3)
            filled["ballast"] = disk.fill()
            filled["backlog"] = len(fault_log.accepted()) - len(pipe.applied())
            os.kill(pipe.pid("aggregator"), signal.SIGCONT)

        fault_log = EventLog()
        fault = _under_load(pipe, "aggregator", 43, fill, disk.release, log=fault_log)
        during = fault.during(settle=3)
        assert filled["backlog"] > 0, (
            "no backlog for the aggregator to apply on the full disk: the fault did not bite"
        )
        aggregator_log = Path(pipe.state["components"]["aggregator"]["log"]).read_text(errors="replace")
        assert "No space left on device" in aggregator_log or "53100" in aggregator_log, (
            "the aggregator never met the full disk"
        )
        assert all(code != 200 for _, code, _ in during), (
            f"aggregator /readyz said ready on a full disk: {during}"
        )
        assert pipe.alive("aggregator") and pipe.alive("intake")
        assert pipe.dlq_count() == 0, "a good event was dead-lettered while the disk was full"
        verdict = converge("pg-disk-full", pipe, fault.log, started=started)
        _note(
            f"[pg-disk-full] {filled['ballast'] // 2**20} MiB of ballast left the disk full for {CUT_SECONDS}s, "
            f"{filled['backlog']} events waiting for the aggregator: 503={fault.log.codes(503)}, aggregator "
            f"/readyz {_codes(during)}, ready again {fault.back()}s after space returned; {_outcome(verdict)}"
        )
    finally:
        postgres.remove()
        disk.remove()
