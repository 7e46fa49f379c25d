"""CloudEvents HTTP binary content mode: the context attributes in `ce-*` headers, the body the data.

The headers are assembled into the structured form by the shared codec (`from_headers`, the
Kafka binary path's reader, with HTTP's prefix and percent-decoding), so an event is checked
by exactly the code that checks a structured one; problems then name the header an attribute
came in (`ce-time`), data fields keep their pointer (`/data/value`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from services.intake.domain.problems import FieldError, Problem
from shared.events.codec import (
    HTTP_PREFIX,
    STRUCTURED,
    BinaryDocument,
    DecodeError,
    binary_document,
    from_headers,
)


@dataclasses.dataclass(frozen=True)
class HeaderError(FieldError):
    """A problem with an attribute sent as a header: `pointer` and `path` are the header's name."""

    @property
    def path(self) -> str:
        return self.pointer


def attribute_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
    """The `ce-*` headers of an ASGI request (names lower-cased; values as sent)."""
    return [(n.decode("latin-1").lower(), v) for n, v in raw if n[:3].lower() == b"ce-"]


def parse_binary(body: bytes, headers: list[tuple[str, bytes]]) -> BinaryDocument | Problem:
    """`ce-*` headers and the body → the event's structured form (not yet validated), or a problem.
    Only `ce-specversion` must be present to be read as binary mode; a missing `ce-id` is then
    a field problem like a missing `id` in a structured event."""
    try:
        attributes = from_headers(
            headers, prefix=HTTP_PREFIX, where="HTTP header", percent_encoded=True, required=("specversion",)
        )
    except DecodeError as exc:
        detail = str(exc)
        if detail.startswith("missing HTTP header ce-specversion"):
            detail = (
                "binary content mode (Content-Type: application/json) carries the attributes in ce-* "
                "headers (ce-specversion: 1.0, ce-id, ce-source, ce-type, ce-time) and the data as the "
                "body; there is no ce-specversion header"
            )
            if b'"specversion"' in body:
                detail += f". This body looks like a whole CloudEvent: send it with Content-Type {STRUCTURED}"
        return Problem("not-a-cloudevent", detail)
    try:
        return binary_document(attributes, body, what="body (the event's data)")
    except DecodeError as exc:
        return Problem("malformed-json", str(exc))


_ATTRIBUTE = re.compile(r"/([a-z0-9]+)")  # a pointer to a context attribute (one segment)


def name_headers(problem: Problem) -> Problem:
    """The problem as a binary-mode sender reads it: `/time` becomes `ce-time`, in `errors` and in
    the detail's summary."""
    errors, detail = [], problem.detail
    for error in problem.errors:
        match = _ATTRIBUTE.fullmatch(error.pointer)
        if match is None or match[1] == "data":
            errors.append(error)
            continue
        header = HTTP_PREFIX + match[1]
        errors.append(HeaderError(header, error.detail))
        detail = re.sub(rf"(?<![\w/-]){re.escape(error.pointer)}(?= )", header, detail)
    if not any(isinstance(e, HeaderError) for e in errors):
        return problem
    return dataclasses.replace(problem, detail=detail, errors=tuple(errors))
