"""What the end-to-end benchmark and the system fault suite share.

- `Sender`: an agency client script over intake's HTTP API that retries what intake asks it to
  (503 + Retry-After, 429, connection errors) and records every answer.
- `open_loop`: offers requests at their scheduled moments whatever the previous answers took
  (open loop); latencies count from the *scheduled* moment, so a stall shows in the tail
  instead of being hidden by the client waiting (coordinated omission, Gil Tene's correction).
- `CommitWatcher`: when each accepted event became visible in the aggregator's projection
  (its inbox row commits in the same transaction as the projection), by polling PostgreSQL.
- `RssSampler`: peak resident memory per service process (psutil, children included).
- `percentile`, `machine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
RETRY_STATUSES = {429, 500, 502, 503, 504}
RSS_GOAL_MB = 200  # each service's peak RSS (issue 21), in every benchmark that judges it


def pg_dsn(sqlalchemy_url: str) -> str:
    """postgresql+asyncpg://... → postgresql://... (asyncpg's own DSN)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.contextmanager
def kafka_and_postgres(prefix: str) -> Iterator[tuple[str, str]]:
    """Kafka's bootstrap and PostgreSQL's server URL for a benchmark: from the environment, else
    started in a work folder of their own (under .tiendo/), and stopped afterwards."""
    from shared.infra import kafka_from_env_or_start, postgres_from_env_or_start

    root = Path(__file__).resolve().parents[1] / ".tiendo"
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=root if root.exists() else None))
    bootstrap, kafka = kafka_from_env_or_start(work / "kafka")
    pg = None
    try:
        server_url, pg = postgres_from_env_or_start(work / "postgres")
        yield bootstrap, server_url
    finally:
        if kafka:
            kafka.stop()
        if pg:
            pg.stop()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Answer:
    """The final answer intake gave to one event (after retries)."""

    status: str  # accepted | duplicate | rejected | refused | lost
    http: list[int] = field(default_factory=list)
    retried: int = 0
    detail: str = ""


class Sender:
    """One client script for many agencies (tokens by agency)."""

    def __init__(
        self,
        intake_url: str,
        tokens: dict[str, str],
        *,
        give_up_after: float = 120.0,
        retry_pause: float = 0.3,
        timeout: float = 20.0,
        keep_alive: bool = False,
    ) -> None:
        self.url, self.tokens = intake_url.rstrip("/"), tokens
        self.give_up_after, self.retry_pause = give_up_after, retry_pause
        self.client = (
            None
            if keep_alive
            else httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=64))
        )
        # keep_alive: bare keep-alive connections (`KeepAlivePool`) for a load generator that must
        # not be the bottleneck (httpx's pool was, docs/benchmarks.md "End to end")
        self.pool = KeepAlivePool(self.url, timeout) if keep_alive else None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.pool is not None:
            await self.pool.close()

    async def _post(self, agency: str, path: str, content_type: str, body: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[agency]}", "Content-Type": content_type}
        if self.pool is not None:
            data = body.encode() if isinstance(body, str) else body
            if not isinstance(data, bytes):
                data = json.dumps(body).encode()
            code, raw = await self.pool.post(path, data, headers)
            try:
                return code, json.loads(raw) if raw else None
            except ValueError:
                return code, None
        assert self.client is not None
        if isinstance(body, (str, bytes)):
            response = await self.client.post(self.url + path, content=body, headers=headers)
        else:
            response = await self.client.post(self.url + path, json=body, headers=headers)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return response.status_code, payload

    async def one(self, agency: str, event: Any) -> Answer:
        """POST /v1/events until intake gives a final answer."""
        answer = Answer("lost")
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            try:
                code, payload = await self._post(agency, "/v1/events", STRUCTURED, event)
            except (httpx.HTTPError, TransportError) as exc:
                answer.http.append(0)
                answer.retried += 1
                answer.detail = type(exc).__name__
                await asyncio.sleep(self.retry_pause)
                continue
            answer.http.append(code)
            if code == 202:
                answer.status = "accepted"
            elif code == 200:
                answer.status = (payload or {}).get("status", "duplicate")
            elif code in RETRY_STATUSES:
                answer.retried += 1
                await asyncio.sleep(self.retry_pause)
                continue
            elif code in (401, 403):
                answer.status = "refused"
            else:
                answer.status = "rejected"
            answer.detail = str(payload)[:300] if answer.status != "accepted" else ""
            return answer
        return answer

    async def batch(self, agency: str, events: list[Any]) -> list[Answer]:
        """POST /v1/events/batch until intake answers 200 (or refuses the whole batch)."""
        deadline = time.monotonic() + self.give_up_after
        codes: list[int] = []
        retried = 0
        while time.monotonic() < deadline:
            try:
                code, payload = await self._post(agency, "/v1/events/batch", BATCH, events)
            except (httpx.HTTPError, TransportError):
                codes.append(0)
                retried += 1
                await asyncio.sleep(self.retry_pause)
                continue
            codes.append(code)
            if code in RETRY_STATUSES:
                retried += 1
                await asyncio.sleep(self.retry_pause)
                continue
            if code == 200:
                return [
                    Answer(
                        r["status"],
                        list(codes),
                        retried,
                        str(r.get("problem") or r.get("detail") or "")[:300],
                    )
                    for r in payload["results"]
                ]
            status = "refused" if code in (401, 403) else "rejected"
            return [Answer(status, list(codes), retried, str(payload)[:300]) for _ in events]
        return [Answer("lost", codes, retried) for _ in events]


async def open_loop(
    schedule: Iterable[tuple[float, Callable[[], Awaitable[Any]]]],
    on_done: Callable[[float, float, Any], None],
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run each `(offset_s, make_request)` at t0 + offset without waiting for earlier ones;
    `on_done(scheduled_monotonic, done_monotonic, result)` gets the latency from the schedule."""
    t0 = time.monotonic()
    tasks: set[asyncio.Task] = set()

    async def run(at: float, make: Callable[[], Awaitable[Any]]) -> None:
        result = await make()
        on_done(at, time.monotonic(), result)

    for offset, make in schedule:
        if stop():
            break
        at = t0 + offset
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(run(at, make))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)


class CommitWatcher:
    """Notes the moment each awaited (source, id) appears in `aggregator.recorded_events`.

    The aggregator records an event in that inbox table in the same transaction as the
    projection it changes, so the row's visibility is the projection's commit (± `interval`).
    """

    def __init__(self, database_url: str, interval: float = 0.02) -> None:
        self.dsn, self.interval = pg_dsn(database_url), interval
        self.pending: dict[tuple[str, str], float] = {}  # key → reference moment (monotonic)
        self.seen: dict[tuple[str, str], float] = {}  # key → latency from the reference moment
        self._stop = False

    def expect(self, source: str, id_: str, since: float) -> None:
        self.pending[(source, id_)] = since

    async def run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop or self.pending:
                keys = list(self.pending)
                if keys:
                    rows = await conn.fetch(
                        "SELECT r.source, r.id FROM aggregator.recorded_events r "
                        "JOIN unnest($1::text[], $2::text[]) AS k(source, id) USING (source, id)",
                        [k[0] for k in keys],
                        [k[1] for k in keys],
                    )
                    now = time.monotonic()
                    for row in rows:
                        key = (row["source"], row["id"])
                        since = self.pending.pop(key, None)
                        if since is not None:
                            self.seen[key] = now - since
                if self._stop and self.pending and time.monotonic() > self._deadline:
                    break
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def stop(self, drain: float = 30.0) -> None:
        """Stop once every awaited event was seen, or after `drain` seconds."""
        self._deadline = time.monotonic() + drain
        self._stop = True


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), 0 when it is gone."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
        return sum(t.user + t.system for t in (p.cpu_times() for p in procs))
    except psutil.NoSuchProcess:
        return 0.0


def rss_mb(pid: int) -> float:
    """The RSS of process `pid` and its children, in MB (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


class RssSampler:
    """Peak RSS (MB) per named process, children included, sampled every `interval` s."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids, self.interval = pids, interval
        self.peak: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def machine() -> str:
    """One line: CPU model and cores, memory, OS, Python."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{model}, {psutil.cpu_count(logical=True)} logical cores, {mem:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at start {load}"
    )


class KeepAliveClient:
    """A bare HTTP/1.1 keep-alive connection for load generation: one request at a time, the
    answer read by its Content-Length. It costs a few tens of µs of CPU a request where httpx
    costs several hundred, so on a small machine the generator takes less from the server it
    measures (both sides of a comparison use it alike). Only for servers that answer with a
    Content-Length (uvicorn does), no chunked encoding, no redirects."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        assert self._reader is not None
        status_line, _, rest = (await self._reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        length, close = 0, False
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self._reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split(b" ", 2)[1]), payload

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


class TransportError(Exception):
    """A `KeepAlivePool` request got no answer (connection refused, reset, closed or timed out)."""


class KeepAlivePool:
    """`KeepAliveClient`s for concurrent requests to one server: a request takes an idle
    connection (or opens one), a failed one is closed and raised as `TransportError`."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urlsplit(url)
        self.host, self.port, self.timeout = parsed.hostname or "127.0.0.1", parsed.port or 80, timeout
        self._idle: list[KeepAliveClient] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        client = self._idle.pop() if self._idle else KeepAliveClient(self.host, self.port)
        try:
            async with asyncio.timeout(self.timeout):
                answer = await client.post(path, body, headers)
        except (
            OSError,
            EOFError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as exc:
            await client.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        self._idle.append(client)
        return answer

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await client.close()


async def group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records on `topic` that consumer group `group` has not committed yet."""
    from aiokafka import TopicPartition

    from shared.kafka import committed_offsets, make_admin, make_consumer

    admin = make_admin(bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for t in described for p in t["partitions"]]
    if not partitions:
        raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
    consumer = make_consumer(bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    committed = await committed_offsets(bootstrap, group)
    return sum(max(0, ends[tp] - committed.get(tp, 0)) for tp in partitions)
