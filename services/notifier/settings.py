"""Settings of the notifier: SMTP, acknowledgement links, grouping, quiet hours, escalation."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from services.notifier.domain.policy import DigestPolicy, QuietHours
from shared.settings import ServiceSettings, service_config


class NotifierSettings(ServiceSettings):
    model_config = service_config("NOTIFIER")
    http_port: int = 8083
    smtp_host: str = Field(default="127.0.0.1", alias="SMTP_HOST")
    smtp_port: int = Field(default=25, alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(default="none", alias="SMTP_TLS")
    smtp_ca_file: str | None = Field(default=None, alias="SMTP_CA_FILE")
    smtp_validate_certs: bool = Field(default=True, alias="SMTP_VALIDATE_CERTS")
    smtp_from: str = Field(default="Tiendo <tiendo@tiendo.local>", alias="SMTP_FROM")
    smtp_timeout: float = Field(default=15.0, alias="SMTP_TIMEOUT_SECONDS")
    # No default: a guessable secret would let anyone acknowledge alerts. Either the value or a
    # file holding it (compose's `secrets:`, so it is in no environment listing); never both.
    ack_secret: SecretStr = Field(alias="NOTIFIER_ACK_SECRET", min_length=16)
    ack_secret_file: Path | None = Field(default=None, alias="NOTIFIER_ACK_SECRET_FILE")
    ack_ttl: timedelta = Field(default=timedelta(days=14), alias="NOTIFIER_ACK_TTL")
    public_url: str = Field(default="http://127.0.0.1:8083", alias="NOTIFIER_PUBLIC_URL")
    # Where people open the aggregator's pages (the board's address without /board): each alert
    # in an email links to its figure's page there. None: the emails carry no such link.
    pages_url: str | None = Field(default=None, alias="NOTIFIER_PAGES_URL")
    consumer_group: str = Field(default="tiendo-notifier", alias="NOTIFIER_CONSUMER_GROUP")
    # Grouping (Alertmanager semantics, defaults suited to email; the demo sets short ones).
    group_wait: timedelta = Field(default=timedelta(minutes=30), alias="NOTIFIER_GROUP_WAIT")
    group_interval: timedelta = Field(default=timedelta(hours=24), alias="NOTIFIER_GROUP_INTERVAL")
    critical_interval: timedelta = Field(default=timedelta(hours=2), alias="NOTIFIER_CRITICAL_INTERVAL")
    repeat_interval: timedelta = Field(default=timedelta(hours=24), alias="NOTIFIER_REPEAT_INTERVAL")
    escalation_delays: Annotated[list[timedelta], NoDecode] = Field(
        default=[timedelta(days=3), timedelta(days=7)], alias="NOTIFIER_ESCALATION_DELAYS"
    )
    quiet_hours: str = Field(default="21:00-07:00", alias="NOTIFIER_QUIET_HOURS")
    # Non-critical news and reminders go out in one morning digest ("off": by group_interval).
    # Unset, it is 07:30 unless a group interval is configured: then that interval rules.
    digest_time: str | None = Field(default=None, alias="NOTIFIER_DIGEST_TIME")
    # Real seconds between scheduler ticks and sender polls.
    tick_seconds: float = Field(default=1.0, gt=0, alias="NOTIFIER_TICK_SECONDS")
    send_lease: timedelta = Field(default=timedelta(seconds=60), alias="NOTIFIER_SEND_LEASE")
    retry_base: float = Field(default=2.0, gt=0, alias="NOTIFIER_RETRY_BASE_SECONDS")
    retry_cap: float = Field(default=600.0, gt=0, alias="NOTIFIER_RETRY_CAP_SECONDS")

    @model_validator(mode="before")
    @classmethod
    def _ack_secret_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        value = data.get("NOTIFIER_ACK_SECRET", data.get("ack_secret"))
        path = data.get("NOTIFIER_ACK_SECRET_FILE", data.get("ack_secret_file"))
        if value and path:
            raise ValueError("set NOTIFIER_ACK_SECRET or NOTIFIER_ACK_SECRET_FILE, not both")
        if not value and not path:
            raise ValueError(
                "NOTIFIER_ACK_SECRET (or NOTIFIER_ACK_SECRET_FILE, a file holding it) is required"
            )
        if path:
            try:
                secret = Path(path).read_text().strip()
            except OSError as exc:
                raise ValueError(f"NOTIFIER_ACK_SECRET_FILE {path}: {exc.strerror}") from exc
            data = {k: v for k, v in data.items() if k != "ack_secret"}
            data["NOTIFIER_ACK_SECRET"] = secret
        return data

    @field_validator(
        "group_wait",
        "group_interval",
        "critical_interval",
        "repeat_interval",
        "send_lease",
        "ack_ttl",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value):
        # The environment may say "90" (seconds) as well as "PT90S" or "00:01:30".
        return _number_or_text(value)

    @field_validator("escalation_delays", mode="before")
    @classmethod
    def _split(cls, value):
        # "P3D,P7D" or "259200,604800" from the environment
        if isinstance(value, str):
            return [_number_or_text(v.strip()) for v in value.split(",") if v.strip()]
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value, "UTC")
        return value

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time_of_day(value)
        return value

    @property
    def effective_digest_time(self) -> str:
        if self.digest_time is not None:
            return self.digest_time
        return "off" if "group_interval" in self.model_fields_set else "07:30"

    def policy(self, timezone: str) -> DigestPolicy:
        """The policy in `timezone`, the plan's (Plan.timezone): there is no zone setting of its own."""
        return DigestPolicy(
            group_wait=self.group_wait,
            group_interval=self.group_interval,
            critical_interval=self.critical_interval,
            repeat_interval=self.repeat_interval,
            escalation_delays=tuple(self.escalation_delays),
            quiet_hours=parse_quiet_hours(self.quiet_hours, timezone),
            digest_time=parse_time_of_day(self.effective_digest_time),
            timezone=timezone,
        )


def _number_or_text(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_time_of_day(text: str) -> time | None:
    if not text.strip() or text.strip().lower() in {"off", "none"}:
        return None
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"a time of day looks like 07:30, got {text!r}") from exc


def parse_quiet_hours(text: str, tz: str) -> QuietHours | None:
    """ "21:00-07:00" → QuietHours; "" or "off" → none."""
    if not text.strip() or text.strip().lower() in {"off", "none"}:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like 21:00-07:00, got {text!r}") from exc
    return QuietHours(start=start, end=end, timezone=tz)
