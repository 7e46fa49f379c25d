"""Period arithmetic and signed acknowledgement tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notifier.domain import ack, periods
from shared.labels import period_label
from shared.plan.periods import Period
from tests.notifier.helpers import T0

SECRET = b"s" * 32


@pytest.mark.parametrize(
    "period, before",
    [
        ("2024-01", "2023-12"),
        ("2024-06", "2024-05"),
        ("2024-Q1", "2023-Q4"),
        ("2024-H2", "2024-H1"),
        ("2024", "2023"),
    ],
)
def test_previous_period(period, before):
    assert periods.previous(period) == before


def test_containment_and_labels():
    assert periods.contains("2024", "2024-06") and periods.contains("2024-Q2", "2024-06")
    assert not periods.contains("2024-Q3", "2024-06") and not periods.contains("2024-06", "2024")
    assert period_label("2024-06") == "Tháng 6/2024" and period_label("2024-06", "en") == "June 2024"
    # the administrative style, the one labelling function (shared.labels) everyone uses, the
    # notifier included
    assert period_label("2024-Q2") == "Quý II/2024" and period_label("2024-H1") == "6 tháng đầu năm 2024"
    assert period_label("2024") == "Năm 2024" and period_label("2024", "en") == "Year 2024"
    assert (
        period_label("2024-Q4") == period_label("2024-Q4") == Period.parse("2024-Q4").label() == "Quý IV/2024"
    )


def claim(expires=T0 + timedelta(days=14)):
    return ack.AckClaim(42, "leader@qt.example", expires, ack.nonce_for(SECRET, "key", "42"))


def test_a_token_round_trips_until_it_expires():
    token = ack.issue(SECRET, claim())
    got = ack.verify(SECRET, token, T0)
    assert (got.alert_id, got.recipient, got.nonce) == (42, "leader@qt.example", claim().nonce)
    with pytest.raises(ack.InvalidToken) as err:
        ack.verify(SECRET, token, T0 + timedelta(days=14))
    assert err.value.reason == "expired"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: (
            ack.issue(SECRET, ack.AckClaim(43, "leader@qt.example", T0 + timedelta(days=14), "n")).split(".")[
                0
            ]
            + "."
            + t.split(".")[1]
        ),  # payload of another alert under this signature
    ],
)
def test_a_tampered_token_is_refused(mangle):
    with pytest.raises(ack.InvalidToken) as err:
        ack.verify(SECRET, mangle(ack.issue(SECRET, claim())), T0)
    assert err.value.reason == "signature"


def test_another_secret_or_garbage_is_refused():
    token = ack.issue(SECRET, claim())
    with pytest.raises(ack.InvalidToken):
        ack.verify(b"x" * 32, token, T0)
    for garbage in (
        "",
        "abc",
        "a.b.c",
        "!!!.###",
        ".\x80",
        "YWJj.chữ-ký",
    ):  # non-ASCII: compare_digest would raise
        with pytest.raises(ack.InvalidToken):
            ack.verify(SECRET, garbage, T0)


def test_the_nonce_is_deterministic_per_email_and_alert():
    assert (
        ack.nonce_for(SECRET, "k", "1") == ack.nonce_for(SECRET, "k", "1") != ack.nonce_for(SECRET, "k", "2")
    )
