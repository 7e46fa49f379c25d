"""The one dead-letter format: building a letter never fails, whatever the original record holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.deadletter import MAX_DETAIL, MAX_ERRORS, dead_letter, origin_of, read_dead_letter

NOW = datetime(2024, 6, 20, 1, 2, 3, 456000, tzinfo=UTC)
SOURCE = ("ce_source", b"/agencies/CA-DAKRONG")


def _letter(headers, **kw):
    args = {
        "origin": "progress.raw.v1/3/42",
        "service": "intake",
        "reason": "invalid-event",
        "detail": "bad",
        "now": NOW,
        **kw,
    }
    return dead_letter(b"k", b"v", headers, **args)


def test_the_letter_keeps_the_original_bytes_and_adds_its_headers():
    original = [("content-type", b"application/json"), SOURCE, ("ce_id", b"a\x00b\xff")]
    letter = _letter(original, errors=[{"pointer": "/data/value", "detail": "must be >= 0"}], attempts=3)
    assert letter.key == b"CA-DAKRONG" and letter.value == b"v"
    assert letter.headers[:3] == original  # raw bytes, NUL and invalid UTF-8 included
    named = dict(letter.headers)
    assert named["dlq_reason"] == b"invalid-event"
    assert named["dlq_origin"] == b"progress.raw.v1/3/42"
    assert named["dlq_service"] == b"intake" and named["dlq_attempts"] == b"3"
    assert named["dlq_time"] == b"2024-06-20T01:02:03.456Z"
    assert json.loads(named["dlq_errors"]) == [{"pointer": "/data/value", "detail": "must be >= 0"}]
    info = read_dead_letter(letter.headers)
    assert (info.reason, info.detail, info.service, info.attempts) == ("invalid-event", "bad", "intake", 3)
    assert (info.topic, info.partition, info.offset) == ("progress.raw.v1", 3, 42)
    assert info.time == NOW and info.headers == original
    assert info.errors == ({"pointer": "/data/value", "detail": "must be >= 0"},)


def test_none_str_and_odd_header_values_never_fail():
    letter = dead_letter(
        None,
        None,
        [
            ("a", None),
            ("b", "text\x00"),
            ("c", bytearray(b"\x80")),
            (b"d\xff", memoryview(b"m")),
            ("e", 7),
            ("f\udcff", "\udcff"),
        ],
        origin=("t", 0, 1),
        service="aggregator",
        reason="undecodable",
        detail=None,
    )
    assert letter.key is None and letter.value == b""
    assert letter.headers[:5] == [
        ("a", b""),
        ("b", b"text\x00"),
        ("c", b"\x80"),
        ("d\ufffd", b"m"),
        ("e", b"7"),
    ]
    assert letter.headers[5][1] == b"\xff"  # a value decoded with surrogateescape gets its byte back
    for name, value in letter.headers:
        name.encode("utf-8")  # what aiokafka does with a header name
        assert isinstance(value, bytes)
    assert dict(letter.headers)["dlq_origin"] == b"t/0/1"


def test_existing_dlq_headers_are_replaced_not_repeated():
    first = _letter([SOURCE], reason="invalid-event")
    again = dead_letter(
        first.key,
        first.value,
        first.headers,
        origin="progress.dlq.v1/0/9",
        service="intake",
        reason="rejected",
        detail="again",
        now=NOW,
    )
    names = [n for n, _ in again.headers]
    assert names.count("dlq_reason") == 1 and dict(again.headers)["dlq_reason"] == b"rejected"


def test_detail_is_cleaned_and_truncated():
    detail = "x\x00y\nz\x1b[31m\ud800" + "é" * 5000
    text = dict(_letter([], detail=detail).headers)["dlq_detail"].decode("utf-8")
    assert len(text) == MAX_DETAIL and text.endswith("…")
    assert text.startswith("x\ufffdy z\ufffd[31m\ufffd")
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", text)


def test_detail_that_is_bytes_or_raises_on_str_still_makes_a_letter():
    class Nasty:
        def __str__(self):
            raise RuntimeError("no")

    assert dict(_letter([], detail=b"\xff\x00").headers)["dlq_detail"] == "\ufffd\ufffd".encode()
    assert b"unprintable Nasty" in dict(_letter([], detail=Nasty()).headers)["dlq_detail"]


@pytest.mark.parametrize(
    "reason, code",
    [
        ("invalid-event", "invalid-event"),
        ("Rejected: time out of range", "rejected-time-out-of-range"),
        ("", "processing-failed"),
        ("\x00", "processing-failed"),
    ],
)
def test_the_reason_is_always_a_code(reason, code):
    assert dict(_letter([], reason=reason).headers)["dlq_reason"] == code.encode()


def test_errors_stay_within_their_budget_as_valid_json():
    class FieldError:  # like intake's
        def __init__(self, i):
            self.pointer, self.detail = f"/data/{i}", "\x00" + "e" * 600

    text = dict(_letter([], errors=[FieldError(i) for i in range(50)]).headers)["dlq_errors"]
    assert len(text) <= MAX_ERRORS
    errors = json.loads(text)
    assert errors and errors[0]["pointer"] == "/data/0" and errors[0]["detail"].startswith("\ufffd")


def test_a_non_agency_source_keeps_the_original_key_and_naive_or_offset_times_read_as_utc():
    letter = dead_letter(
        "key",
        b"",
        [("ce_source", b"/elsewhere\x00")],
        origin="t/1/2",
        service="notifier",
        reason="rejected",
        detail="",
        now=datetime(2024, 6, 20, 8, tzinfo=timezone(timedelta(hours=7))),
    )
    assert letter.key == b"key"
    assert dict(letter.headers)["dlq_time"] == b"2024-06-20T01:00:00.000Z"
    assert dict(letter.headers)["dlq_attempts"] == b"1"


def test_reading_an_old_or_partial_letter_never_fails():
    info = read_dead_letter(
        [
            ("dlq_reason", b"Rejected: x"),
            ("dlq_errors", b"{not json"),
            ("dlq_time", b"yesterday"),
            ("dlq_attempts", b"many"),
            ("ce_id", None),
        ]
    )
    assert info.reason == "Rejected: x" and info.errors == () and info.time is None and info.attempts == 1
    assert info.partition is None and info.headers == [("ce_id", b"")]


def test_origin_of_a_record():
    class R:
        topic, partition, offset = "progress.events.v1", 2, 17

    assert origin_of(R()) == "progress.events.v1/2/17"
