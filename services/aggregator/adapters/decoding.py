"""Records of the canonical events topic → facts, or dead letters keyed by their position.

Only intake writes the canonical topic, and only after validating each event against the shared
contract (`shared.events`), so the hot path does not validate it again with pydantic (that was
~45 % of the aggregator's CPU, and of a rebuild's): binary-mode headers and msgspec's JSON go
straight into a `Fact`, with the plan's checks and the shape checks the fold relies on. A record
of any other shape takes the shared codec, which words the error (or accepts an unusual but
valid form), so a dead letter says why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.aggregator.adapters.repository import decode_json
from services.aggregator.domain.facts import Rejected, fact_from_data, fact_from_event
from services.aggregator.service_layer.ports import Delivered, Poison
from shared.deadletter import clean_text
from shared.events.codec import DecodeError, KafkaRecord, decode_agency_event
from shared.events.models import EXTENSION_NAME, agency_code_of
from shared.plan.book import Plans

_JSON = b"application/json"


#: how far an event's time may lie ahead of its record's Kafka timestamp: intake allows 300 s of
#: clock skew against its own clock, so anything beyond this was not written by intake as it checks
MAX_AHEAD_OF_RECORD = timedelta(minutes=10)


def decode(record: Any, plan: Plans) -> Delivered | Poison:
    """A fact, or a dead letter with the reason; never raises, whatever the record holds.

    An event dated after its own record was written is refused too, even on the canonical topic
    (issue 17: a forged `ce_time` of 2099 would otherwise win over every later true report)."""
    item = _decode(record, plan)
    stamp = getattr(record, "timestamp", None)
    if type(item) is Delivered and isinstance(stamp, int) and stamp > 0:
        written = datetime.fromtimestamp(stamp / 1000, UTC)
        if item.fact.time > written + MAX_AHEAD_OF_RECORD:
            return poison(
                record,
                f"Rejected: time {item.fact.time.isoformat()} lies after the record was written "
                f"({written.isoformat()}, its Kafka timestamp): an event cannot be dated in its future",
            )
    return item


def _decode(record: Any, plan: Plans) -> Delivered | Poison:
    try:
        return _lean(record, plan)
    except Rejected as exc:
        return poison(record, f"Rejected: {exc}")
    except Exception:
        pass
    try:
        fact = fact_from_event(decode_agency_event(record.value, record.headers), record.offset, plan)
        return Delivered(fact, record.partition, record.offset, json.dumps(fact.data).encode())
    except (DecodeError, ValidationError, Rejected) as exc:
        return poison(record, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        return poison(record, f"{type(exc).__name__} on a valid-looking event: {exc}")


# the headers as intake writes them (`shared.events.codec.to_kafka`), in its order
_INTAKE_HEADERS = ("content-type", "ce_specversion", "ce_id", "ce_source", "ce_time", "ce_type")


def _lean(record: Any, plan: Plans) -> Delivered:
    headers = record.headers
    try:  # intake's form, unpacked in place (a dict of them costs twice as much)
        (c, content_type), (v, version), (i, id), (s, source), (t, time), (y, type_) = headers
        if (c, v, i, s, t, y) != _INTAKE_HEADERS:
            raise ValueError("not intake's headers")
    except ValueError:  # more, fewer or other headers: by name
        named = dict(headers)
        if len(named) != len(headers):
            raise ValueError("a header appears twice") from None  # the shared codec says which
        _check_other_attributes(named)
        content_type, version = named.get("content-type", _JSON), named["ce_specversion"]
        id, source, time, type_ = named["ce_id"], named["ce_source"], named["ce_time"], named["ce_type"]
    if version != b"1.0" or content_type != _JSON:
        raise ValueError("not a binary-mode JSON CloudEvent 1.0")
    if time[4:11:3] != b"--T":  # RFC 3339's YYYY-MM-DDT..., not the other ISO 8601 forms Python reads
        raise ValueError("ce_time is not RFC 3339")
    # what msgspec refuses (NaN, integers beyond 64 bits, nesting deeper than it recurses) and what
    # `fact_from_data` finds outside the contract take the shared codec
    data = decode_json(record.value)
    fact = fact_from_data(
        source.decode(),
        id.decode(),
        type_.decode(),
        datetime.fromisoformat(time.decode()),
        data,
        record.offset,
        plan,
    )
    return Delivered(fact, record.partition, record.offset, record.value)


def _check_other_attributes(named: dict) -> None:
    """`ce_subject` and extensions as the contract takes them (the fold reads none of them)."""
    for name, value in named.items():
        if name[:3] == "ce_" and name not in _INTAKE_HEADERS:
            text = value.decode()
            if not EXTENSION_NAME.fullmatch(name[3:]) or not text.isprintable() or len(text) > 200:
                raise ValueError(f"header {name!r} is not a CloudEvents attribute the contract takes")


def poison(record: Any, detail: str, *, reason: str | None = None, attempts: int = 1) -> Poison:
    """The dead letter-to-be of `record`, keyed in the inbox by its position. `reason` is a
    `shared.deadletter` code (a detail "Rejected: ..." reads as `rejected`, else `undecodable`)."""
    if reason is None:
        reason, detail = (
            ("rejected", detail[len("Rejected: ") :])
            if detail.startswith("Rejected: ")
            else ("undecodable", detail)
        )
    headers = list(record.headers or ())
    source = next((v for n, v in headers if n == "ce_source"), None) or b""
    source = source.decode("utf-8", "replace") if isinstance(source, bytes) else str(source)
    return Poison(
        f"kafka:{record.topic}/{record.partition}",
        str(record.offset),
        agency_code_of(source),
        reason,
        record.partition,
        record.offset,
        KafkaRecord(record.key, record.value or b"", headers),
        clean_text(detail),
        attempts,
        record.topic,
    )
