"""The system fault suite (issue #7), infrastructure faults: the whole pipeline as separate processes on real Kafka,
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
import time

import pytest

from shared.infra import create_database
from tests.system.driving import MIXED, PLAN, Load, converge
from tests.system.oracle import EventLog, Workload
from tests.system.pipeline import wait_until

pytestmark = [pytest.mark.infra, pytest.mark.timeout(280)]


@pytest.mark.slow
def test_kafka_broker_killed_and_restarted_while_agencies_post(own_kafka, fresh_database_url, make_pipeline):
    """1. SIGKILL the broker mid-stream and bring it back: every 202 ends up in the projections,
    503s were retried by the client and counted once."""
    started = time.monotonic()
    pipe = make_pipeline(own_kafka.bootstrap, fresh_database_url)
    pipe.issue_tokens(MIXED)
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
    pipe.issue_tokens(MIXED)
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
    pipe.issue_tokens(MIXED)
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
    pipe.issue_tokens(MIXED)
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
