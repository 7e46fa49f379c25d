"""Person-level data must not leave the police: free text that carries a personal identifier is
refused. Pure: no I/O; the same function serves HTTP and the raw topic (via `plan_rules`).

What counts as a personal identifier (docs/events.md, "Free text carries no personal data"):

- a citizen ID number (CCCD): 12 digits whose first three are a province code 001-096, written
  whole or in groups of three or four separated by a space, dot or hyphen;
- a Vietnamese phone number: a mobile number (0 or +84 / 84, then 3, 5, 7, 8 or 9 and eight
  digits) or a landline (0 or +84, then 2 and nine digits), with or without separators
  (space, dot, hyphen) between digits, `(+84)` included;
- a licence plate: a two-digit province code, a series of one or two capital letters (optionally
  followed by a digit), then a number of five digits (`123.45` or `12345`) or four (not a year):
  74A-123.45, 74-B1 234.56, 29LD-12345, 74A1-234.56, 29A-1234.

A number inside a longer number is never matched (no digit, and no digit followed by `.`, `,`,
`/` or `-`, right before or after), so amounts (1.500.000.000), dates (20/06/2024, 2024-06-20),
case and decision numbers (123/2024/HS-ST, 05/QĐ-UBND) and counts pass.
The error names the field and the kind of identifier, never the identifier itself (the answer
may be logged).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.intake.domain.problems import FieldError, Problem, pointer

# Free-text fields of the event contract (shared.events.models), by their name in `data`; the
# envelope's `subject` is checked too. tests/intake/unit/test_personal_data.py fails when a model
# gains a string field that is neither listed here nor a code.
FREE_TEXT_FIELDS = ("note", "reason", "channel", "target_groups")

# Every identifier has six digits at least (a plate: 2 + 4); most free text has fewer, and this
# one scan costs a tenth of the three patterns.
_SIX_DIGITS = re.compile(r"(?:\d\D*){6}")
_BEFORE = r"(?<![\w+])(?<!\d[.,/-])"  # not inside a word or a longer number
_AFTER = r"(?!\w)(?![.,/-]\d)"
_SEP = r"[ .-]"
_PROVINCE = r"0(?:0[1-9]|[1-8]\d|9[0-6])"  # CCCD province codes 001-096
_CITIZEN_ID = re.compile(
    _BEFORE
    + rf"(?:{_PROVINCE}\d{{9}}"  # whole
    + rf"|{_PROVINCE}{_SEP}\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}}"  # 001 203 012 345
    + rf"|{_PROVINCE}\d{_SEP}\d{{4}}{_SEP}\d{{4}})"  # 0012 0301 2345
    + _AFTER
)
_COUNTRY = r"(?:\(\+84\)|\+84|84|0)"
_PHONE = re.compile(_BEFORE + rf"{_COUNTRY}{_SEP}?(?:[35789](?:{_SEP}?\d){{8}}|2(?:{_SEP}?\d){{9}})" + _AFTER)
_PLATE = re.compile(
    _BEFORE + r"\d{2}-?[A-Z]{1,2}\d?[ .-]?(?:\d{3}\.\d{2}|\d{5}|(?!(?:19|20)\d{2}(?!\d))\d{4})" + _AFTER
)

KINDS: dict[str, tuple[re.Pattern[str], str]] = {
    "citizen-id": (_CITIZEN_ID, "a citizen ID number (CCCD)"),
    "phone-number": (_PHONE, "a phone number"),
    "licence-plate": (_PLATE, "a licence plate"),
}


@dataclass(frozen=True)
class Identifier:
    kind: str  # a key of KINDS
    start: int  # character offsets in the text
    end: int

    @property
    def words(self) -> str:
        return KINDS[self.kind][1]


def find_identifiers(text: str) -> list[Identifier]:
    """Every personal identifier in `text`, in order of position."""
    found = [
        Identifier(kind, m.start(), m.end())
        for kind, (pattern, _) in KINDS.items()
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda i: (i.start, i.kind))


MASK = "X"


def mask_identifiers(text: str) -> str:
    """`text` with every character of every personal identifier replaced by MASK (lengths kept,
    so JSON around it stays valid and the error's character positions still point at it): what a
    dead letter keeps of a refused record, since the DLQ is read by operators, not the police."""
    chars = list(text)
    for found in find_identifiers(text):
        chars[found.start : found.end] = MASK * (found.end - found.start)
    return "".join(chars)


def _free_texts(event: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    subject = getattr(event, "subject", None)
    if isinstance(subject, str):
        yield ("subject",), subject
    data = getattr(event, "data", None)
    model: type = type(data)
    for name in _text_fields(model):
        value = getattr(data, name, None)
        if isinstance(value, str):
            yield ("data", name), value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield ("data", name, i), item


@cache
def _text_fields(model: type) -> tuple[str, ...]:
    """The free-text fields `model` has: asking a pydantic model for one it lacks raises inside
    (about 2 µs each), which cost a report, with only `note`, more than the patterns did."""
    fields = getattr(model, "model_fields", None)
    return FREE_TEXT_FIELDS if fields is None else tuple(n for n in FREE_TEXT_FIELDS if n in fields)


def personal_data_problem(event: Any) -> Problem | None:
    """A `personal-data` problem naming every free-text field that carries an identifier."""
    errors = []
    for where, text in _free_texts(event):
        found = find_identifiers(text) if _SIX_DIGITS.search(text) else ()
        if found:
            kinds = ", ".join(dict.fromkeys(i.words for i in found))
            spans = ", ".join(f"{i.start}-{i.end}" for i in found)
            errors.append(FieldError(pointer(*where), f"carries {kinds} (characters {spans}); remove it"))
    if not errors:
        return None
    fields = ", ".join(f"`{'.'.join(str(p) for p in e.pointer.split('/')[1:])}`" for e in errors)
    return Problem(
        "personal-data",
        f"{fields} carries a personal identifier (citizen ID number, phone number or licence plate); "
        "person-level data must not leave the police: remove it and refer to the case file instead",
        tuple(errors),
    )
