"""Settings of the aggregator (env vars; the shared ones come from `TiendoSettings`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import TiendoSettings


class AggregatorSettings(TiendoSettings):
    # Loopback unless told otherwise: the container (compose) or a reverse proxy's host opens it.
    http_host: str = Field(default="127.0.0.1", alias="AGGREGATOR_HTTP_HOST")
    http_port: int = Field(default=8082, alias="AGGREGATOR_HTTP_PORT")
    # shared/http_server.py: the request head must arrive within, then the body within; at most so
    # many connections at once (a connection over it is answered 503).
    http_header_timeout_s: float = Field(default=10.0, gt=0, alias="AGGREGATOR_HTTP_HEADER_TIMEOUT_S")
    http_body_timeout_s: float = Field(default=30.0, gt=0, alias="AGGREGATOR_HTTP_BODY_TIMEOUT_S")
    http_max_connections: int = Field(default=1000, ge=1, alias="AGGREGATOR_HTTP_MAX_CONNECTIONS")
    group_id: str = Field(default="tiendo-aggregator", alias="AGGREGATOR_GROUP_ID")
    batch_size: int = Field(default=10_000, ge=1, alias="AGGREGATOR_BATCH_SIZE")
    poll_timeout_ms: int = Field(default=200, ge=1, alias="AGGREGATOR_POLL_TIMEOUT_MS")
    # How often (in real seconds) KPIs are re-evaluated and report deadlines checked.
    deadline_check_seconds: float = Field(default=30.0, gt=0, alias="AGGREGATOR_DEADLINE_CHECK_SECONDS")
    relay_interval_seconds: float = Field(default=0.2, gt=0, alias="AGGREGATOR_RELAY_INTERVAL_SECONDS")
    relay_batch_size: int = Field(default=500, ge=1, alias="AGGREGATOR_RELAY_BATCH_SIZE")
    run_consumer: bool = Field(default=True, alias="AGGREGATOR_RUN_CONSUMER")
    run_relay: bool = Field(default=True, alias="AGGREGATOR_RUN_RELAY")
    # Fault injection for the crash tests only: "after_db_commit:N" or "mid_batch:N" makes the
    # process SIGKILL itself at that point of its N-th batch. Never set in production.
    fault: str | None = Field(default=None, alias="AGGREGATOR_FAULT")
