"""The hostile-input suite (issue 14): nothing an agency sends can stop a consumer.

The whole pipeline runs as separate processes on real Kafka, PostgreSQL and SMTP. Every input
the issue lists is sent — over HTTP to the three services, on the raw topic, and written
straight to the canonical and status topics (what a buggy or compromised producer could do) —
between controlled valid events sent before, between and after them. Then, each as a check of
its own, reported in one verdict line each:

- http-4xx: every hostile HTTP input answered 4xx (never 5xx, never 2xx);
- http-lax: lax-parsing inputs change no figure (NFC/NFD spellings of one id are one event);
- dlq: every hostile Kafka record is on the DLQ with a reason code, from the service that met
  it; no valid record is;
- oracle: every valid event is counted exactly once (projections, inbox, alerts, emails);
- alive: every service process is alive and `/readyz` is 200 at the end;
- readyz-steady: `/readyz` of each service, polled throughout, stayed 200 (all was well);
- readyz-honest: at the end, each service's `/readyz` is 200 exactly when, seen from outside,
  it has done all its work (its hostile records dead-lettered, the valid ones behind them
  forwarded, applied or alerted on).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.auth.testing import bearer
from shared.deadletter import read_dead_letter
from shared.events.codec import BATCH, STRUCTURED, to_kafka
from shared.events.models import agency_event_adapter, status_event_adapter
from shared.events.types import EventType
from tests.system import conftest as verdicts
from tests.system.driving import PLAN, Load, converge
from tests.system.oracle import REPORTED, EventLog, Workload, expected_lagging
from tests.system.pipeline import NOW, Pipeline
from tests.topics import read_topic

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

HTTP_AGENCIES = ["CA-TINH", "HQ", "SYT", "BDBP", "STTTT"]  # the controlled valid traffic over HTTP
RAW_AGENCY = "CA-HUONG-HOA"  # hostile raw records, each with a valid record of the agency behind it
CANON_AGENCY = "CA-DONG-HA"  # hostile canonical records, each with a valid one behind it
STATUS_AGENCY = "CA-DAKRONG"  # a NaN status event; this agency's real status events come after it
LAX_AGENCY = "SLDTBXH"  # lax-parsing inputs: one taken would change this agency's figures
ACT_AGENCY = "SVHTTDL"  # NFC/NFD spellings of one activity's id
CODE = re.compile(r"[a-z0-9-]+")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Hostile:
    """One hostile Kafka record as written: where it landed, who must dead-letter it."""

    label: str
    topic: str
    partition: int = -1
    offset: int = -1
    service: str = ""

    @property
    def origin(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass
class ReadyPoller:
    """Polls every service's /readyz in a thread and keeps every answer that was not a 200."""

    pipe: Pipeline
    interval: float = 1.0
    polls: int = 0
    bad: list[tuple[float, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="readyz-poller")
        self._t0 = time.monotonic()

    def start(self) -> ReadyPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                for name in ("intake", "aggregator", "notifier"):
                    answer = _ready(client, self.pipe, name)
                    self.polls += 1
                    if answer != "200":
                        self.bad.append((time.monotonic() - self._t0, name, answer))
                self._stop.wait(self.interval)


def _ready(client: httpx.Client, pipe: Pipeline, name: str) -> str:
    try:
        response = client.get(pipe.url(name) + "/readyz")
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    return "200" if response.status_code == 200 else f"{response.status_code} {response.text[:200]}"


# -------------------------------------------------------------------------------- the inputs


def _json(document: dict, **raw: str) -> bytes:
    """`document` as JSON with each "__NAME__" string placeholder replaced by raw JSON text."""
    text = json.dumps(document, ensure_ascii=False)
    for name, value in raw.items():
        text = text.replace(f'"__{name}__"', value)
    return text.encode()


def http_inputs(work: Workload, tag: str) -> list[dict[str, Any]]:
    """Every hostile HTTP input of the issue: (service, method, path, agency token, body/params)."""
    lax = lambda **data: {**work.reported(LAX_AGENCY), **data}  # noqa: E731
    figure = lambda value: {  # noqa: E731
        **lax(),
        "data": {
            "indicator": "people_in_rehab",
            "period": "2024",
            "value": value,
        },
    }
    events = [
        (
            "JSON nested 10,000 deep",
            LAX_AGENCY,
            _json({**lax(), "data": "__X__"}, X="[" * 10_000 + "]" * 10_000),
        ),
        ("a 5,000-digit integer", LAX_AGENCY, _json(figure("__X__"), X="1" + "0" * 4999)),
        ('"type": {}', LAX_AGENCY, _json({**lax(), "type": {}})),
        ('"type": []', LAX_AGENCY, _json({**lax(), "type": []})),
        (
            "an activity dated 9999-12-31",
            ACT_AGENCY,
            _json(
                {
                    **work.activity(ACT_AGENCY),
                    "data": {"activity": "propaganda_session", "date": "9999-12-31", "participants": 10},
                }
            ),
        ),
        (r'"\u0000" in an id', LAX_AGENCY, _json({**lax(), "id": f"{tag}-nul\u0000id"})),
        (
            '"time": "0001-01-01T00:00:00+01:00"',
            STATUS_AGENCY,
            _json(
                {
                    "specversion": "1.0",
                    "id": f"{tag}-year-one",
                    "source": f"/agencies/{STATUS_AGENCY}",
                    "type": REPORTED,
                    "time": "0001-01-01T00:00:00+01:00",
                    "data": {"indicator": "drug_cases_detected", "period": "2024-04", "value": 3},
                }
            ),
        ),
        ('"value": true', LAX_AGENCY, _json(figure(True))),
        ('"value": "5"', LAX_AGENCY, _json(figure("5"))),
        ('"value": NaN', LAX_AGENCY, _json(figure("__X__"), X="NaN")),
        ("CR/LF in an id", LAX_AGENCY, _json({**lax(), "id": f"{tag}-crlf\r\nX-Injected: 1"})),
        ("LF in an id", LAX_AGENCY, _json({**lax(), "id": f"{tag}-lf\nid"})),
        ("a UTF-16 body", LAX_AGENCY, json.dumps(lax()).encode("utf-16")),
        ("a UTF-32 body", LAX_AGENCY, json.dumps(lax()).encode("utf-32")),
        ("a UTF-16 body without BOM", LAX_AGENCY, json.dumps(lax()).encode("utf-16-le")),
    ]
    cases = [
        {
            "name": name,
            "service": "intake",
            "method": "POST",
            "path": "/v1/events",
            "agency": agency,
            "content": body,
            "type": STRUCTURED,
        }
        for name, agency, body in events
    ]
    huge = str(2**63)
    cases += [
        {
            "name": "aggregator ?as_of=9999-12-31T23:59:59-12:00",
            "service": "aggregator",
            "method": "GET",
            "path": "/v1/kpis",
            "params": {"as_of": "9999-12-31T23:59:59-12:00"},
        },
        {
            "name": "aggregator scorecard ?as_of=9999-12-31T23:59:59-12:00",
            "service": "aggregator",
            "method": "GET",
            "path": "/v1/agencies/CA-TINH/scorecard",
            "params": {"as_of": "9999-12-31T23:59:59-12:00"},
        },
        {
            "name": "notifier silence hours=1e300",
            "service": "notifier",
            "method": "POST",
            "path": "/silences",
            "content": b'{"agency":"SGDDT","hours":1e300,"reason":"x"}',
            "type": "application/json",
        },
        {
            "name": "notifier silence with a naive starts_at",
            "service": "notifier",
            "method": "POST",
            "path": "/silences",
            "json": {
                "agency": "SGDDT",
                "starts_at": "2024-06-20T08:00:00",
                "hours": 1,
                "reason": "x",
            },
        },
        {
            "name": "notifier silence for an agency code over 64 characters",
            "service": "notifier",
            "method": "POST",
            "path": "/silences",
            "json": {"agency": "A" * 65, "hours": 1, "reason": "x"},
        },
        {
            "name": "notifier /outbox?limit=-1",
            "service": "notifier",
            "method": "GET",
            "path": "/outbox",
            "params": {"limit": "-1"},
        },
        {
            "name": "notifier /alerts?agency=%00",
            "service": "notifier",
            "method": "GET",
            "path": "/alerts",
            "params": {"agency": "\x00"},
        },
        {
            "name": "notifier alert id above int64",
            "service": "notifier",
            "method": "POST",
            "path": f"/alerts/{huge}/ack",
        },
        {
            "name": "notifier silence id above int64",
            "service": "notifier",
            "method": "DELETE",
            "path": f"/silences/{huge}",
        },
    ]
    return cases


def send_http(pipe: Pipeline, case: dict[str, Any]) -> tuple[int, str]:
    headers = {}
    if case.get("agency"):
        headers["Authorization"] = f"Bearer {pipe.tokens[case['agency']]}"
    elif case["service"] in ("aggregator", "notifier"):
        headers.update(bearer(Role.COMMITTEE))  # past authorization: the parameters are under test
    if case.get("type"):
        headers["Content-Type"] = case["type"]
    try:
        response = httpx.request(
            case["method"],
            pipe.url(case["service"]) + case["path"],
            headers=headers,
            content=case.get("content"),
            json=case.get("json"),
            params=case.get("params"),
            timeout=30,
        )
    except httpx.HTTPError as exc:
        return 0, f"no answer: {type(exc).__name__}"
    return response.status_code, response.text[:200]


def post_event(pipe: Pipeline, agency: str, event: dict) -> tuple[int, dict | None]:
    response = httpx.post(
        pipe.url("intake") + "/v1/events",
        content=json.dumps(event, ensure_ascii=False).encode(),
        headers={"Authorization": f"Bearer {pipe.tokens[agency]}", "Content-Type": STRUCTURED},
        timeout=30,
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def record_of(event: dict) -> tuple[bytes, bytes, list[tuple[str, bytes | None]]]:
    record = to_kafka(agency_event_adapter.validate_python(event))
    return record.key, record.value, list(record.headers)


def with_header(headers: list, name: str, value: bytes | None) -> list:
    return [(n, value if n == name else v) for n, v in headers]


def raw_inputs(work: Workload, tag: str) -> list[tuple[str, bytes, bytes, list]]:
    """Hostile binary-mode records for the raw topic (label, key, value, headers)."""
    base = lambda: record_of(work.reported(RAW_AGENCY))  # noqa: E731
    out = []
    key, value, headers = base()
    out.append(("NUL in ce_id", key, value, with_header(headers, "ce_id", f"{tag}-raw-nul\x00id".encode())))
    key, value, headers = base()
    out.append(
        ("ce_source not UTF-8", key, value, with_header(headers, "ce_source", b"/agencies/\xff\xfeCA"))
    )
    key, value, headers = base()
    out.append(("ce_id not UTF-8", key, value, with_header(headers, "ce_id", b"\xc3\x28-raw")))
    key, value, headers = base()
    out.append(("a null header value (ce_time)", key, value, with_header(headers, "ce_time", None)))
    key, value, headers = base()
    out.append(("CR/LF in ce_id", key, value, with_header(headers, "ce_id", f"{tag}-raw\r\nid".encode())))
    key, value, headers = base()
    out.append(("content-type text/plain", key, value, with_header(headers, "content-type", b"text/plain")))
    key, value, headers = base()
    out.append(("no ce_specversion", key, value, [(n, v) for n, v in headers if n != "ce_specversion"]))
    key, value, headers = base()
    out.append(("value NaN", key, re.sub(rb'"value":[0-9.]+', b'"value":NaN', value), headers))
    key, value, headers = base()
    out.append(('"value": true', key, re.sub(rb'"value":[0-9.]+', b'"value":true', value), headers))
    key, value, headers = base()
    out.append(("ce_time year 1", key, value, with_header(headers, "ce_time", b"0001-01-01T00:00:00+01:00")))
    key, value, headers = base()
    out.append(("value UTF-16", key, value.decode().encode("utf-16"), headers))
    key, value, headers = base()
    out.append(("value nested 10,000 deep", key, b"[" * 10_000 + b"]" * 10_000, headers))
    return out


def canonical_inputs(work: Workload, tag: str) -> list[tuple[str, bytes, bytes, list]]:
    """Records written straight to the canonical topic, past intake's checks."""
    base = lambda: record_of(work.reported(CANON_AGENCY))  # noqa: E731
    out = []
    key, value, headers = base()
    out.append(("NUL in ce_id", key, value, with_header(headers, "ce_id", f"{tag}-canon-nul\x00id".encode())))
    key, value, headers = base()
    out.append(
        (
            "ce_time 0001-01-01T00:00:00+01:00",
            key,
            value,
            with_header(headers, "ce_time", b"0001-01-01T00:00:00+01:00"),
        )
    )
    key, value, headers = base()
    out.append(("value NaN", key, re.sub(rb'"value":[0-9.]+', b'"value":NaN', value), headers))
    key, value, headers = base()
    out.append(("ce_source not UTF-8", key, value, with_header(headers, "ce_source", b"/agencies/\xff")))
    return out


def status_inputs(tag: str) -> list[tuple[str, bytes, bytes, list]]:
    """Status events a notifier must dead-letter. Were the NaN one taken, a firing alert for a
    KPI that does not exist (2024-Q1) would show."""
    event = status_event_adapter.validate_python(
        {
            "specversion": "1.0",
            "id": f"{tag}-status-nan",
            "source": "/services/aggregator",
            "time": NOW,
            "type": EventType.KPI_STATUS_CHANGED,
            "subject": f"{STATUS_AGENCY}/drug_cases_detected/2024-Q1",
            "data": {
                "agency": STATUS_AGENCY,
                "indicator": "drug_cases_detected",
                "period": "2024-Q1",
                "status": "lagging",
                "previous_status": None,
                "actual": 1.0,
                "target": 10.0,
                "expected": 5.0,
                "forecast": 2.0,
                "as_of": NOW,
            },
        }
    )
    record = to_kafka(event, key=STATUS_AGENCY)
    nan = record.value.replace(b'"actual":1.0', b'"actual":NaN')
    assert nan != record.value
    return [
        ('"actual": NaN', record.key, nan, list(record.headers)),
        (
            "not JSON",
            record.key,
            b"{not json",
            with_header(list(record.headers), "ce_id", f"{tag}-st-2".encode()),
        ),
    ]


async def _produce(
    pipe: Pipeline, topic: str, records: list[tuple[bytes, bytes, list]]
) -> list[tuple[int, int]]:
    from shared.kafka import make_producer

    producer = make_producer(pipe.kafka_bootstrap)
    await producer.start()
    try:
        out = []
        for key, value, headers in records:
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers)
            out.append((meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


def write_interleaved(
    pipe: Pipeline, topic: str, service: str, hostile: list, valid_next
) -> tuple[list[Hostile], list[dict]]:
    """Each hostile record followed by a valid event of the same agency (same partition)."""
    records, kinds, valid = [], [], []
    for label, key, value, headers in hostile:
        records.append((key, value, headers))
        kinds.append(Hostile(label, topic, service=service))
        event = valid_next()
        valid.append(event)
        records.append(record_of(event))
        kinds.append(None)
    placed = asyncio.run(_produce(pipe, topic, records))
    written = []
    for kind, (partition, offset) in zip(kinds, placed):
        if kind is not None:
            kind.partition, kind.offset = partition, offset
            written.append(kind)
    return written, valid


# -------------------------------------------------------------------------------- the scenario


def test_nothing_an_agency_sends_stops_a_consumer(kafka_bootstrap, fresh_database_url, make_pipeline):
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    pipe.issue_tokens([*HTTP_AGENCIES, STATUS_AGENCY, LAX_AGENCY, ACT_AGENCY])
    ready = ReadyPoller(pipe).start()
    work = Workload(PLAN, seed=14)
    tag = work.tag
    log = EventLog()
    extra: list[dict] = []  # valid events accepted outside the Load: raw, canonical, batch, NFC
    checks: list[Check] = []

    # -- before: valid traffic on every door
    Load(pipe, log, work.stream(HTTP_AGENCIES, 8), rate=10).start().join()
    before_raw = [work.reported(RAW_AGENCY), work.reported(RAW_AGENCY)]
    before_canon = [work.reported(CANON_AGENCY), work.reported(CANON_AGENCY)]
    asyncio.run(_produce(pipe, pipe.topics["raw"], [record_of(e) for e in before_raw]))
    asyncio.run(_produce(pipe, pipe.topics["events"], [record_of(e) for e in before_canon]))
    extra += before_raw + before_canon
    raw_valid = list(before_raw)

    # -- between: hostile inputs while valid traffic goes on
    between = Load(pipe, log, work.stream(HTTP_AGENCIES, 12), rate=6).start()
    answers = [(case["name"], *send_http(pipe, case)) for case in http_inputs(work, tag)]
    lax = nfc_nfd(pipe, work, tag, extra)
    batch = batch_with_a_nul_id(pipe, work, tag, extra)
    hostile: list[Hostile] = []
    written, valid = write_interleaved(
        pipe, pipe.topics["raw"], "intake", raw_inputs(work, tag), lambda: work.reported(RAW_AGENCY)
    )
    hostile += written
    extra += valid
    raw_valid += valid
    written, valid = write_interleaved(
        pipe,
        pipe.topics["events"],
        "aggregator",
        canonical_inputs(work, tag),
        lambda: work.reported(CANON_AGENCY),
    )
    hostile += written
    extra += valid
    statuses = status_inputs(tag)
    placed = asyncio.run(_produce(pipe, pipe.topics["status"], [(k, v, h) for _, k, v, h in statuses]))
    hostile += [
        Hostile(label, pipe.topics["status"], p, o, "notifier")
        for (label, *_), (p, o) in zip(statuses, placed)
    ]
    between.join()

    # -- after: more valid traffic, and the first of STATUS_AGENCY (its status events follow the NaN one)
    after = work.stream([*HTTP_AGENCIES, STATUS_AGENCY], 8)
    after_raw, after_canon = [work.reported(RAW_AGENCY)], [work.reported(CANON_AGENCY)]
    Load(pipe, log, after, rate=10).start().join()
    asyncio.run(_produce(pipe, pipe.topics["raw"], [record_of(e) for e in after_raw]))
    asyncio.run(_produce(pipe, pipe.topics["events"], [record_of(e) for e in after_canon]))
    extra += after_raw + after_canon
    raw_valid += after_raw

    # -- checks
    wrong = [f"{name}: {code} {body}" for name, code, body in answers if not 400 <= code < 500]
    checks.append(
        Check(
            "http-4xx",
            not wrong and batch[0],
            f"{len(answers) - len(wrong)}/{len(answers)} hostile HTTP inputs answered 4xx"
            + (f"; NOT: {' | '.join(wrong)}" if wrong else "")
            + f"; batch with a NUL id: {batch[1]}",
        )
    )
    checks.append(Check("http-lax", lax[0], lax[1]))
    converged, why = True, ""
    try:
        converge("hostile", pipe, log, extra_accepted=extra, started=started, timeout=75)
    except AssertionError as exc:
        converged, why = False, str(exc).splitlines()[0][:600]
    checks.append(Check("oracle", converged, "every valid event counted exactly once" if converged else why))
    dlq, dead = dlq_check(pipe, hostile)
    checks.append(dlq)
    owed = work_done(pipe, raw_valid, dead)
    alive = {name: pipe.alive(name) for name in ("intake", "aggregator", "notifier")}
    with httpx.Client(timeout=5) as client:
        final = {name: _ready(client, pipe, name) for name in alive}
    ready.stop()
    dead = [n for n, up in alive.items() if not up]
    not_ready = {n: a for n, a in final.items() if a != "200"}
    checks.append(
        Check("alive", not dead and not not_ready, f"processes alive: {alive}; /readyz at the end: {final}")
    )
    flaps = [f"{t:.0f}s {n}: {a}" for t, n, a in ready.bad]
    checks.append(
        Check(
            "readyz-steady",
            not flaps,
            f"{ready.polls} polls of /readyz during the run, {len(flaps)} not 200"
            + (f" (e.g. {'; '.join(flaps[:3])})" if flaps else ""),
        )
    )
    # honest: 200 at the end exactly for the services that did all their work
    liars = [
        f"{n} says {final[n][:80]!r} while it {'still owes: ' + owed[n] if owed[n] else 'did all its work'}"
        for n in final
        if (final[n] == "200") != (not owed[n])
    ]
    checks.append(
        Check(
            "readyz-honest",
            not liars,
            "; ".join(liars)
            if liars
            else "at the end: "
            + ", ".join(
                f"{n} {'200, all done' if not owed[n] else 'not ready, owes: ' + owed[n]}" for n in final
            ),
        )
    )

    lines = [f"[hostile] {'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks]
    lines.append(
        f"[hostile] {sum(c.ok for c in checks)}/{len(checks)} checks passed in "
        f"{time.monotonic() - started:.0f}s"
    )
    for line in lines:
        print(line)
        verdicts.VERDICTS.append(line)
    failed = [line for line, c in zip(lines, checks) if not c.ok]
    assert not failed, "\n".join(failed)


def nfc_nfd(pipe: Pipeline, work: Workload, tag: str, extra: list[dict]) -> tuple[bool, str]:
    """The NFC and NFD spellings of one Vietnamese id are one event, whichever comes first: one is
    accepted (under the NFC id), the other is a duplicate or refused; never two events."""
    notes, ok = [], True
    for first in ("NFC", "NFD"):
        event = work.activity(ACT_AGENCY)
        nfc = unicodedata.normalize("NFC", f"{tag}-tuyên-truyền-{first.lower()}")
        spellings = {"NFC": nfc, "NFD": unicodedata.normalize("NFD", nfc)}
        assert spellings["NFC"] != spellings["NFD"]
        order = [first, "NFD" if first == "NFC" else "NFC"]
        codes = [post_event(pipe, ACT_AGENCY, {**event, "id": spellings[form]})[0] for form in order]
        accepted = codes.count(202)
        second_ok = codes[1] == 200 or 400 <= codes[1] < 500
        if accepted == 1:
            extra.append({**event, "id": nfc})  # counted once, under the NFC spelling
        good = accepted == 1 and second_ok and not any(c >= 500 for c in codes)
        ok &= good
        notes.append(
            f"{first} then {order[1]}: {codes[0]}, {codes[1]}" + ("" if good else " (two events or a 5xx)")
        )
    return ok, "NFC/NFD spellings of one id: " + "; ".join(notes)


def batch_with_a_nul_id(pipe: Pipeline, work: Workload, tag: str, extra: list[dict]) -> tuple[bool, str]:
    """A NUL in one event's id refuses that event, not the batch (it was a 503 for all)."""
    agency = "HQ"
    good = [work.reported(agency), work.reported(agency)]
    bad = {**work.reported(agency), "id": f"{tag}-batch-nul\x00id"}
    response = httpx.post(
        pipe.url("intake") + "/v1/events/batch",
        content=json.dumps([good[0], bad, good[1]]).encode(),
        headers={"Authorization": f"Bearer {pipe.tokens[agency]}", "Content-Type": BATCH},
        timeout=30,
    )
    if response.status_code != 200:
        return False, f"answered {response.status_code} {response.text[:150]}"
    statuses = [r.get("status") for r in response.json().get("results", [])]
    extra += [e for e, s in zip((good[0], None, good[1]), statuses) if e is not None and s == "accepted"]
    ok = statuses == ["accepted", "rejected", "accepted"]
    return ok, f"200 with results {statuses}" + ("" if ok else " (expected accepted, rejected, accepted)")


def dlq_check(pipe: Pipeline, hostile: list[Hostile], wait: float = 45) -> tuple[Check, set[str]]:
    """Every hostile record dead-lettered once, with a reason code, by the service that met it;
    nothing else on the DLQ (the valid records behind them went through)."""
    deadline = time.monotonic() + wait
    while True:
        letters = {}
        for record in read_topic(pipe.kafka_bootstrap, pipe.topics["dlq"]):
            info = read_dead_letter(record.headers)
            letters.setdefault(info.origin, []).append(info)
        missing = [h for h in hostile if h.origin not in letters]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    problems = [f"{h.service}/{h.label} ({h.origin}) not on the DLQ" for h in missing]
    for h in hostile:
        for info in letters.get(h.origin, [])[:1]:
            if not CODE.fullmatch(info.reason):
                problems.append(f"{h.service}/{h.label}: reason {info.reason[:60]!r} is not a code")
            if info.service != h.service:
                problems.append(f"{h.service}/{h.label}: dead-lettered by {info.service or '?'!r}")
        if len(letters.get(h.origin, [])) > 1:
            problems.append(f"{h.service}/{h.label}: {len(letters[h.origin])} letters")
    expected = {h.origin for h in hostile}
    others = [f"{o or '(no origin)'}: {i[0].reason[:60]}" for o, i in letters.items() if o not in expected]
    if others:
        problems.append(f"{len(others)} other letters, e.g. {others[:3]}")
    found = len(hostile) - len(missing)
    reasons = sorted({i.reason for h in hostile for i in letters.get(h.origin, [])[:1]})
    return Check(
        "dlq",
        not problems,
        f"{found}/{len(hostile)} hostile Kafka records dead-lettered (reasons {reasons})"
        + (f"; NOT: {' | '.join(problems)}" if problems else ""),
    ), set(letters)


def work_done(pipe: Pipeline, raw_valid: list[dict], dead: set[str]) -> dict[str, str]:
    """What each service's consumer still owes at the end ("" if nothing), seen from outside:
    intake has forwarded every valid raw record (those behind the hostile ones too); the
    aggregator has applied or dead-lettered every canonical record; the notifier fires an
    alert per lagging KPI (the agency whose status events follow the NaN one among them). A
    stalled or dead consumer owes something; where the hostile records went is the dlq check."""
    owed: dict[str, list[str]] = {name: [] for name in ("intake", "aggregator", "notifier")}
    forwarded, handled = set(), set()
    for r in read_topic(pipe.kafka_bootstrap, pipe.topics["events"]):
        named = {n: (v or b"").decode("utf-8", "replace") for n, v in r.headers}
        key = (named.get("ce_source"), named.get("ce_id"))
        forwarded.add(key)
        if f"{r.topic}/{r.partition}/{r.offset}" in dead:
            handled.add(key)  # whether it should have been is the dlq check's
    unforwarded = [e["id"] for e in raw_valid if (e["source"], e["id"]) not in forwarded]
    if unforwarded:
        owed["intake"].append(f"{len(unforwarded)} valid raw records never forwarded, e.g. {unforwarded[:2]}")
    applied = pipe.applied() | handled
    unapplied = [key for key in forwarded if key not in applied]
    if unapplied:
        owed["aggregator"].append(
            f"{len(unapplied)} canonical records never applied, e.g. {sorted(unapplied)[:2]}"
        )
    try:
        lagging = expected_lagging(pipe.kpis())
        firing = {
            (a["agency"], a["indicator"], a["period"]) for a in pipe.firing_alerts() if a["kind"] == "lagging"
        }
        if firing != lagging:
            owed["notifier"].append(
                f"alerts differ from the lagging KPIs ({len(lagging - firing)} missing, "
                f"{len(firing - lagging)} unexpected)"
            )
    except httpx.HTTPError as exc:
        owed["notifier"].append(f"cannot compare alerts: {exc}")
    return {name: "; ".join(items) for name, items in owed.items()}
