"""Every word the people's pages, the periodic report, the login page and the plan commands show,
Vietnamese first (administrative register), English available: one TOML catalogue a surface in
this folder, read by one loader. Statuses and periods are worded by shared.labels."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

from shared.labels import Lang

LANGS: tuple[Lang, ...] = ("vi", "en")


@cache
def catalogue(name: str) -> Mapping[str, Mapping[Lang, str]]:
    """The catalogue `name`.toml as {key: {"vi": text, "en": text}}, in the file's order."""
    path = files(__package__).joinpath(f"{name}.toml")
    return parse(path.read_text(encoding="utf-8"), str(path))


def parse(text: str, origin: str) -> dict[str, dict[Lang, str]]:
    """A catalogue's TOML text, checked: ValueError naming `origin` and the key where the TOML is
    broken, a message lacks a language (or has another) or a text is empty."""
    try:
        messages = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not TOML: {exc}") from None
    for key, texts in messages.items():
        if not isinstance(texts, dict) or set(texts) != set(LANGS):
            raise ValueError(f"{origin}: [{key!r}] must give exactly the texts vi and en")
        if not all(isinstance(text, str) and text.strip() for text in texts.values()):
            raise ValueError(f"{origin}: [{key!r}] has an empty text")
    return messages


def words(name: str, lang: Lang) -> dict[str, str]:
    """The catalogue `name` in one language: {key: text}."""
    return {key: texts[lang] for key, texts in catalogue(name).items()}
