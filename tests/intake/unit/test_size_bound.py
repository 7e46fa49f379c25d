"""The batch fast path skips measuring events whose extensions are small, on the claim that
every other field is bounded by the schema to under 32 KiB of JSON. Check the claim."""

import json

from services.intake.entrypoints.examples import examples
from shared.events.models import agency_event_adapter

# The most any accepted character takes: 4 bytes of UTF-8 (control characters, 6 bytes once
# JSON-escaped, are refused by the contract; tabs and line breaks take 2).
WORST = "\U0001f600"


def test_every_event_type_without_extensions_stays_under_half_the_per_event_limit():
    long = {
        "note": WORST * 2000,
        "reason": WORST * 2000,
        "channel": WORST * 100,
        "target_groups": [WORST * 100] * 20,
        "corrects": "x" * 128,
    }
    for kind, doc in examples().items():
        data = {k: long.get(k, v) for k, v in doc["data"].items()}
        if "note" in long and kind != "indicator.corrected":
            data["note"] = long["note"]
        envelope = {**doc, "id": "i" * 128, "subject": WORST * 200, "data": data}
        event = agency_event_adapter.validate_python(envelope)
        size = len(
            json.dumps(
                event.model_dump(mode="json", exclude_none=True), ensure_ascii=False, separators=(",", ":")
            ).encode()
        )
        assert size < 32 * 1024, (kind, size)
