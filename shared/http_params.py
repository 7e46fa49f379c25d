"""Parameter types of the aggregator's and the notifier's HTTP APIs, one set for both.

Every parameter is bounded where it is declared, so that whatever a request carries is answered
4xx and never reaches code that could overflow or a database that would refuse it (issue 14):
ids fit PostgreSQL's BIGINT, counts and durations have a ceiling, moments carry a UTC offset and
lie in [EARLIEST, LATEST), codes match the events' code syntax (at most 64 characters, no NUL or
control characters) and are then looked up in the plan, free text refuses NUL and control
characters as the events' text does. FastAPI turns a violation into its usual 422; the bounds
show in the OpenAPI documents.
"""

from __future__ import annotations

import math
from collections.abc import Container
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from shared.events.models import CODE, MAX_YEAR, MIN_YEAR, clean_text

INT64_MAX = 2**63 - 1
#: the moments an API accepts, the years the events contract accepts: far from datetime's limits
EARLIEST = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC)
MOMENT_RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"

RowId = Annotated[int, Field(ge=1, le=INT64_MAX)]
Code = Annotated[str, Field(pattern=CODE, max_length=64)]
Period = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}(-H[12]|-Q[1-4]|-(0[1-9]|1[0-2]))?$",
        examples=["2024", "2024-H1", "2024-Q2", "2024-06"],
    ),
]

#: a date, or a date and time with an optional offset (the parser then says an offset is needed)
DATE_OR_MOMENT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)


def bounded_moment(moment: datetime) -> datetime:
    """`moment` if it has a UTC offset and lies in the accepted range, else ValueError."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2024-06-14T17:00:00+07:00")
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) < LATEST
    except OverflowError:  # 9999-12-31T23:59:59-12:00 has no UTC spelling
        in_range = False
    if not in_range:
        raise ValueError(f"must lie {MOMENT_RANGE}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(bounded_moment)]


#: free text with no NUL or control character (a statically typed form of text(), lengths given apart)
CleanText = Annotated[str, AfterValidator(clean_text)]


def text(max_length: int) -> Any:
    """Free text of 1..max_length characters, none of them NUL, a control character or a surrogate."""
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(clean_text)]


def require_known(code: str | None, known: Container[str], what: str, status: int = 422) -> None:
    """404 (a path) or 422 (a filter or a field) for a well-formed code the plan does not know."""
    if code is not None and code not in known:
        raise HTTPException(status, f"unknown {what} {code!r}")


class ErrorBody(BaseModel):
    """FastAPI's error body: a message, or the list of invalid parameters."""

    detail: str | list[dict[str, Any]]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON"},
    401: {"model": ErrorBody, "description": "No valid credentials (a bearer token, docs/security.md)"},
    403: {"model": ErrorBody, "description": "The principal's role or scope does not allow it"},
    404: {"model": ErrorBody, "description": "No such resource (an unknown id or code)"},
    422: {"model": ErrorBody, "description": "A parameter or field is malformed, out of range or unknown"},
}


def _json_safe(value: Any) -> Any:
    """`value` with what JSON cannot carry spelled out: NaN and infinities, lone surrogates."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes each invalid input and fails to render NaN or "\ud800" (a 500);
    # this one answers the same body with those inputs spelled out.
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def answer_invalid_requests_safely(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
