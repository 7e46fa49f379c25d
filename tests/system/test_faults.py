"""The system fault suite (issue #7): the whole pipeline as separate processes on real Kafka,
PostgreSQL and SMTP, with faults injected while agencies keep posting.

After each scenario the system must converge to the oracle (`oracle.py`), recomputed from the
events intake answered 202/duplicate for: every projection figure as the contract says, the
aggregator's inbox holding exactly the accepted events (nothing lost, nothing counted twice),
a firing `lagging` alert for every lagging KPI, and every queued email in the mailbox once
(twice at most where a crash may fall between send and mark). Each scenario prints a one-line
verdict (also repeated in the terminal summary) and is bounded in time.

Scenarios that kill Kafka or PostgreSQL use servers of their own, never the session's. Those two
and the latency scenario are marked `slow` (several minutes together): `make test-system`.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
import time
from collections import Counter

import pytest

from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from shared.infra import KafkaServer, PostgresServer, create_database
from shared.plan.loader import load_plan
from shared.settings import DEFAULT_PLAN

from bench.common import CommitWatcher, Sender, percentile
from tests.system import conftest as verdicts
from tests.system.oracle import EventLog, Sent, Workload, compare, expected_actuals, expected_lagging, malformed
from tests.system.pipeline import Pipeline, wait_until

pytestmark = [pytest.mark.infra, pytest.mark.timeout(280)]
PLAN = load_plan(DEFAULT_PLAN)
LATENCY_GOAL_S = 1.0  # end-to-end p99, accepted → projection committed


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    """A broker of the fault suite's own: killing it never touches the session's."""
    server = KafkaServer(tmp_path_factory.mktemp("own-kafka"))
    server.start()
    yield server
    server.kill()
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("own-postgres"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture
def make_pipeline(tmp_path):
    started: list[Pipeline] = []

    def make(kafka_bootstrap: str, database_url: str, env: dict[str, str] | None = None) -> Pipeline:
        pipe = Pipeline(tmp_path / f"stack-{len(started)}", kafka_bootstrap, database_url, env)
        started.append(pipe)
        return pipe.up()

    yield make
    for pipe in started:
        pipe.down()


# ------------------------------------------------------------------------------------ driving


class Load:
    """Agencies posting in a background thread: each agency sends its events in order at
    `rate` events/s (single events, or batches of `batch` for the agencies in `batched`),
    retrying what intake asks to be retried."""

    def __init__(self, pipe: Pipeline, log: EventLog, streams: dict[str, list], rate: float,
                 *, batched: dict[str, int] | None = None, rates: dict[str, float] | None = None) -> None:
        self.pipe, self.log, self.streams, self.rate = pipe, log, streams, rate
        self.batched, self.rates = batched or {}, rates or {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="agency-load")
        self.watcher: CommitWatcher | None = None
        self.watch = lambda sent: True  # which accepted events the watcher follows

    def start(self) -> Load:
        self.thread.start()
        return self

    def join(self, timeout: float = 200) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agencies' load did not finish in time"
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in join()
            self.error = exc

    async def _main(self) -> None:
        sender = Sender(self.pipe.url("intake"), self.pipe.tokens)
        try:
            await asyncio.gather(*(self._agency(sender, a, events) for a, events in self.streams.items()))
        finally:
            await sender.close()

    async def _agency(self, sender: Sender, agency: str, events: list) -> None:
        size = self.batched.get(agency, 1)
        rate = self.rates.get(agency, self.rate)
        t0 = time.monotonic()
        for i in range(0, len(events), size):
            chunk = events[i:i + size]
            at = t0 + i / rate
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            sent = [self.log.add(Sent(e, agency, scheduled_at=at)) for e in chunk]
            if size == 1:
                answers = [await sender.one(agency, chunk[0])]
            else:
                answers = await sender.batch(agency, chunk)
            done = time.monotonic()
            for s, a in zip(sent, answers):
                s.status, s.http, s.retried, s.attempts = a.status, a.http, a.retried, len(a.http)
                s.detail = a.detail
                if a.status in ("accepted", "duplicate"):
                    s.accepted_at = done
                    if self.watcher is not None and self.watch(s):
                        self.watcher.expect(s.event["source"], s.event["id"], done)


def converge(name: str, pipe: Pipeline, log: EventLog, *, extra_accepted: list[dict] = (), max_copies: int = 1,
             expect_emails: bool = True, timeout: float = 90, started: float, dlq_expected: int | None = None) -> str:
    """Wait for the system to converge to the oracle, assert it, return the verdict line."""
    lost = [s for s in log.sent if s.status == "lost"]
    assert not lost, f"{len(lost)} events never got a final answer from intake, e.g. {lost[0]}"
    accepted = log.accepted() + list(extra_accepted)
    keys = {(e["source"], e["id"]) for e in accepted}
    expected = expected_actuals(PLAN, accepted)

    def projections_match():
        applied = pipe.applied()
        problems = compare(expected, pipe.kpis())
        missing, extra = keys - applied, applied - keys
        if missing:
            problems.append(f"{len(missing)} accepted events not applied, e.g. {sorted(missing)[:3]}")
        if extra:
            problems.append(f"{len(extra)} applied events intake never accepted, e.g. {sorted(extra)[:3]}")
        return problems or True

    phases = {"up": pipe.up_seconds, "load": time.monotonic() - started - pipe.up_seconds}
    mark = time.monotonic()
    wait_until("the projections to converge to the oracle", projections_match, timeout)
    phases["projections"], mark = time.monotonic() - mark, time.monotonic()
    applied = len(pipe.applied())
    kpis = pipe.kpis()
    lagging = expected_lagging(kpis)

    first_gap: list[str] = []

    def alerts_match():
        firing = {(a["agency"], a["indicator"], a["period"]) for a in pipe.firing_alerts() if a["kind"] == "lagging"}
        if firing == lagging:
            return True
        gap = (f"{len(lagging - firing)} missing e.g. {sorted(lagging - firing)[:3]}, "
               f"{len(firing - lagging)} unexpected e.g. {sorted(firing - lagging)[:3]}")
        if not first_gap:
            first_gap.append(gap)
        return gap

    wait_until("a firing lagging alert per lagging KPI", alerts_match, timeout)
    phases["alerts"], mark = time.monotonic() - mark, time.monotonic()
    mails = 0
    if expect_emails:
        assert lagging, "the scenario produced no lagging KPI, so it proves nothing about emails"

        def emails_delivered():
            rows = pipe.outbox()
            pending = [r for r in rows if r["status"] != "sent"]
            if not rows or pending:
                return f"{len(pending)} of {len(rows)} outbox rows not sent"
            copies = Counter(str(m["Message-ID"]) for m in pipe.mailbox())
            missing = [r["message_id"] for r in rows if copies.get(r["message_id"], 0) == 0]
            return f"{len(missing)} sent emails not in the mailbox" if missing else True

        wait_until("every queued email in the mailbox", emails_delivered, timeout)
        time.sleep(1.0)  # a late duplicate would show now
        sent = {r["message_id"] for r in pipe.outbox() if r["status"] == "sent"}
        copies = Counter(str(m["Message-ID"]) for m in pipe.mailbox())
        queued = {r["message_id"] for r in pipe.outbox()}  # new digests may be queued meanwhile
        assert set(copies) <= queued, f"emails in the mailbox that were never queued: {set(copies) - queued}"
        assert sent <= set(copies), f"emails marked sent but not in the mailbox: {sent - set(copies)}"
        worst = max(copies.values())
        assert worst <= max_copies, f"an email arrived {worst} times (at most {max_copies} allowed here)"
        mails = sum(copies.values())
    phases["emails"] = time.monotonic() - mark
    dlq = pipe.dlq_count()
    if dlq_expected is not None:
        wait_until(f"{dlq_expected} dead letters", lambda: pipe.dlq_count() == dlq_expected or f"{pipe.dlq_count()} so far", 30)
        dlq = pipe.dlq_count()
        assert dlq == dlq_expected, f"{dlq} records on the DLQ, expected {dlq_expected}"
    line = (f"[{name}] CONVERGED in {time.monotonic() - started:.0f}s: accepted={len(keys)} applied={applied} "
            f"duplicates={log.count('duplicate')} retried={log.retries} (503={log.codes(503)}, "
            f"conn-errors={log.codes(0)}) rejected={log.count('rejected')} refused={log.count('refused')} "
            f"DLQ={dlq} emails={mails} lagging-alerts={len(lagging)} kills={dict(pipe.kills)} "
            f"[{' '.join(f'{k}={v:.0f}s' for k, v in phases.items())}]")
    print(line)
    verdicts.VERDICTS.append(line)
    if first_gap:
        print(f"[{name}] alerts lagged the projections at first: {first_gap[0]}")
        verdicts.VERDICTS.append(f"[{name}] (alerts lagged the projections at first: {first_gap[0]})")
    return line


def agencies_with_tokens(pipe: Pipeline, agencies: list[str]) -> None:
    pipe.issue_tokens(agencies)


MIXED = ["CA-TINH", "CA-DONG-HA", "CA-HUONG-HOA", "HQ", "SYT", "BDBP", "STTTT", "LDLD"]


# ------------------------------------------------------------------------------------ scenarios


@pytest.mark.slow
def test_kafka_broker_killed_and_restarted_while_agencies_post(own_kafka, fresh_database_url, make_pipeline):
    """1. SIGKILL the broker mid-stream and bring it back: every 202 ends up in the projections,
    503s were retried by the client and counted once."""
    started = time.monotonic()
    pipe = make_pipeline(own_kafka.bootstrap, fresh_database_url)
    agencies_with_tokens(pipe, MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=1).stream(MIXED, 50), rate=4).start()
    time.sleep(3)
    own_kafka.kill()
    time.sleep(5)
    own_kafka.start()
    load.join()
    assert log.codes(503) > 0, "no request was answered 503 while the broker was down: the fault did not bite"
    converge("kafka-killed", pipe, log, started=started)


@pytest.mark.slow
def test_postgresql_restarted_under_load(kafka_bootstrap, own_postgres, make_pipeline):
    """2. PostgreSQL restarted (fast shutdown, start) while agencies post."""
    started = time.monotonic()
    database_url = asyncio.run(create_database(own_postgres.url, "faults"))
    pipe = make_pipeline(kafka_bootstrap, database_url)
    agencies_with_tokens(pipe, MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=2).stream(MIXED, 50), rate=4).start()
    time.sleep(3)
    old = own_postgres.pid
    own_postgres.stop()
    time.sleep(3)
    own_postgres.start()
    assert own_postgres.pid != old
    load.join()
    # Known bug (see test_correction_of_an_event_accepted_while_the_registry_write_failed): a
    # correction of an event accepted during the outage may be refused; nothing else may be.
    odd = [s for s in log.sent if s.status == "rejected" and "correction-target-unknown" not in s.detail]
    assert not odd, [(s.event, s.detail) for s in odd][:3]
    converge("postgres-restarted", pipe, log, started=started)


def test_aggregator_and_notifier_killed_at_random_moments(kafka_bootstrap, fresh_database_url, make_pipeline):
    """3. SIGKILL the aggregator and the notifier at random moments, three times each, under load."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    agencies_with_tokens(pipe, MIXED)
    log = EventLog()
    load = Load(pipe, log, Workload(PLAN, seed=3).stream(MIXED, 60), rate=4).start()
    rng = random.Random(3)
    for _ in range(3):
        for name in ("aggregator", "notifier"):
            time.sleep(rng.uniform(0.5, 2.5))
            pipe.kill(name)
            pipe.start(name, wait_ready=False)
    load.join()
    for name in ("aggregator", "notifier"):
        pipe.wait_ready(name)
    assert pipe.kills == {"aggregator": 3, "notifier": 3}
    converge("services-killed", pipe, log, max_copies=2, started=started)


def test_smtp_down_for_a_while(kafka_bootstrap, fresh_database_url, make_pipeline):
    """4. The SMTP server is down while alerts are raised: the emails arrive afterwards, once each."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    agencies_with_tokens(pipe, MIXED)
    pipe.kill("smtp")
    log = EventLog()
    Load(pipe, log, Workload(PLAN, seed=4).stream(MIXED, 15), rate=10).start().join()
    wait_until("emails queued while SMTP is down", lambda: len(pipe.outbox()) > 0, 60)
    time.sleep(4)  # several send attempts fail meanwhile
    rows = pipe.outbox()
    assert not list(pipe.paths.mailbox.glob("*.eml")), "an email was delivered while SMTP was down"
    assert all(r["status"] != "sent" for r in rows), rows
    assert any(r["attempts"] > 0 for r in rows), "the notifier never tried to send while SMTP was down"
    pipe.start("smtp")
    converge("smtp-down", pipe, log, max_copies=1, started=started)


def test_flood_of_duplicate_out_of_order_and_malformed_events(kafka_bootstrap, fresh_database_url, make_pipeline):
    """5. Duplicates (single and in batches), out-of-order event times, and malformed events mixed
    with good ones, over HTTP and over the raw Kafka topic."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    agencies_with_tokens(pipe, MIXED)
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
    batched = {a: 25 for a in MIXED[::2]}
    log = EventLog()
    load = Load(pipe, log, streams, rate=40, batched=batched).start()
    # The Kafka door: binary-mode records on the raw topic, good and malformed ones.
    raw_good = [work.mixed(a) for a in ("CA-TINH", "BDBP") for _ in range(10)]
    raw_good = [e for e in raw_good if e["type"] != "vn.gov.pcmt.indicator.corrected.v1"]
    records = []
    for event in raw_good:
        record = to_kafka(agency_event_adapter.validate_python(event))
        records.append((record.key, record.value, list(record.headers)))
    raw_bad = [(b"CA-TINH", b"{not json", [("ce_specversion", b"1.0"), ("ce_id", b"raw-bad-1")]),
               (b"CA-TINH", b'{"indicator":"drug_cases_detected","period":"2024","value":3}',
                [("ce_specversion", b"1.0"), ("ce_id", f"{work.tag}-raw-bad-2".encode()),
                 ("ce_source", b"/agencies/CA-TINH"), ("ce_type", b"vn.gov.pcmt.indicator.reported.v1")]),  # no time
               (b"HQ", b'{"indicator":"drug_cases_detected","period":"2024","value":3}',
                [("ce_specversion", b"1.0"), ("ce_id", f"{work.tag}-raw-bad-3".encode()),
                 ("ce_source", b"/agencies/NO-SUCH"), ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
                 ("ce_time", b"2024-05-01T08:00:00+07:00")])]
    mixed_records = records + raw_bad
    rng.shuffle(mixed_records)
    pipe.produce_raw(mixed_records)
    load.join()
    bad_sent = [s for s in log.sent if "-bad-" in str(s.event.get("id"))]
    assert len(bad_sent) == bad and all(s.status in ("rejected", "refused") for s in bad_sent), \
        [(s.event, s.status) for s in bad_sent if s.status not in ("rejected", "refused")][:3]
    # Shuffled, a correction may come before the event it corrects: intake refuses it (by design).
    odd = [s for s in log.sent if s.status == "rejected" and s not in bad_sent
           and "correction-target-unknown" not in s.detail]
    assert not odd, [(s.event, s.detail) for s in odd][:3]
    once = Counter(s.event["id"] for s in log.sent if s.status == "accepted")
    assert max(once.values()) == 1, "an event was accepted twice by intake"
    assert log.count("duplicate") >= 10 * len(MIXED), "the resent events were not answered as duplicates"
    converge("flood", pipe, log, extra_accepted=raw_good, dlq_expected=len(raw_bad), started=started)


def test_token_revoked_mid_stream(kafka_bootstrap, fresh_database_url, make_pipeline):
    """6. One agency's token revoked mid-stream: its later events refused, its earlier ones kept."""
    started = time.monotonic()
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url, {"INTAKE_TOKEN_CACHE_TTL_S": "3"})
    agencies_with_tokens(pipe, MIXED)
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
    assert {s.agency for s in refused} == {victim} and len(refused) == len(later[victim]), \
        f"{len(refused)} refused ({ {s.agency for s in refused} }), expected the {len(later[victim])} later events of {victim}"
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
    agencies_with_tokens(pipe, [hot, *cold])
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
        except BaseException as exc:  # noqa: BLE001
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
    summary = (f"[hot-agency] others' accepted→committed p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms "
               f"(n={len(latencies)}); hot agency p99={percentile(hot_latencies, 99) * 1000:.0f}ms "
               f"(n={len(hot_latencies)}); goal p99 ≤ {LATENCY_GOAL_S * 1000:.0f}ms")
    print(summary)
    verdicts.VERDICTS.append(summary)
    assert line
    assert p99 <= LATENCY_GOAL_S, summary


def test_an_event_intake_cannot_record_is_not_accepted_until_it_can(kafka_bootstrap, fresh_database_url,
                                                                      make_pipeline):
    """The registry write fails after Kafka took the event (a trigger stands in for PostgreSQL
    going away between intake's lookup and its record): intake must not answer 202 for an event
    it will not remember — a later correction of it would be refused. It answers 503; once the
    registry is back, the re-send is accepted, a further re-send is a duplicate, the correction
    is taken, and the copies already in Kafka are counted once."""
    pipe = make_pipeline(kafka_bootstrap, fresh_database_url)
    pipe.issue_tokens(["CA-TINH"])
    pipe.sql("CREATE FUNCTION intake.fail_registry() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN RAISE EXCEPTION 'registry unavailable (injected)'; END $$")
    pipe.sql("CREATE TRIGGER fail_registry BEFORE INSERT ON intake.accepted_events FOR EACH ROW "
             "WHEN (NEW.event_id LIKE '%-unrecorded') EXECUTE FUNCTION intake.fail_registry()")
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
    assert (accepted.status, again.status, correction.status) == ("accepted", "duplicate", "accepted"), \
        (accepted, again, correction)