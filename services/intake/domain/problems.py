"""RFC 9457 problem details, in the words an agency integrator needs to fix their request.

Every rejection carries a stable `reason` (a bounded slug, also the metrics label) and a
specific `detail`; validation problems list each offending field by JSON Pointer and path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

PROBLEM_BASE = "https://tiendo.example/problems/"
PROBLEM_JSON = "application/problem+json"

# reason → (HTTP status, title). The set is closed: it labels metrics and documents the API.
REASONS: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "The body is not valid JSON"),
    "not-a-cloudevent": (400, "The body is not a CloudEvent"),
    "unauthenticated": (401, "Missing or invalid API token"),
    "source-mismatch": (403, "The event's source is not your agency"),
    "foreign-unit": (403, "The unit is not one of your agency's units"),
    "indicator-not-assigned": (403, "The plan does not assign this indicator to your agency"),
    "too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Unsupported content type"),
    "unknown-event-type": (422, "Unknown event type or version"),
    "invalid-event": (422, "The event does not match its schema"),
    "unknown-indicator": (422, "Unknown indicator"),
    "unknown-activity": (422, "Unknown activity type"),
    "unknown-unit": (422, "Unknown unit"),
    "unit-not-in-force": (422, "The unit is not in force on the event's date"),
    "agency-not-in-force": (422, "The agency does not make this period's report"),
    "outside-plan-year": (422, "Outside the plan's year"),
    "value-above-cap": (422, "Value above the plan's cap"),
    "time-in-future": (422, "Event time lies in the future"),
    "correction-target-unknown": (422, "The corrected event is unknown"),
    "wrong-figure-source": (422, "The plan takes this figure from the other kind of event"),
    "personal-data": (422, "The text carries a personal identifier"),
    "rate-limited": (429, "Too many events"),
    "kafka-unavailable": (503, "Events cannot be stored durably right now"),
    "registry-unavailable": (503, "The accepted-event registry is unreachable right now"),
    "internal-error": (500, "Internal error"),
}


@dataclass(frozen=True)
class FieldError:
    pointer: str  # RFC 6901 JSON Pointer into the submitted event, e.g. /data/value
    detail: str

    @property
    def path(self) -> str:  # the same place as a JSONPath, for readers who prefer it
        parts = self.pointer.split("/")[1:]
        return "$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "path": self.path, "detail": self.detail}


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str
    errors: tuple[FieldError, ...] = ()
    retry_after: int | None = None  # seconds; sent as the Retry-After header
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown problem reason {self.reason!r}")

    @property
    def status(self) -> int:
        return REASONS[self.reason][0]

    @property
    def title(self) -> str:
        return REASONS[self.reason][1]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.reason,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return {**body, **self.extra}


def pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this event type; remove it",
    "string_pattern_mismatch": None,  # replaced below by a per-field explanation
    "literal_error": None,
}
_PATTERN_HINTS = {
    "period": "must be a period: 2024, 2024-H1, 2024-Q2 or 2024-06",
}


_EXPECTED = {"float_type": "a number", "int_type": "an integer", "bool_type": "true or false"}


def json_kind(value: Any) -> str:
    """What a JSON value is, in words (for "expected X; got Y")."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _message(error: Mapping[str, Any], field_name: str) -> str:
    kind = error["type"]
    if kind in _EXPECTED:  # strict: a boolean or a quoted number is refused, never converted
        return f"must be {_EXPECTED[kind]}; got {json_kind(error['input'])}"
    if kind == "string_pattern_mismatch":
        return (
            _PATTERN_HINTS.get(field_name, f"has the wrong format (expected {error['ctx']['pattern']})")
            + f"; got {error['input']!r}"
        )
    if kind == "literal_error":
        return f"must be {error['ctx']['expected']}; got {error['input']!r}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return _MESSAGES.get(kind) or error["msg"][:1].lower() + error["msg"][1:]


def from_validation_error(exc: ValidationError, *, skip_tag: bool = True) -> Problem:
    """Pydantic errors → one problem listing every offending field (tagged-union prefix dropped)."""
    errors = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if skip_tag and loc and isinstance(loc[0], str) and loc[0].startswith("vn.gov."):
            loc = loc[1:]
        field_name = str(loc[-1]) if loc else ""
        errors.append(FieldError(pointer(*loc), _message(error, field_name)))
    summary = "; ".join(f"{e.pointer or '/'} {e.detail}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return Problem("invalid-event", f"{len(errors)} field(s) need fixing: {summary}{more}", tuple(errors))
