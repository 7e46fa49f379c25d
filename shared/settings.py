"""Settings every service shares. Each service subclasses `ServiceSettings` exactly once.

No secret has a default: `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` must be given (the local
stack and the tests provide them from the infrastructure they start).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.clock import Clock, clock_from_config
from shared.consumers import POISON_ATTEMPTS, STALL_SECONDS
from shared.kafka import DLQ, EVENTS, RAW, STATUS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAN = REPO_ROOT / "plans" / "quang-tri-2024.yaml"


class TiendoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str = Field(description="SQLAlchemy async URL, postgresql+asyncpg://...")
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port]")
    plan_file: Path = Field(default=DEFAULT_PLAN, alias="TIENDO_PLAN_FILE")
    now: datetime | None = Field(default=None, alias="TIENDO_NOW")
    clock_speed: float = Field(default=1.0, ge=0, alias="TIENDO_CLOCK_SPEED")
    log_level: str = Field(default="INFO", alias="TIENDO_LOG_LEVEL")
    # Topic names are settings so tests can run in isolation on one broker.
    raw_topic: str = Field(default=RAW.name, alias="TIENDO_RAW_TOPIC")
    events_topic: str = Field(default=EVENTS.name, alias="TIENDO_EVENTS_TOPIC")
    dlq_topic: str = Field(default=DLQ.name, alias="TIENDO_DLQ_TOPIC")
    status_topic: str = Field(default=STATUS.name, alias="TIENDO_STATUS_TOPIC")
    # Poison-proof consumers (shared.consumers): failures of one record before it is dead-lettered,
    # and how long a partition may wait with records and no progress before health says "stalled".
    poison_attempts: int = Field(default=POISON_ATTEMPTS, ge=1, le=20, alias="TIENDO_POISON_ATTEMPTS")
    stall_seconds: float = Field(default=STALL_SECONDS, gt=0, alias="TIENDO_STALL_SECONDS")

    @field_validator("now", mode="before")
    @classmethod
    def _empty_now_is_unset(cls, value: object) -> object:
        # Compose passes `${TIENDO_NOW:-}`: an empty value means the real clock.
        return None if isinstance(value, str) and not value.strip() else value

    def clock(self) -> Clock:
        return clock_from_config(self.now, self.clock_speed)


class ServiceSettings(TiendoSettings):
    """A service's settings: the shared ones and its HTTP server's, which it reads as
    {SERVICE}_HTTP_HOST, {SERVICE}_HTTP_PORT and so on (`model_config = service_config("INTAKE")`)."""

    # Loopback unless told otherwise: the container (compose) or a reverse proxy's host opens it.
    http_host: str = "127.0.0.1"
    http_port: int
    # shared/http_server.py: the request head must arrive within, then the body within; at most so
    # many connections at once (a connection over it is answered 503).
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=30.0, gt=0)
    http_max_connections: int = Field(default=1000, ge=1)


def service_config(service: str) -> SettingsConfigDict:
    """The config that names a service's HTTP settings {service}_HTTP_*; other fields keep theirs."""
    return SettingsConfigDict(
        alias_generator=lambda name: f"{service}_{name.upper()}" if name.startswith("http_") else name
    )
