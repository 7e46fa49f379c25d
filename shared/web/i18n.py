"""The people's pages' words, Vietnamese first (administrative register), English available.

One catalogue for every page, shared/messages/pages.toml (board, agency and figure pages, alerts,
silences, the reporting form).
Statuses and periods are not here: they come from shared.labels, as in the emails and the APIs.
The language is chosen by `?lang=en|vi` (remembered in a cookie) or that cookie; Vietnamese otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.labels import Lang
from shared.messages import catalogue

LANG_COOKIE = "tiendo_lang"
DEFAULT_LANG: Lang = "vi"

MESSAGES = catalogue("pages")


def choose_lang(query: str | None, cookie: str | None) -> Lang:
    """`?lang=` wins over the cookie; anything else is Vietnamese."""
    for value in (query, cookie):
        if value in ("vi", "en"):
            return value  # type: ignore[return-value]
    return DEFAULT_LANG


def translator(lang: Lang, messages: Mapping[str, Mapping[Lang, str]] = MESSAGES) -> Callable[..., str]:
    """`t("board.title")`, `t("error.unknown_agency", code="X")`; an unknown key is an error
    (a page must never show a key to a person)."""

    def t(key: str, **values: Any) -> str:
        text = messages[key][lang]
        return text.format(**values) if values else text

    return t


def number(value: float | None, lang: Lang = "vi") -> str:
    """A figure as Vietnamese write it (1.234,5) or English (1,234.5); whole numbers lose '.0'."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".") if lang == "vi" else text


def moment_text(value: str | datetime | None, lang: Lang, timezone: str, *, with_time: bool = True) -> str:
    """A moment in the plan's time zone as people write it: 14/06/2024 09:00 (vi), 2024-06-14 09:00 (en)."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(timezone))
    pattern = ("%d/%m/%Y" if lang == "vi" else "%Y-%m-%d") + (" %H:%M" if with_time else "")
    return moment.strftime(pattern)
