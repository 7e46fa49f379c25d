"""Settings of the aggregator (env vars; the shared and HTTP ones come from `ServiceSettings`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings, service_config


class AggregatorSettings(ServiceSettings):
    model_config = service_config("AGGREGATOR")
    http_port: int = 8082
    group_id: str = Field(default="tiendo-aggregator", alias="AGGREGATOR_GROUP_ID")
    batch_size: int = Field(default=10_000, ge=1, alias="AGGREGATOR_BATCH_SIZE")
    poll_timeout_ms: int = Field(default=200, ge=1, alias="AGGREGATOR_POLL_TIMEOUT_MS")
    # Once a batch's first record is in, how long it waits for more (unless full): under a steady
    # trickle, batches of a few events each paid a transaction's fixed cost (docs/benchmarks.md).
    batch_wait_ms: int = Field(default=50, ge=0, alias="AGGREGATOR_BATCH_WAIT_MS")
    # What one fetch from Kafka may bring, per partition and in all: a fetch is held whole while
    # its records are read, beside the read buffer it came through (docs/benchmarks-aggregator.md).
    partition_fetch_bytes: int = Field(default=2**20, ge=2**16, alias="AGGREGATOR_PARTITION_FETCH_BYTES")
    fetch_bytes: int = Field(default=8 * 2**20, ge=2**16, alias="AGGREGATOR_FETCH_BYTES")
    # How often (in real seconds) KPIs are re-evaluated and report deadlines checked.
    deadline_check_seconds: float = Field(default=30.0, gt=0, alias="AGGREGATOR_DEADLINE_CHECK_SECONDS")
    relay_interval_seconds: float = Field(default=0.2, gt=0, alias="AGGREGATOR_RELAY_INTERVAL_SECONDS")
    relay_batch_size: int = Field(default=500, ge=1, alias="AGGREGATOR_RELAY_BATCH_SIZE")
    # an agency takes a ledger snapshot once it has folded this many facts since its last one
    # (docs/aggregator.md, Snapshots): a restart folds at most that many of its facts
    snapshot_after: int = Field(default=20_000, ge=1, alias="AGGREGATOR_SNAPSHOT_AFTER")
    run_consumer: bool = Field(default=True, alias="AGGREGATOR_RUN_CONSUMER")
    run_relay: bool = Field(default=True, alias="AGGREGATOR_RUN_RELAY")
    # Fault injection for the crash tests only: "after_db_commit:N" or "mid_batch:N" makes the
    # process SIGKILL itself at that point of its N-th batch. Never set in production.
    fault: str | None = Field(default=None, alias="AGGREGATOR_FAULT")
