"""Issue 14's property: whatever bytes arrive, every decoder answers with an event (or fact) or a
rejection, and never raises. Fed arbitrary bytes, arbitrary JSON (deep, huge integers, NaN, odd
Unicode) and valid events with one part replaced, to:

- intake: `fast_parse`, `parse_json` + `parse_event`, the plan rules, and the raw topic's `decode`;
- the aggregator: `decode` of canonical-topic records (intake's header layout, and any other);
- the notifier: `shared.events.codec.decode_status_event` (DecodeError or ValidationError only).

Bounded (a few hundred examples each, no deadline) so they run in seconds.
"""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as observe
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from services.aggregator.adapters.decoding import decode as aggregator_decode
from services.aggregator.service_layer.ports import Delivered, Poison
from services.intake.domain import plan_rules
from services.intake.domain.parsing import fast_parse, parse_event, parse_json
from services.intake.domain.problems import Problem
from services.intake.entrypoints.examples import examples
from services.intake.entrypoints.raw_consumer import decode as raw_decode
from shared.events.codec import DecodeError, decode_agency_event, decode_status_event, to_kafka
from shared.events.models import MAX_YEAR, MIN_YEAR, agency_event_adapter, status_event_adapter
from shared.plan import load_plan
from shared.plan.index import PlanIndex
from shared.settings import DEFAULT_PLAN
from tests.notifier.helpers import kpi_status_json

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")


@cache
def intake_plan() -> PlanIndex:
    return load_plan(DEFAULT_PLAN).index


@cache
def aggregator_plan() -> PlanIndex:
    return load_plan(DEFAULT_PLAN).index  # the one index intake reads too


STATUS = {**kpi_status_json(deadline=None), "subject": "CA-TINH/drug_cases_detected/2024"}
REPORT_STATUS = {
    **STATUS,
    "id": "report-1",
    "type": "vn.gov.pcmt.report.status_changed.v1",
    "data": {
        "agency": "CA-TINH",
        "period": "2024-06",
        "status": "late",
        "previous_status": "pending",
        "deadline": "2024-06-19T23:59:59+07:00",
        "submitted_at": None,
        "as_of": "2024-06-20T08:00:00+07:00",
    },
}

# -- strategies ---------------------------------------------------------------------------------

NASTY = [
    "\x00",
    "\r\n",
    "\t",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\u00a0",
    "\u200b",
    "\u2028",
    "\ufeff",
    "\ud800",
    "\udfff",
    "\u0301",
    unicodedata.normalize("NFD", "Đắk Rông"),
    "\U0001f600",
    "\uffff",
    "",
]
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(blacklist_categories=()), max_size=10),  # surrogates included
    st.lists(st.sampled_from(NASTY) | st.text(max_size=3), max_size=6).map("".join),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**19, 2**63, 2**64, 10**20, -(10**21), 10**300, 2**31, -(2**31) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda m: timezone(timedelta(minutes=m)))
any_time = st.one_of(
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), st.datetimes(), offsets),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-12:00",
            "2024-06-20T08:00:00",
            "2024-06-20",
            "2024-02-30T00:00:00Z",
            "1999-12-31T23:59:59+00:00",
            "20240620T080000+0700",
            "2024-W25-4T08:00:00+07:00",
            "2024-06-20 08:00:00+07:00",
        ]
    ),
)  # not "+07" nor "+07:00:30": the aggregator's lean path reads those offsets as Python does (same instant)
any_date = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31", "0001-01-01", "2024-6-1", "20240601", "2024-W01-1"]),
)


def _valid_documents() -> list[dict]:
    return [*examples().values(), STATUS, REPORT_STATUS]


@st.composite
def mutated(draw) -> Any:
    """A valid event, as is or with one attribute or data field replaced, spelled oddly, removed or added."""
    doc = json.loads(json.dumps(draw(st.sampled_from(_valid_documents()))))
    where = doc if draw(st.booleans()) else doc["data"]
    key = draw(st.sampled_from(sorted(where)) | odd_text)
    action = draw(st.sampled_from(["keep", "replace", "odd", "odd", "delete", "time", "date"]))
    if action == "delete":
        where.pop(key, None)
    elif action == "time":
        where[draw(st.sampled_from(["time", "as_of", "deadline"]))] = draw(any_time)
    elif action == "date":
        doc["data"]["date"] = draw(any_date)
    elif action == "odd" and isinstance(where.get(key), str):  # the valid text with a character added
        text, at = where[key], draw(st.integers(min_value=0, max_value=len(where[key])))
        where[key] = unicodedata.normalize("NFD", text[:at] + draw(st.sampled_from(NASTY)) + text[at:])
    elif action != "keep":
        where[key] = draw(json_values | odd_text | numbers)
    return doc


def _encode(document: Any, ascii_only: bool) -> bytes:
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


documents = st.one_of(mutated(), json_values, st.lists(mutated(), max_size=3))
hostile_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.builds(
        lambda d, enc: json.dumps(d).encode(enc),
        mutated(),
        st.sampled_from(["utf-16", "utf-32", "utf-16-le"]),
    ),
    st.builds(lambda d: b"\xef\xbb\xbf" + json.dumps(d).encode(), mutated()),
    st.integers(min_value=15, max_value=6000).map(lambda n: b'{"data": {"value": ' + b"9" * n + b"}}"),
)
# mostly JSON documents near a valid event (those reach the deeper checks), the rest hostile bytes
bodies = st.integers(min_value=0, max_value=9).flatmap(
    lambda i: st.builds(_encode, documents, st.booleans()) if i < 6 else hostile_bodies
)
header_bytes = st.one_of(
    st.none(), st.binary(max_size=30), odd_text.map(lambda t: t.encode("utf-8", "surrogatepass"))
)


def _record(value: bytes | None, headers: list, offset: int = 7) -> ConsumerRecord:
    return ConsumerRecord(
        topic="progress.events.v1",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"CA-TINH",
        value=value,
        checksum=None,
        serialized_key_size=7,
        serialized_value_size=len(value or b""),
        headers=headers,
    )


@st.composite
def records(draw) -> ConsumerRecord:
    """A binary-mode record: intake's exact layout with parts replaced, or any headers at all."""
    doc = draw(st.sampled_from(_valid_documents()))
    valid = to_kafka(
        (
            status_event_adapter if doc["source"].startswith("/services") else agency_event_adapter
        ).validate_python(doc)
    )
    headers = list(valid.headers)
    value = valid.value
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        i = draw(st.integers(min_value=0, max_value=len(headers) - 1))
        name = headers[i][0]
        replacement = draw(header_bytes | any_time.map(str.encode) if name == "ce_time" else header_bytes)
        headers[i] = (name, replacement)
    choice = draw(st.sampled_from(["keep", "mutate", "bytes", "json", "shuffle", "extra", "anything"]))
    if choice == "mutate":
        value = _encode(draw(mutated()).get("data"), draw(st.booleans()))
    elif choice == "bytes":
        value = draw(st.none() | st.binary(max_size=120))
    elif choice == "json":
        value = _encode(draw(json_values), draw(st.booleans()))
    elif choice == "shuffle":
        headers = draw(st.permutations(headers))
    elif choice == "extra":
        headers.append(
            (
                draw(st.sampled_from(["ce_id", "ce_warnings", "ce_x", "content-type"]) | odd_text),
                draw(header_bytes),
            )
        )
    elif choice == "anything":
        headers = draw(
            st.lists(st.tuples(st.sampled_from([h[0] for h in headers]) | odd_text, header_bytes), max_size=8)
        )
    return _record(value, headers)


# -- what every answer must satisfy --------------------------------------------------------------


def _well_formed_problem(problem: Problem) -> None:
    assert 400 <= problem.status < 500, problem  # never 5xx: nothing here is the server's fault
    to_json(problem.as_dict())  # what the HTTP layer writes: must encode
    json.dumps(problem.as_dict(), ensure_ascii=False).encode("utf-8")


def _contract_holds(event: BaseModel) -> None:
    """An accepted event can be written on: its headers and data encode, its instants convert to UTC."""
    record = to_kafka(event)
    for _, value in record.headers:
        value.decode("utf-8")
    assert MIN_YEAR - 1 <= event.time.astimezone(UTC).year <= MAX_YEAR + 1
    assert event.id == unicodedata.normalize("NFC", event.id) and event.id.isprintable()


# -- intake ---------------------------------------------------------------------------------------


def _intake_answers(body: bytes) -> None:
    fast_batch = fast_parse(body, batch=True)
    assert fast_batch is None or isinstance(fast_batch, list)
    fast = fast_parse(body, batch=False)
    document = parse_json(body)
    if isinstance(document, Problem):
        observe(f"json refused: {document.reason}")
        _well_formed_problem(document)
        assert fast is None, "the fast path took what the strict reader refuses"
        return
    event = parse_event(document)
    if isinstance(event, Problem):
        observe(f"event refused: {event.reason}")
        _well_formed_problem(event)
        assert fast is None, "the fast path took what the slow path refuses"
        return
    observe("event accepted")
    assert fast == event, "the fast and the slow path disagree"
    _contract_holds(event)
    plan = intake_plan()
    for verdict in (
        plan_rules.check_sender(event.source, plan),
        plan_rules.authorize(event, "CA-TINH", plan),
        plan_rules.check_content(event, plan, NOW, timedelta(minutes=5)),
    ):
        if isinstance(verdict, Problem):
            _well_formed_problem(verdict)


@PROPERTY
@given(bodies)
@example(b"[" * 10_000 + b"]" * 10_000)
@example(b'{"specversion": "1.0", "id": ' + b"9" * 5000 + b"}")
@example(json.dumps({**examples()["indicator.reported"], "type": {}}).encode())
@example(json.dumps({**examples()["indicator.reported"], "type": []}).encode())
@example(
    json.dumps(
        {
            **examples()["activity.recorded"],
            "data": {**examples()["activity.recorded"]["data"], "date": "9999-12-31"},
        }
    ).encode()
)
@example(json.dumps({**examples()["indicator.reported"], "id": "a\u0000b"}).encode())
@example(json.dumps({**examples()["indicator.reported"], "time": "0001-01-01T00:00:00+01:00"}).encode())
@example(json.dumps([{**examples()["indicator.reported"], "id": "\ud800"}]).encode("utf-8", "surrogatepass"))
def test_intake_answers_every_body_with_an_event_or_a_4xx_problem(body):
    _intake_answers(body)


@PROPERTY
@given(records())
def test_intake_raw_topic_decode_never_fails_inside(record):
    document = raw_decode(record)
    if isinstance(document, Problem):
        _well_formed_problem(document)
        assert document.reason == "not-a-cloudevent", document  # not "internal-error": the codec said why
        return
    event = parse_event(document)
    if isinstance(event, Problem):
        _well_formed_problem(event)
    else:
        _contract_holds(event)


# -- aggregator -------------------------------------------------------------------------------------


@PROPERTY
@given(records())
@example(
    _record(
        b'{"indicator":"drug_cases_detected","period":"2024-06","value":1,"unit_code":null,"note":null}',
        [
            ("content-type", b"application/json"),
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_source", b"/agencies/CA-TINH"),
            ("ce_time", b"0001-01-01T00:00:00+01:00"),
            ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
        ],
    )
)
@example(
    _record(
        b'{"indicator":"drug_cases_detected","period":"2024-06","value":1,"unit_code":null,"note":null}',
        [
            ("content-type", b"application/json"),
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_source", b"/agencies/CA-TINH"),
            ("ce_time", b"20240620T080000+0700"),
            ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
        ],
    )
)
@example(
    _record(
        b"[" * 5000 + b"]" * 5000,
        [("ce_specversion", b"1.0"), ("ce_id", b"x"), ("ce_type", b"t"), ("ce_source", b"/agencies/CA-TINH")],
    )
)
@example(_record(None, []))
def test_the_aggregator_turns_every_record_into_a_fact_or_a_dead_letter(record):
    item = aggregator_decode(record, aggregator_plan())
    assert isinstance(item, (Delivered, Poison)), item
    observe(type(item).__name__)
    if isinstance(item, Poison):
        return
    fact = item.fact
    assert fact.time.tzinfo is UTC and MIN_YEAR - 1 <= fact.time.year <= MAX_YEAR + 1
    assert fact.id == unicodedata.normalize("NFC", fact.id) and fact.id.isprintable()
    value = fact.data.get("value")
    assert value is None or (type(value) in (int, float) and 0 <= value <= 1e12)
    # the lean path takes nothing the contract refuses
    decode_agency_event(record.value, record.headers)


# -- notifier ---------------------------------------------------------------------------------------


@PROPERTY
@given(records())
def test_the_status_decoder_raises_only_what_the_notifier_catches(record):
    try:
        event = decode_status_event(record.value, record.headers)
    except (DecodeError, ValidationError) as exc:
        observe(type(exc).__name__)
        return
    observe("decoded")
    _contract_holds(event)
    data = event.data
    for name in ("actual", "target", "expected", "forecast"):
        figure = getattr(data, name, None)
        assert figure is None or math.isfinite(figure)


STATUS_HEADERS = to_kafka(status_event_adapter.validate_python(STATUS)).headers


@PROPERTY
@given(bodies, st.lists(st.tuples(odd_text, header_bytes), max_size=3))
def test_the_status_decoder_takes_any_value_and_extra_headers(value, extra):
    try:
        decode_status_event(value, [*STATUS_HEADERS, *extra])
    except (DecodeError, ValidationError) as exc:
        observe(type(exc).__name__)
