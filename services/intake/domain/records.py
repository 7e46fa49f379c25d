"""The records intake forwards: the shared codec's binary mode (`shared.events.codec.to_kafka`)
without a sender's own warnings extension, with the data as the sender wrote it when it came in
binary mode, plus the digest that tells a true re-send from an id reused for different content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from services.intake.domain.plan_rules import Plausibility
from shared.events.codec import BinaryDocument, KafkaRecord, to_kafka

WARNINGS_EXTENSION = "warnings"  # CloudEvents extension: comma-separated plausibility codes
_DIGEST_PREFIXES = {
    name: b"\0" + name.encode() + b"="
    for name in (  # the headers every record has
        "content-type",
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_time",
        "ce_type",
        "ce_subject",
    )
}


def to_record(event: Any) -> KafkaRecord:
    """The binary-mode record for the events topic. Only intake sets the warnings extension: a
    sender's own `warnings` attribute is dropped."""
    return to_kafka(event, drop=(WARNINGS_EXTENSION,))


def as_sent(record: KafkaRecord, event: Any, document: Any) -> KafkaRecord:
    """`record` with the data bytes the sender wrote (binary mode: the raw topic's record value, an
    HTTP binary-mode body), so `11` stays `11` and an absent `note` absent. Kept only when the
    contract read them as they are: if validation changed a value (an id normalised to NFC, say),
    the canonical encoding is forwarded instead. Structured events are re-encoded as before."""
    if type(document) is not BinaryDocument:
        return record
    if event.data.model_dump(mode="json", exclude_unset=True) != document["data"]:
        return record
    return KafkaRecord(record.key, document.data_bytes, record.headers)


def digest(record: KafkaRecord) -> str:
    """sha256 over the value and the sorted headers (stored in the registry: keep it stable)."""
    parts = [record.value]
    for name, value in sorted(record.headers):
        parts += (_DIGEST_PREFIXES.get(name) or b"\0" + name.encode() + b"=", value)
    return hashlib.sha256(b"".join(parts)).hexdigest()[:32]


def with_warnings(record: KafkaRecord, warnings: Sequence[Plausibility]) -> KafkaRecord:
    if not warnings:
        return record
    codes = ",".join(w.code for w in warnings).encode()
    return KafkaRecord(record.key, record.value, [*record.headers, ("ce_" + WARNINGS_EXTENSION, codes)])
