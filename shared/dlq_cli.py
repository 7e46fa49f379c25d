"""`tiendo dlq list | show | replay`: the operator's view of the dead-letter topic.

Reads the topic with no consumer group (partitions assigned, read up to the end offsets taken
at the start), so it never moves any service's committed offsets. A replay re-submits the
original record, or a corrected event, to the raw topic as a binary-mode CloudEvent: intake
checks it again with the same code as every other record (never straight to the canonical
topic), and a rejection comes back as a new dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from shared.deadletter import DeadLetterInfo, read_dead_letter
from shared.events.codec import CONTENT_TYPE
from shared.events.models import agency_code_of
from shared.kafka import DLQ, RAW, client_security
from shared.local_stack import NOT_FOUND, kafka_admin, recorded

app = typer.Typer(
    help="Dead letters: list them, show one, replay one (corrected) to the raw topic.", no_args_is_help=True
)

LEGACY = "unclassified"  # the reason shown for a letter from before the format (free-text dlq_reason)
REPLAY_HEADER = "tiendo_replay_of"  # on a replayed record: the dead letter it came from
_CODE = re.compile(r"[a-z0-9-]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Bootstrap = typer.Option(
    None,
    "--bootstrap",
    envvar="KAFKA_BOOTSTRAP_SERVERS",
    help="host:port[,host:port]; default: the running local stack's broker",
    callback=lambda given: given or recorded("kafka_bootstrap"),
)
Topic = typer.Option(DLQ.name, "--topic", envvar="TIENDO_DLQ_TOPIC", help="the dead-letter topic")
Timeout = typer.Option(15.0, "--timeout", min=0.1, help="seconds to wait for Kafka before giving up")


class Refused(Exception):
    """A clear one-line reason the command cannot do what was asked."""


# -------------------------------------------------------------------------------- the letters


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    info: DeadLetterInfo

    @classmethod
    def of(cls, record: Any) -> Letter:
        return cls(
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value or b"",
            read_dead_letter(record.headers or ()),
        )

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def time(self) -> datetime:
        return self.info.time or datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def reason(self) -> str:
        return self.info.reason if _CODE.fullmatch(self.info.reason) else LEGACY

    @property
    def detail(self) -> str:
        """A legacy letter's free-text reason is its detail."""
        if self.reason == LEGACY and self.info.reason:
            return f"{self.info.reason} {self.info.detail}".strip()
        return self.info.detail

    def header(self, name: str) -> str | None:
        value = next((v for n, v in self.info.headers if n == name), None)
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def agency(self) -> str:
        source = self.header("ce_source")
        code = agency_code_of(source) if source else None
        if code:
            return code
        return self.key.decode("utf-8", "replace") if self.key else ""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partition": self.partition,
            "offset": self.offset,
            "time": _instant(self.time),
            "service": self.info.service,
            "reason": self.reason,
            "agency": self.agency,
            "event_id": self.header("ce_id"),
            "event_type": self.header("ce_type"),
            "origin": self.info.origin,
            "attempts": self.info.attempts,
            "detail": self.detail,
        }


# -------------------------------------------------------------------------------- Kafka


@contextlib.contextmanager
def _quiet_kafka_logs() -> Iterator[None]:
    """aiokafka logs every failed connection; the command says it once, in one line."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run(coroutine_fn: Callable[[], Any], bootstrap: str | None) -> Any:
    """Run one command's coroutine; every failure becomes a one-line message and exit code 1."""
    try:
        if not bootstrap:
            raise Refused(f"set KAFKA_BOOTSTRAP_SERVERS, pass --bootstrap or {NOT_FOUND}")
        with _quiet_kafka_logs():
            return asyncio.run(coroutine_fn())
    except Refused as exc:
        typer.echo(f"error: {exc}", err=True)
    except TimeoutError:
        typer.echo(f"error: Kafka at {bootstrap} did not answer in time", err=True)
    except Exception as exc:
        from aiokafka.errors import KafkaError

        if not isinstance(exc, (KafkaError, OSError)):
            raise
        said = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
        typer.echo(f"error: cannot reach Kafka at {bootstrap}: {said}".rstrip(": "), err=True)
    raise typer.Exit(1)


async def _consumer(bootstrap: str, timeout: float):
    from aiokafka import AIOKafkaConsumer

    # No group: nothing is committed, no service's offsets move.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **client_security(kafka_admin()),  # dead letters of every service: the admin principal reads them
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        request_timeout_ms=int(timeout * 1000),
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def _partitions(consumer: Any, topic: str, bootstrap: str) -> list[int]:
    # every topic's metadata: an assigned consumer's own covers only the topics it was given
    partitions = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)
    if not partitions:
        raise Refused(f"topic {topic!r} does not exist on {bootstrap}")
    return sorted(partitions)


async def _read_all(
    consumer: Any, topic: str, bootstrap: str, since: datetime | None, progress: Callable[[int, int], None]
) -> list[Letter]:
    """Every letter from `since` (by record time) up to the end offsets as they were at the start."""
    from aiokafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in await _partitions(consumer, topic, bootstrap)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}
    for tp in tps:
        consumer.seek(tp, starts[tp])
    total, done = sum(ends[tp] - starts[tp] for tp in tps), 0
    letters: list[Letter] = []
    remaining = {tp for tp in tps if ends[tp] > starts[tp]}
    progress(0, total)
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    letters.append(Letter.of(record))
                    done += 1
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        progress(done, total)
    letters.sort(key=lambda letter: (letter.timestamp_ms, letter.partition, letter.offset))
    return letters


async def _read_one(
    consumer: Any, topic: str, bootstrap: str, partition: int, offset: int, timeout: float
) -> Letter:
    from aiokafka import TopicPartition

    if partition not in await _partitions(consumer, topic, bootstrap):
        raise Refused(f"topic {topic!r} has no partition {partition}")
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    start, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
    if not start <= offset < end:
        held = f"offsets {start}..{end - 1}" if end > start else "no records"
        raise Refused(
            f"no dead letter at {partition}:{offset} on {topic!r} (partition {partition} holds {held})"
        )
    consumer.seek(tp, offset)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for record in (await consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp, []):
            if record.offset != offset:  # a transaction marker or an aborted record sits there
                raise Refused(f"no dead letter at {partition}:{offset} on {topic!r}")
            return Letter.of(record)
        if await consumer.position(tp) > offset:
            raise Refused(f"no dead letter at {partition}:{offset} on {topic!r}")
    raise TimeoutError


def _coordinates(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[:/]\s*(\d+)\s*", text)
    if not match:
        raise Refused(f"{text!r} is not PARTITION:OFFSET (e.g. 0:42, as `tiendo dlq list` shows)")
    return int(match[1]), int(match[2])


# -------------------------------------------------------------------------------- list


def _since(text: str | None, now: datetime) -> datetime | None:
    if not text:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(seconds=int(match[1]) * _SECONDS[match[2]])
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"--since {text!r} is neither a duration (30m, 2h, 7d) nor an RFC 3339 time") from None
    if when.tzinfo is None:
        raise Refused(f"--since {text!r} has no UTC offset (e.g. 2024-06-20T08:00:00+07:00)")
    return when


@app.command("list")
def list_command(
    reason: list[str] = typer.Option(None, "--reason", help="only these reason codes (repeatable)"),
    agency: list[str] = typer.Option(None, "--agency", help="only these agency codes (repeatable)"),
    service: list[str] = typer.Option(
        None, "--service", help="only letters from intake, aggregator or notifier"
    ),
    since: str = typer.Option(
        None, "--since", help="only letters since a time (RFC 3339) or for a duration (30m, 2h, 7d)"
    ),
    limit: int = typer.Option(50, "--limit", min=0, help="the last N matching letters (0: all)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line, for scripts"),
    width: int = typer.Option(80, "--width", min=10, help="characters of detail shown per letter"),
    bootstrap: str = Bootstrap,
    topic: str = Topic,
    timeout: float = Timeout,
) -> None:
    """Dead letters, oldest first: where (PARTITION:OFFSET), when, which service, why, whose, which event."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    async def go() -> list[Letter]:
        start = _since(since, datetime.now(UTC))
        consumer = await _consumer(bootstrap, timeout)
        try:
            console = Console(stderr=True)
            with Progress(
                TextColumn("reading {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            ) as bar:
                task = bar.add_task(topic, total=None)
                return await _read_all(
                    consumer,
                    topic,
                    bootstrap,
                    start,
                    lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            await consumer.stop()

    letters = _run(go, bootstrap)
    wanted = [
        letter
        for letter in letters
        if (not reason or letter.reason in reason)
        and (not agency or letter.agency in agency)
        and (not service or letter.info.service in service)
    ]
    shown = wanted[-limit:] if limit else wanted
    if as_json:
        for letter in shown:
            typer.echo(json.dumps(letter.summary(), ensure_ascii=False))
        return
    if not shown:
        typer.echo(f"no dead letters on {topic}" + (" matching the filters" if len(letters) else ""))
        return
    typer.echo(_table(shown, width))
    hidden = len(wanted) - len(shown)
    typer.echo(
        f"{len(shown)} dead letter(s) shown"
        + (f", {hidden} older ones matching not shown (--limit)" if hidden else "")
        + f"; {len(letters)} read from {topic}. `tiendo dlq show PARTITION:OFFSET` for one in full."
    )


def _table(letters: list[Letter], width: int) -> str:
    columns = ["LETTER", "TIME (UTC)", "SERVICE", "REASON", "AGENCY", "EVENT ID", "TYPE", "ORIGIN", "DETAIL"]
    rows = []
    for letter in letters:
        s = letter.summary()
        kind = (s["event_type"] or "").removeprefix("vn.gov.pcmt.")
        rows.append(
            [
                s["id"],
                s["time"][:19].replace("T", " "),
                s["service"] or "?",
                s["reason"] or "?",
                s["agency"] or "-",
                _cut(s["event_id"] or "-", 36),
                _cut(kind or "-", 28),
                s["origin"] or "-",
                _cut(s["detail"], width),
            ]
        )
    sizes = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(size) for cell, size in zip(r, sizes)) + "  " + r[-1] for r in [columns, *rows]
    )


def _cut(text: str, limit: int) -> str:
    text = _printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _printable(text: str) -> str:
    """Controls and NUL shown as escapes: a terminal never gets them raw."""
    return _CONTROLS.sub(lambda m: json.dumps(m[0])[1:-1] if m[0] <= "\x7f" else f"\\u{ord(m[0]):04x}", text)


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -------------------------------------------------------------------------------- show


def _header_view(value: bytes) -> dict[str, Any]:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": value.hex()}
    return {"text": text}


def _value_view(value: bytes, limit: int) -> tuple[str, str]:
    """(how the value reads, the value as shown)."""
    if not value:
        return "empty", ""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = value[:limit].hex(" ")
        more = f" … ({len(value) - limit} more bytes)" if len(value) > limit else ""
        return f"not UTF-8 ({exc.reason} at byte {exc.start}), {len(value)} bytes, hex", shown + more
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        kind = "JSON"
    except (ValueError, RecursionError):
        pretty, kind = text, "text (not JSON)"
    if len(pretty) > limit:
        pretty = pretty[:limit] + f"\n… ({len(pretty) - limit} more characters; --max-chars to see more)"
    return f"{kind}, {len(value)} bytes", _printable_lines(pretty)


def _printable_lines(text: str) -> str:
    return "\n".join(_printable(line) for line in text.split("\n"))


@app.command("show")
def show_command(
    letter_id: str = typer.Argument(
        ..., metavar="PARTITION:OFFSET", help="as `tiendo dlq list` shows it, e.g. 0:42"
    ),
    as_json: bool = typer.Option(False, "--json", help="the letter as one JSON object"),
    max_chars: int = typer.Option(20_000, "--max-chars", min=100, help="characters of the value shown"),
    bootstrap: str = Bootstrap,
    topic: str = Topic,
    timeout: float = Timeout,
) -> None:
    """One dead letter in full: why, from where, the errors, the original headers and value."""

    async def go() -> Letter:
        partition, offset = _coordinates(letter_id)
        consumer = await _consumer(bootstrap, timeout)
        try:
            return await _read_one(consumer, topic, bootstrap, partition, offset, timeout)
        finally:
            await consumer.stop()

    letter = _run(go, bootstrap)
    info = letter.info
    if as_json:
        kind, _ = _value_view(letter.value, 0)
        document = {
            **letter.summary(),
            "raw_reason": info.reason,
            "errors": list(info.errors),
            "key": None if letter.key is None else _header_view(letter.key),
            "headers": [{"name": n, **_header_view(v)} for n, v in info.headers],
            "value": _header_view(letter.value),
            "value_kind": kind,
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    s = letter.summary()
    lines = [
        f"dead letter {letter.id} on {topic}",
        f"  time      {s['time']}",
        f"  service   {s['service'] or '? (not recorded)'}",
        f"  reason    {s['reason']}"
        + (f"  (recorded as: {_printable(info.reason)})" if s["reason"] == LEGACY else ""),
        f"  detail    {_printable(s['detail']) or '-'}",
        f"  origin    {s['origin'] or '? (not recorded)'}",
        f"  attempts  {s['attempts']}",
        f"  agency    {s['agency'] or '-'}",
        f"  key       {_shown_bytes(letter.key)}",
    ]
    if info.errors:
        lines.append("  errors")
        lines += [
            f"    {_printable(str(e.get('pointer', '')) or '/')}: {_printable(str(e.get('detail', '')))}"
            for e in info.errors
        ]
    lines.append("  original headers" if info.headers else "  original headers: none")
    lines += [f"    {_printable(name)}: {_shown_bytes(value)}" for name, value in info.headers]
    kind, shown = _value_view(letter.value, max_chars)
    lines.append(f"  value ({kind})")
    lines += [f"    {line}" for line in shown.split("\n")] if shown else []
    typer.echo("\n".join(lines))


def _shown_bytes(value: bytes | None) -> str:
    if value is None:
        return "(none)"
    view = _header_view(value)
    if "hex" in view:
        return f"(not UTF-8, hex) {view['hex'][:400]}"
    text = view["text"]
    return _printable(text) + ("   (control characters shown escaped)" if _CONTROLS.search(text) else "")


# -------------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Replay:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    what: str


def _corrected(path: Path, letter: Letter, letter_ref: str) -> Replay:
    """A structured CloudEvent (it has `specversion`) in binary mode, or corrected data under the
    letter's original attributes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Refused(f"{path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Refused(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise Refused(f"{path} is nested too deeply to be an event") from None
    replay_of = (REPLAY_HEADER, letter_ref.encode())
    if isinstance(document, dict) and "specversion" in document:
        missing = [
            a for a in ("id", "source", "type") if not isinstance(document.get(a), str) or not document[a]
        ]
        if missing:
            raise Refused(f"{path} is a CloudEvent without {', '.join(missing)} (each a non-empty string)")
        if "data" not in document:
            raise Refused(f"{path} is a CloudEvent without data")
        content_type = document.get("datacontenttype") or CONTENT_TYPE
        headers = [("content-type", str(content_type).encode())]
        for name, value in document.items():
            if name in ("data", "datacontenttype", "data_base64") or value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            headers.append((f"ce_{name}", text.encode()))
        value = json.dumps(document["data"], ensure_ascii=False, separators=(",", ":")).encode()
        key = (agency_code_of(document["source"]) or "").encode() or letter.key
        return Replay(key, value, headers + [replay_of], f"the corrected event in {path}")
    if not any(n.startswith("ce_") for n, _ in letter.info.headers):
        raise Refused(
            f"dead letter {letter.id} has no CloudEvent headers to put the corrected data under; "
            f"give a whole CloudEvent (with specversion, id, source, type, data) in {path}"
        )
    headers = [(n, v) for n, v in letter.info.headers if n != REPLAY_HEADER]
    return Replay(
        letter.key,
        raw.strip(),
        headers + [replay_of],
        f"the letter's event with the corrected data in {path}",
    )


@app.command("replay")
def replay_command(
    letter_id: str = typer.Argument(
        ..., metavar="PARTITION:OFFSET", help="as `tiendo dlq list` shows it, e.g. 0:42"
    ),
    file: Path = typer.Option(
        None, "--file", help="a corrected event: a structured CloudEvent JSON, or the corrected data"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="send without asking"),
    raw_topic: str = typer.Option(
        RAW.name, "--raw-topic", envvar="TIENDO_RAW_TOPIC", help="where intake reads agencies' records"
    ),
    bootstrap: str = Bootstrap,
    topic: str = Topic,
    timeout: float = Timeout,
) -> None:
    """Re-submit a letter's original record, or a corrected event, to the raw topic for intake to check again."""

    async def go() -> None:
        from shared.kafka import make_producer

        partition, offset = _coordinates(letter_id)
        consumer = await _consumer(bootstrap, timeout)
        try:
            letter = await _read_one(consumer, topic, bootstrap, partition, offset, timeout)
            await _partitions(consumer, raw_topic, bootstrap)
        finally:
            await consumer.stop()
        ref = f"{topic}/{partition}/{offset}"
        if file is not None:
            replay = _corrected(file, letter, ref)
        else:
            headers = [(n, v) for n, v in letter.info.headers if n != REPLAY_HEADER]
            replay = Replay(
                letter.key, letter.value, headers + [(REPLAY_HEADER, ref.encode())], "the original record"
            )
        named = {n: v.decode("utf-8", "replace") for n, v in replay.headers}
        typer.echo(
            f"dead letter {letter.id} ({letter.reason}, from {letter.info.service or '?'}): "
            f"replaying {replay.what} to {raw_topic}"
        )
        typer.echo(
            f"  key={_shown_bytes(replay.key)} ce_id={_printable(named.get('ce_id', '-'))} "
            f"ce_type={_printable(named.get('ce_type', '-'))} ce_source={_printable(named.get('ce_source', '-'))} "
            f"value {len(replay.value)} bytes"
        )
        if file is None and letter.info.topic and letter.info.topic != raw_topic:
            typer.echo(
                f"  note: it came from {letter.info.topic}, past intake: intake already accepted its id, "
                f"so unchanged it is answered as a duplicate; give a corrected event with a new id (--file)"
            )
        if not yes and not typer.confirm("send it?", default=False):
            raise Refused("not sent")
        producer = make_producer(bootstrap, credentials=kafka_admin(), request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(producer.start(), timeout)
            meta = await asyncio.wait_for(
                producer.send_and_wait(raw_topic, replay.value, key=replay.key, headers=replay.headers),
                timeout,
            )
        finally:
            await producer.stop()
        typer.echo(
            f"sent to {raw_topic} partition {meta.partition} offset {meta.offset}; intake checks it "
            f"again (a rejection comes back as a new dead letter)"
        )

    _run(go, bootstrap)


if __name__ == "__main__":  # pragma: no cover
    app()
