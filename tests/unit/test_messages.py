"""The message catalogues (shared/messages/*.toml): every one loads, gives both languages with the
same placeholders, and a broken one is refused with the file and the key named."""

from __future__ import annotations

import string
from importlib.resources import files

import pytest

from shared.messages import catalogue, parse, words

NAMES = sorted(
    p.name.removesuffix(".toml") for p in files("shared.messages").iterdir() if p.name.endswith(".toml")
)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_the_catalogues_are_the_four_surfaces():
    assert NAMES == ["login", "pages", "periodic_report", "plan_cli"]


@pytest.mark.parametrize("name", NAMES)
def test_each_message_gives_both_languages_with_the_same_placeholders(name):
    messages = catalogue(name)
    assert messages
    for key, texts in messages.items():
        assert set(texts) == {"vi", "en"}, key
        assert _placeholders(texts["vi"]) == _placeholders(texts["en"]), key


def test_words_are_one_language_of_a_catalogue():
    assert words("login", "vi")["login.title"] == "Đăng nhập"
    assert words("login", "en")["login.title"] == "Log in"
    assert list(words("pages", "en")) == list(catalogue("pages"))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('["a.b"]\nvi = "Có"\n', "x.toml: ['a.b'] must give exactly the texts vi and en"),
        (
            '["a.b"]\nvi = "Có"\nen = "Yes"\nfr = "Oui"\n',
            "x.toml: ['a.b'] must give exactly the texts vi and en",
        ),
        ('["a.b"]\nvi = " "\nen = "Yes"\n', "x.toml: ['a.b'] has an empty text"),
        ('["a.b"]\nvi = 3\nen = "Yes"\n', "x.toml: ['a.b'] has an empty text"),
        ('"a.b" = "Có"\n', "x.toml: ['a.b'] must give exactly the texts vi and en"),
        ('["a.b"]\nvi = "Có\n', "x.toml: not TOML: "),
    ],
)
def test_a_broken_catalogue_is_refused_naming_the_file_and_the_key(text, says):
    with pytest.raises(ValueError) as refused:
        parse(text, "x.toml")
    assert str(refused.value).startswith(says)
