"""Settings as the local stack passes them: environment strings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from services.notifier.settings import NotifierSettings
from tests.notifier.helpers import PLAN_ZONE

BASE = {"DATABASE_URL": "postgresql+asyncpg://u@h/d", "KAFKA_BOOTSTRAP_SERVERS": "h:9092"}


def test_environment_strings_for_intervals_delays_and_quiet_hours(monkeypatch):
    for k, v in {
        **BASE,
        "NOTIFIER_ACK_SECRET": "x" * 32,
        "NOTIFIER_GROUP_WAIT": "5",
        "NOTIFIER_REPEAT_INTERVAL": "PT1H",
        "NOTIFIER_ESCALATION_DELAYS": "60,P7D",
        "NOTIFIER_QUIET_HOURS": "22:00-06:30",
    }.items():
        monkeypatch.setenv(k, v)
    s = NotifierSettings()
    assert (s.group_wait, s.repeat_interval) == (timedelta(seconds=5), timedelta(hours=1))
    assert s.escalation_delays == [timedelta(minutes=1), timedelta(days=7)]
    policy = s.policy(PLAN_ZONE)
    assert (policy.quiet_hours.start, policy.quiet_hours.end) == (time(22), time(6, 30))
    assert policy.quiet(datetime(2024, 6, 20, 16, 0, tzinfo=UTC))  # 23:00 in Hà Nội
    assert s.http_port == 8083 and s.smtp_tls == "none"


def test_the_ack_secret_has_no_default(monkeypatch):
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NOTIFIER_ACK_SECRET", raising=False)
    with pytest.raises(ValidationError, match="NOTIFIER_ACK_SECRET"):
        NotifierSettings()


def test_quiet_hours_off_and_malformed(monkeypatch):
    for k, v in {**BASE, "NOTIFIER_ACK_SECRET": "x" * 32, "NOTIFIER_QUIET_HOURS": "off"}.items():
        monkeypatch.setenv(k, v)
    assert NotifierSettings().policy(PLAN_ZONE).quiet_hours is None
    monkeypatch.setenv("NOTIFIER_QUIET_HOURS", "late evening")
    with pytest.raises(ValidationError):
        NotifierSettings()


def test_a_morning_digest_by_default_unless_a_group_interval_is_configured(monkeypatch):
    for k, v in {**BASE, "NOTIFIER_ACK_SECRET": "x" * 32}.items():
        monkeypatch.setenv(k, v)
    assert NotifierSettings().policy(PLAN_ZONE).digest_time == time(7, 30)
    monkeypatch.setenv("NOTIFIER_GROUP_INTERVAL", "PT2M")  # e.g. the demo's fast rhythm
    assert NotifierSettings().policy(PLAN_ZONE).digest_time is None
    monkeypatch.setenv("NOTIFIER_DIGEST_TIME", "08:00")
    assert NotifierSettings().policy(PLAN_ZONE).digest_time == time(8, 0)


def test_quiet_hours_are_read_in_the_plans_zone_not_a_setting_of_its_own(monkeypatch):
    for k, v in {**BASE, "NOTIFIER_ACK_SECRET": "x" * 32, "NOTIFIER_TIMEZONE": "UTC"}.items():
        monkeypatch.setenv(k, v)
    at = datetime(2024, 6, 20, 16, 0, tzinfo=UTC)  # 23:00 in Hà Nội, 01:00 in Tokyo, 16:00 in UTC
    assert NotifierSettings().policy(PLAN_ZONE).quiet(at)  # the old NOTIFIER_TIMEZONE is ignored
    policy = NotifierSettings().policy("Asia/Tokyo")
    assert policy.quiet(at) and policy.timezone == policy.quiet_hours.timezone == "Asia/Tokyo"
    assert not NotifierSettings().policy("Europe/London").quiet(at)  # 17:00 there


def test_the_ack_secret_from_a_file_stripped(monkeypatch, tmp_path):
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NOTIFIER_ACK_SECRET", raising=False)
    secret = tmp_path / "notifier_ack_secret"
    secret.write_text("  " + "a1" * 32 + "\n")
    monkeypatch.setenv("NOTIFIER_ACK_SECRET_FILE", str(secret))
    assert NotifierSettings().ack_secret.get_secret_value() == "a1" * 32


def test_the_ack_secret_file_is_checked_like_the_value(monkeypatch, tmp_path):
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NOTIFIER_ACK_SECRET", raising=False)
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    monkeypatch.setenv("NOTIFIER_ACK_SECRET_FILE", str(short))
    with pytest.raises(ValidationError, match="at least 16"):
        NotifierSettings()
    monkeypatch.setenv("NOTIFIER_ACK_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match=r"NOTIFIER_ACK_SECRET_FILE .*missing"):
        NotifierSettings()


def test_the_ack_secret_both_or_neither_is_refused(monkeypatch, tmp_path):
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    secret = tmp_path / "notifier_ack_secret"
    secret.write_text("b" * 64)
    monkeypatch.setenv("NOTIFIER_ACK_SECRET", "x" * 32)
    monkeypatch.setenv("NOTIFIER_ACK_SECRET_FILE", str(secret))
    with pytest.raises(ValidationError, match="not both"):
        NotifierSettings()
    monkeypatch.delenv("NOTIFIER_ACK_SECRET")
    monkeypatch.delenv("NOTIFIER_ACK_SECRET_FILE")
    with pytest.raises(ValidationError, match="NOTIFIER_ACK_SECRET_FILE, a file holding it"):
        NotifierSettings()
