"""The system fault suite (issue #7), faults in what agencies send: floods of duplicates,
out-of-order and malformed events, a revoked token, one agency hogging intake, and an event intake
cannot record. The whole pipeline runs as separate processes on real Kafka, PostgreSQL and SMTP;
each scenario converges to the oracle (`oracle.py`) and prints a one-line verdict.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

import pytest

from bench.common import CommitWatcher, Sender, percentile
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from tests.system import conftest as verdicts
from tests.system.driving import MIXED, PLAN, Load, converge
from tests.system.oracle import EventLog, Workload, malformed

pytestmark = [pytest.mark.infra, pytest.mark.timeout(280)]
LATENCY_GOAL_S = 1.0  # end-to-end p99, accepted → projection committed


def test_flood_of_duplicate_out_of_order_and_malformed_events(
    kafka_bootstrap, fresh_database_url, make_pipeline
):
    """5. Duplicates (single and in batches), out-of-order event times, and malformed events mixed
    with good ones, over HTTP and over the raw Kafka topic."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    pipe.issue_tokens(MIXED)
    rng = random.Random(5)
    work = Workload(PLAN, seed=5)
    streams = work.stream(MIXED, 40)
    bad = 0
    for agency, events in streams.items():
        rng.shuffle(events)  # out of order: the latest by event time must win, not the last to arrive
        flood = []
        for e in events:
            flood.append(e)
            if rng.random() < 0.4:
                flood.append(dict(e))  # the same event again, at once
            if rng.random() < 0.25:
                flood.append(malformed(agency, rng, work.tag))
                bad += 1
        flood += rng.sample(events, 10)  # and resent later
        streams[agency] = flood
    # Half the agencies send in batches of 25 (duplicates inside one batch, too).
    batched = dict.fromkeys(MIXED[::2], 25)
    log = EventLog()
    load = Load(pipe, log, streams, rate=40, batched=batched).start()
    # The Kafka door: binary-mode records on the raw topic, good and malformed ones.
    raw_good = [work.mixed(a) for a in ("CA-TINH", "BDBP") for _ in range(10)]
    raw_good = [e for e in raw_good if e["type"] != "vn.gov.pcmt.indicator.corrected.v1"]
    records = []
    for event in raw_good:
        record = to_kafka(agency_event_adapter.validate_python(event))
        records.append((record.key, record.value, list(record.headers)))
    raw_bad = [
        (b"CA-TINH", b"{not json", [("ce_specversion", b"1.0"), ("ce_id", b"raw-bad-1")]),
        (
            b"CA-TINH",
            b'{"indicator":"drug_cases_detected","period":"2024","value":3}',
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", f"{work.tag}-raw-bad-2".encode()),
                ("ce_source", b"/agencies/CA-TINH"),
                ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
            ],
        ),  # no time
        (
            b"HQ",
            b'{"indicator":"drug_cases_detected","period":"2024","value":3}',
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", f"{work.tag}-raw-bad-3".encode()),
                ("ce_source", b"/agencies/NO-SUCH"),
                ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
                ("ce_time", b"2024-05-01T08:00:00+07:00"),
            ],
        ),
    ]
    mixed_records = records + raw_bad
    rng.shuffle(mixed_records)
    pipe.produce_raw(mixed_records)
    load.join()
    bad_sent = [s for s in log.sent if "-bad-" in str(s.event.get("id"))]
    assert len(bad_sent) == bad and all(s.status in ("rejected", "refused") for s in bad_sent), [
        (s.event, s.status) for s in bad_sent if s.status not in ("rejected", "refused")
    ][:3]
    # Shuffled, a correction may come before the event it corrects: intake refuses it (by design).
    odd = [
        s
        for s in log.sent
        if s.status == "rejected" and s not in bad_sent and "correction-target-unknown" not in s.detail
    ]
    assert not odd, [(s.event, s.detail) for s in odd][:3]
    once = Counter(s.event["id"] for s in log.sent if s.status == "accepted")
    assert max(once.values()) == 1, "an event was accepted twice by intake"
    assert log.count("duplicate") >= 10 * len(MIXED), "the resent events were not answered as duplicates"
    converge("flood", pipe, log, extra_accepted=raw_good, dlq_expected=len(raw_bad), started=started)


def test_token_revoked_mid_stream(kafka_bootstrap, fresh_database_url, make_pipeline):
    """6. One agency's token revoked mid-stream: its later events refused, its earlier ones kept."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url, {"INTAKE_TOKEN_CACHE_TTL_S": "3"})
    pipe.issue_tokens(MIXED)
    victim = "CA-HUONG-HOA"
    work = Workload(PLAN, seed=6)
    log = EventLog()
    Load(pipe, log, work.stream(MIXED, 15), rate=20).start().join()
    earlier = [s for s in log.sent if s.agency == victim and s.status == "accepted"]
    assert earlier
    assert pipe.revoke(victim)
    time.sleep(3.5)  # the token cache's TTL
    later = work.stream(MIXED, 15)
    Load(pipe, log, later, rate=20).start().join()
    refused = [s for s in log.sent if s.status == "refused"]
    assert {s.agency for s in refused} == {victim} and len(refused) == len(later[victim]), (
        f"{len(refused)} refused ({ {s.agency for s in refused} }), expected the {len(later[victim])} later events of {victim}"
    )
    assert all(s.http[-1] == 401 for s in refused)
    converge("token-revoked", pipe, log, started=started)
    victim_ids = {s.event["id"] for s in earlier}
    recorded = {i for src, i in pipe.applied() if src == f"/agencies/{victim}"}
    assert recorded == victim_ids


@pytest.mark.slow
def test_hot_agency_does_not_delay_the_others(kafka_bootstrap, fresh_database_url, make_pipeline):
    """7. One agency posts 100x the others: the others' events still reach the projection within
    the latency goal (p99 accepted → projection committed ≤ 1 s)."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    hot, cold = "SGDDT", ["CA-TINH", "CA-DONG-HA", "CA-HUONG-HOA", "CA-DAKRONG", "HQ", "SYT"]
    pipe.issue_tokens([hot, *cold])
    work = Workload(PLAN, seed=7)
    seconds, cold_rate = 15, 2.0
    streams = {a: [work.mixed(a) for _ in range(int(seconds * cold_rate))] for a in cold}
    streams[hot] = [work.activity(hot) for _ in range(int(seconds * cold_rate * 100))]
    log = EventLog()
    load = Load(pipe, log, streams, rate=cold_rate, batched={hot: 20}, rates={hot: cold_rate * 100})
    watcher = CommitWatcher(pipe.database_url, interval=0.05)
    load.watcher = watcher
    # Follow every event of the others, one in 20 of the hot agency's (the watcher's own queries
    # must not load PostgreSQL more than the pipeline does).
    load.watch = lambda sent: sent.agency != hot or int(sent.event["id"].rsplit("-", 1)[1]) % 20 == 0
    result: dict = {}

    def watch():
        result["error"] = None
        try:
            asyncio.run(watcher.run())
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    load.start().join()
    watcher.stop(drain=60)
    thread.join(90)
    assert result.get("error") is None, result["error"]
    cold_sources = {f"/agencies/{a}" for a in cold}
    latencies = [v for (source, _), v in watcher.seen.items() if source in cold_sources]
    hot_latencies = [v for (source, _), v in watcher.seen.items() if source not in cold_sources]
    assert not watcher.pending, f"{len(watcher.pending)} accepted events never reached the projection"
    line = converge("hot-agency", pipe, log, started=started)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    summary = (
        f"[hot-agency] others' accepted→committed p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms "
        f"(n={len(latencies)}); hot agency p99={percentile(hot_latencies, 99) * 1000:.0f}ms "
        f"(n={len(hot_latencies)}); goal p99 ≤ {LATENCY_GOAL_S * 1000:.0f}ms"
    )
    print(summary)
    verdicts.VERDICTS.append(summary)
    assert line
    assert p99 <= LATENCY_GOAL_S, summary


def test_an_event_intake_cannot_record_is_not_accepted_until_it_can(
    kafka_bootstrap, fresh_database_url, make_pipeline
):
    """The registry write fails after Kafka took the event (a trigger stands in for PostgreSQL
    going away between intake's lookup and its record): intake must not answer 202 for an event
    it will not remember — a later correction of it would be refused. It answers 503; once the
    registry is back, the re-send is accepted, a further re-send is a duplicate, the correction
    is taken, and the copies already in Kafka are counted once."""
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    pipe.issue_tokens(["CA-TINH"])
    pipe.sql(
        "CREATE FUNCTION intake.fail_registry() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'registry unavailable (injected)'; END $$"
    )
    pipe.sql(
        "CREATE TRIGGER fail_registry BEFORE INSERT ON intake.accepted_events FOR EACH ROW "
        "WHEN (NEW.event_id LIKE '%-unrecorded') EXECUTE FUNCTION intake.fail_registry()"
    )
    work = Workload(PLAN, seed=8)
    event = work.reported("CA-TINH", value=12.0)
    event["id"] += "-unrecorded"
    fix = {**work.corrected("CA-TINH"), "data": {"corrects": event["id"], "value": 14.0, "reason": "rà soát"}}

    async def while_failing():
        sender = Sender(pipe.url("intake"), pipe.tokens, give_up_after=4.0)
        try:
            return await sender.one("CA-TINH", event)
        finally:
            await sender.close()

    async def once_back():
        sender = Sender(pipe.url("intake"), pipe.tokens)
        try:
            return [await sender.one("CA-TINH", e) for e in (dict(event), dict(event), fix)]
        finally:
            await sender.close()

    refused = asyncio.run(while_failing())
    assert refused.status == "lost" and set(refused.http) == {503}, refused
    pipe.sql("DROP TRIGGER fail_registry ON intake.accepted_events")
    accepted, again, correction = asyncio.run(once_back())
    assert (accepted.status, again.status, correction.status) == ("accepted", "duplicate", "accepted"), (
        accepted,
        again,
        correction,
    )
