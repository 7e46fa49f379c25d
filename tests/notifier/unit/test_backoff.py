"""Retry pacing and the transient/permanent split of SMTP failures."""

from __future__ import annotations

import random

from services.notifier.adapters.smtp import PermanentSmtpError, TransientSmtpError, _classify
from services.notifier.service_layer.delivery import backoff


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64), (20, 600)]:
        delays = [backoff(attempt, 2.0, 600.0, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered: retries of many emails do not stampede together


def test_4xx_and_mixed_codes_are_retried_5xx_are_given_up():
    assert isinstance(_classify([451], "busy"), TransientSmtpError)
    assert isinstance(_classify([550, 451], "mixed"), TransientSmtpError)
    assert isinstance(_classify([550], "no such user"), PermanentSmtpError)
