"""`tiendo dlq list | show | replay` against a real broker: letters made by the one builder
(shared.deadletter) on a topic of the test's own, the CLI run in-process."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from shared.deadletter import dead_letter
from shared.dlq_cli import REPLAY_HEADER, app
from shared.kafka import DAY_MS, TopicSpec, client_security, ensure_topics, make_producer
from tests.topics import read_topic

pytestmark = pytest.mark.infra

NOW = datetime(2024, 6, 20, 1, 2, 3, tzinfo=UTC)
RAW_VALUE = b'{"indicator":"drug_cases_detected","period":"2024","value":-5}'


def _event_headers(event_id: bytes, agency: str = "CA-TINH") -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id),
        ("ce_source", f"/agencies/{agency}".encode()),
        ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
        ("ce_time", b"2024-05-01T08:00:00+07:00"),
    ]


@pytest.fixture(scope="module")
def topics(kafka_bootstrap):
    tag = uuid.uuid4().hex[:8]
    names = {"dlq": f"dlqcli-dlq-{tag}", "raw": f"dlqcli-raw-{tag}"}
    asyncio.run(
        ensure_topics(
            kafka_bootstrap, [TopicSpec(names["dlq"], 3, DAY_MS), TopicSpec(names["raw"], 2, DAY_MS)]
        )
    )
    letters = [
        # partition 0: an intake rejection with errors, then a legacy letter (free-text reason only)
        (
            0,
            dead_letter(
                b"CA-TINH",
                RAW_VALUE,
                _event_headers(b"evt-negative"),
                origin=f"{names['raw']}/1/7",
                service="intake",
                reason="invalid-event",
                detail="data.value must be >= 0",
                errors=[{"pointer": "/data/value", "detail": "must be >= 0"}],
                now=NOW,
            ),
        ),
        (0, _legacy()),
        # partition 1: poison with a NUL in its id and a header that is not UTF-8
        (
            1,
            dead_letter(
                b"HQ",
                b"\xff\xfe{",
                [*_event_headers(b"evt\x00nul", "HQ"), ("x-bin", b"\xff\x00\x01")],
                origin="progress.events.v1/4/99",
                service="aggregator",
                reason="undecodable",
                detail="ce_id holds a NUL byte",
                attempts=3,
                now=NOW,
            ),
        ),
        # partition 2: a record that was not a CloudEvent at all (no ce_* headers)
        (
            2,
            dead_letter(
                b"SYT",
                b"{not json",
                [],
                origin=f"{names['raw']}/0/3",
                service="intake",
                reason="not-a-cloudevent",
                detail="missing Kafka header ce_specversion",
                now=NOW,
            ),
        ),
    ]

    async def put():
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        try:
            for partition, letter in letters:
                await producer.send_and_wait(
                    names["dlq"], letter.value, key=letter.key, headers=letter.headers, partition=partition
                )
        finally:
            await producer.stop()

    asyncio.run(put())
    return names


def _legacy():
    from shared.events.codec import KafkaRecord

    return KafkaRecord(
        key=b"CA-DAKRONG",
        value=b'{"value": 1}',
        headers=[
            *_event_headers(b"evt-old", "CA-DAKRONG"),
            ("dlq_reason", b"plan has no indicator 'x' for CA-DAKRONG"),
        ],
    )


def cli(kafka_bootstrap, topics, *args, input=None):
    result = CliRunner().invoke(
        app, [*args, "--bootstrap", kafka_bootstrap, "--topic", topics["dlq"]], input=input
    )
    return result


def _refused(result, *words):
    """A clear one-line error, a non-zero exit, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_list_shows_every_letter_with_its_reason_and_filters(kafka_bootstrap, topics):
    result = cli(kafka_bootstrap, topics, "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["LETTER", "TIME", "(UTC)", "SERVICE"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert set(rows) == {"0:0", "0:1", "1:0", "2:0"}
    assert "intake" in rows["0:0"] and "invalid-event" in rows["0:0"] and "CA-TINH" in rows["0:0"]
    assert "evt-negative" in rows["0:0"] and "indicator.reported.v1" in rows["0:0"]
    assert f"{topics['raw']}/1/7" in rows["0:0"] and "data.value must be >= 0" in rows["0:0"]
    assert "2024-06-20 01:02:03" in rows["0:0"]
    # NUL shown escaped, never raw on a terminal
    assert "evt\\u0000nul" in rows["1:0"] and "\x00" not in result.output
    assert "aggregator" in rows["1:0"] and "undecodable" in rows["1:0"] and "HQ" in rows["1:0"]
    # a letter from before the format: a free-text reason reads as its detail
    assert (
        "unclassified" in rows["0:1"]
        and "plan has no indicator 'x'" in rows["0:1"]
        and "CA-DAKRONG" in rows["0:1"]
    )
    assert "4 dead letter(s) shown" in result.output

    only = cli(kafka_bootstrap, topics, "list", "--reason", "undecodable", "--reason", "not-a-cloudevent")
    assert only.exit_code == 0 and {line.split()[0] for line in only.output.splitlines()[1:3]} == {
        "1:0",
        "2:0",
    }
    assert "2 dead letter(s) shown" in only.output
    agency = cli(kafka_bootstrap, topics, "list", "--agency", "CA-TINH", "--json")
    docs = [json.loads(line) for line in agency.output.splitlines()]
    assert [d["id"] for d in docs] == ["0:0"]
    assert docs[0] | {"time": None} == {
        "id": "0:0",
        "partition": 0,
        "offset": 0,
        "time": None,
        "service": "intake",
        "reason": "invalid-event",
        "agency": "CA-TINH",
        "event_id": "evt-negative",
        "event_type": "vn.gov.pcmt.indicator.reported.v1",
        "origin": f"{topics['raw']}/1/7",
        "attempts": 1,
        "detail": "data.value must be >= 0",
    }
    assert docs[0]["time"] == "2024-06-20T01:02:03.000Z"
    nul = [
        json.loads(line)
        for line in cli(
            kafka_bootstrap, topics, "list", "--json", "--service", "aggregator"
        ).output.splitlines()
    ]
    assert [d["event_id"] for d in nul] == ["evt\x00nul"] and nul[0]["attempts"] == 3
    last = cli(kafka_bootstrap, topics, "list", "--limit", "1")
    assert "1 dead letter(s) shown, 3 older ones matching not shown" in last.output
    future = cli(kafka_bootstrap, topics, "list", "--since", "2999-01-01T00:00:00Z")
    assert future.exit_code == 0 and "no dead letters" in future.output
    recent = cli(kafka_bootstrap, topics, "list", "--since", "1h", "--json")
    assert len(recent.output.splitlines()) == 4  # produced moments ago (record time)


def test_without_options_or_environment_it_uses_the_running_local_stack(
    kafka_bootstrap, kafka_admin, topics, tmp_path, monkeypatch
):
    import shared.local_stack

    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SASL_PASSWORD_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(shared.local_stack, "STATE_DIR", tmp_path)
    assert "start the local stack" in _refused(CliRunner().invoke(app, ["list", "--topic", topics["dlq"]]))
    state = {"kafka_bootstrap": kafka_bootstrap}
    if kafka_admin is not None:
        secret = tmp_path / "admin.secret"
        secret.write_text(kafka_admin.password)
        state["kafka_admin_secret"] = str(secret)
    (tmp_path / "stack.json").write_text(json.dumps(state))
    result = CliRunner().invoke(app, ["list", "--topic", topics["dlq"]])
    assert result.exit_code == 0, result.output
    assert "evt-negative" in result.output


def test_list_commits_no_offsets_for_any_group(kafka_bootstrap, topics):
    from aiokafka.admin import AIOKafkaAdminClient

    async def groups():
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, **client_security())
        await admin.start()
        try:
            return {g[0] for g in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    before = asyncio.run(groups())
    assert cli(kafka_bootstrap, topics, "list").exit_code == 0
    assert cli(kafka_bootstrap, topics, "show", "0:0").exit_code == 0
    assert asyncio.run(groups()) == before


def test_show_prints_the_whole_letter(kafka_bootstrap, topics):
    result = cli(kafka_bootstrap, topics, "show", "0:0")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"dead letter 0:0 on {topics['dlq']}" in out
    assert "reason    invalid-event" in out and "service   intake" in out and "attempts  1" in out
    assert "/data/value: must be >= 0" in out  # the errors list
    assert "ce_id: evt-negative" in out and "ce_source: /agencies/CA-TINH" in out
    assert "dlq_reason" not in out.split("original headers")[1]  # only the original headers there
    assert "value (JSON, 62 bytes)" in out and '"value": -5' in out  # pretty-printed

    poison = cli(kafka_bootstrap, topics, "show", "1/0")  # the other spelling of an id
    assert poison.exit_code == 0, poison.output
    assert "ce_id: evt\\u0000nul   (control characters shown escaped)" in poison.output
    assert "x-bin: (not UTF-8, hex) ff0001" in poison.output
    assert "not UTF-8" in poison.output.split("value (")[1] and "ff fe 7b" in poison.output
    assert "\x00" not in poison.output

    legacy = cli(kafka_bootstrap, topics, "show", "0:1")
    assert "reason    unclassified  (recorded as: plan has no indicator 'x' for CA-DAKRONG)" in legacy.output
    assert "service   ? (not recorded)" in legacy.output

    document = json.loads(cli(kafka_bootstrap, topics, "show", "1:0", "--json").output)
    assert document["errors"] == [] and document["value"] == {"hex": "fffe7b"}
    assert {"name": "ce_id", "text": "evt\x00nul"} in document["headers"]
    assert {"name": "x-bin", "hex": "ff0001"} in document["headers"]


def test_replay_sends_the_original_record_to_the_raw_topic(kafka_bootstrap, topics):
    result = cli(kafka_bootstrap, topics, "replay", "0:0", "--raw-topic", topics["raw"], "--yes")
    assert result.exit_code == 0, result.output
    assert f"replaying the original record to {topics['raw']}" in result.output
    assert "ce_id=evt-negative" in result.output and f"sent to {topics['raw']} partition" in result.output
    sent = [
        r
        for r in read_topic(kafka_bootstrap, topics["raw"])
        if dict(r.headers).get(REPLAY_HEADER) == f"{topics['dlq']}/0/0".encode()
    ]
    assert len(sent) == 1
    record = sent[0]
    assert record.key == b"CA-TINH" and record.value == RAW_VALUE
    assert [h for h in record.headers if h[0] != REPLAY_HEADER] == _event_headers(b"evt-negative")  # no dlq_*


def test_replay_a_corrected_event_or_corrected_data(kafka_bootstrap, topics, tmp_path):
    event = {
        "specversion": "1.0",
        "id": "evt-negative-fixed",
        "source": "/agencies/CA-TINH",
        "type": "vn.gov.pcmt.indicator.reported.v1",
        "time": "2024-05-01T08:00:00+07:00",
        "datacontenttype": "application/json",
        "data": {"indicator": "drug_cases_detected", "period": "2024", "value": 5},
    }
    structured = tmp_path / "fixed.json"
    structured.write_text(json.dumps(event))
    result = cli(
        kafka_bootstrap,
        topics,
        "replay",
        "2:0",
        "--file",
        str(structured),
        "--raw-topic",
        topics["raw"],
        "-y",
    )
    assert result.exit_code == 0, result.output
    assert "ce_id=evt-negative-fixed" in result.output and "the corrected event in" in result.output
    data = tmp_path / "data.json"
    data.write_text('{"indicator":"drug_cases_detected","period":"2024","value":5}\n')
    result = cli(
        kafka_bootstrap, topics, "replay", "0:0", "--file", str(data), "--raw-topic", topics["raw"], "-y"
    )
    assert result.exit_code == 0, result.output
    records = {
        dict(r.headers)[REPLAY_HEADER]: r
        for r in read_topic(kafka_bootstrap, topics["raw"])
        if REPLAY_HEADER in dict(r.headers) and b'value":5' in r.value
    }
    binary = records[f"{topics['dlq']}/2/0".encode()]
    assert binary.key == b"CA-TINH"  # the corrected event's agency, not the letter's key
    assert json.loads(binary.value) == event["data"]
    assert [h for h in binary.headers if h[0] != REPLAY_HEADER] == [
        ("content-type", b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", b"evt-negative-fixed"),
        ("ce_source", b"/agencies/CA-TINH"),
        ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
        ("ce_time", b"2024-05-01T08:00:00+07:00"),
    ]
    fixed_data = records[f"{topics['dlq']}/0/0".encode()]
    assert fixed_data.value == b'{"indicator":"drug_cases_detected","period":"2024","value":5}'
    assert [h for h in fixed_data.headers if h[0] != REPLAY_HEADER] == _event_headers(b"evt-negative")


def test_replay_asks_first(kafka_bootstrap, topics):
    before = len(read_topic(kafka_bootstrap, topics["raw"]))
    result = cli(kafka_bootstrap, topics, "replay", "0:0", "--raw-topic", topics["raw"], input="n\n")
    _refused(result, "not sent")
    assert len(read_topic(kafka_bootstrap, topics["raw"])) == before


def test_a_letter_from_past_intake_is_flagged_as_a_duplicate_if_replayed_unchanged(kafka_bootstrap, topics):
    result = cli(kafka_bootstrap, topics, "replay", "1:0", "--raw-topic", topics["raw"], input="n\n")
    assert "came from progress.events.v1, past intake" in result.output


def test_bad_inputs_are_refused_in_one_line(kafka_bootstrap, topics, tmp_path):
    raw = ["--raw-topic", topics["raw"], "--yes"]
    _refused(cli(kafka_bootstrap, topics, "show", "0:99"), "no dead letter at 0:99", "offsets 0..1")
    _refused(cli(kafka_bootstrap, topics, "show", "7:0"), "no partition 7")
    _refused(cli(kafka_bootstrap, topics, "show", "zero"), "not PARTITION:OFFSET")
    _refused(cli(kafka_bootstrap, topics, "replay", "2:5", *raw), "no dead letter at 2:5")
    _refused(cli(kafka_bootstrap, topics, "list", "--since", "yesterday"), "--since")
    _refused(cli(kafka_bootstrap, topics, "list", "--since", "2024-06-20T08:00:00"), "no UTC offset")
    missing = tmp_path / "nothing.json"
    _refused(cli(kafka_bootstrap, topics, "replay", "0:0", "--file", str(missing), *raw), "cannot read")
    bad = tmp_path / "bad.json"
    bad.write_text('{"specversion": "1.0", "id": ')
    _refused(
        cli(kafka_bootstrap, topics, "replay", "0:0", "--file", str(bad), *raw), "not valid JSON", "line 1"
    )
    bad.write_bytes('{"value": 1}'.encode("utf-16"))
    _refused(cli(kafka_bootstrap, topics, "replay", "0:0", "--file", str(bad), *raw), "not UTF-8")
    bad.write_text('{"specversion": "1.0", "source": "/agencies/HQ", "type": "x", "data": {}}')
    _refused(cli(kafka_bootstrap, topics, "replay", "0:0", "--file", str(bad), *raw), "without id")
    bad.write_text('{"value": 5}')  # data only, but that letter has no CloudEvent attributes to go with it
    _refused(cli(kafka_bootstrap, topics, "replay", "2:0", "--file", str(bad), *raw), "no CloudEvent headers")
    _refused(
        cli(kafka_bootstrap, topics, "replay", "0:0", "--raw-topic", "no-such-raw-topic", "--yes"),
        "'no-such-raw-topic' does not exist",
    )
    gone = CliRunner().invoke(app, ["list", "--topic", "no-such-dlq-topic", "--bootstrap", kafka_bootstrap])
    _refused(gone, "'no-such-dlq-topic' does not exist")
    away = CliRunner().invoke(app, ["list", "--bootstrap", "127.0.0.1:1", "--timeout", "5"])
    _refused(away, "cannot reach Kafka at 127.0.0.1:1")
    unset = CliRunner().invoke(app, ["list"], env={"KAFKA_BOOTSTRAP_SERVERS": ""})
    _refused(unset, "KAFKA_BOOTSTRAP_SERVERS")
