"""Intake's settings: the shared ones plus the front door's limits (env vars in CAPS)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from shared.settings import ServiceSettings, service_config


class IntakeSettings(ServiceSettings):
    model_config = service_config("INTAKE")
    http_port: int = 8081
    # Worker processes. Rate buckets and the token cache are per process: with N workers an
    # agency may reach N times INTAKE_RATE_PER_S.
    workers: int = Field(default=1, ge=1, alias="INTAKE_WORKERS")
    # Per-agency token bucket, in events: a batch of N events costs N tokens.
    rate_per_s: float = Field(default=200.0, gt=0, alias="INTAKE_RATE_PER_S")
    rate_burst: int = Field(default=2000, gt=0, alias="INTAKE_RATE_BURST")
    max_event_bytes: int = Field(default=64 * 1024, alias="INTAKE_MAX_EVENT_BYTES")
    max_batch_bytes: int = Field(default=1024 * 1024, alias="INTAKE_MAX_BATCH_BYTES")
    max_batch_events: int = Field(default=500, alias="INTAKE_MAX_BATCH_EVENTS")
    max_clock_skew_s: float = Field(default=300.0, ge=0, alias="INTAKE_MAX_CLOCK_SKEW_S")
    # A verified token is trusted this long: revocation takes effect within it.
    token_cache_ttl_s: float = Field(default=30.0, ge=0, alias="INTAKE_TOKEN_CACHE_TTL_S")
    # Attempts with a token not verified before, per client address and per token id (bursts,
    # then refills per minute); beyond them 429 before any argon2 check. The token id gets the
    # larger budget so that one address cannot spend it (docs/operations.md).
    auth_address_burst: int = Field(default=10, ge=1, alias="INTAKE_AUTH_ADDRESS_BURST")
    auth_address_per_min: float = Field(default=6.0, gt=0, alias="INTAKE_AUTH_ADDRESS_PER_MIN")
    auth_token_burst: int = Field(default=30, ge=1, alias="INTAKE_AUTH_TOKEN_BURST")
    auth_token_per_min: float = Field(default=30.0, gt=0, alias="INTAKE_AUTH_TOKEN_PER_MIN")
    # Longer than this without Kafka's acknowledgement → 503 (the event may not be durable).
    publish_timeout_s: float = Field(default=5.0, gt=0, alias="INTAKE_PUBLISH_TIMEOUT_S")
    retry_after_s: int = Field(default=5, gt=0, alias="INTAKE_RETRY_AFTER_S")
    raw_consumer_enabled: bool = Field(default=True, alias="INTAKE_RAW_CONSUMER")
    raw_group_id: str = Field(default="tiendo-intake-raw", alias="INTAKE_RAW_GROUP_ID")
    raw_max_records: int = Field(default=500, gt=0, alias="INTAKE_RAW_MAX_RECORDS")
    # The local issuer (issue 17): intake signs people's and agency systems' JWTs with this private
    # key (`tiendo auth keys create DIR`); without it the token and login endpoints answer 503.
    # Issuer, audience and the verifying JWKS are the shared AUTH_* settings (shared.auth).
    auth_signing_key_file: Path | None = Field(default=None, alias="AUTH_SIGNING_KEY_FILE")
    access_token_lifetime_s: int = Field(default=3600, ge=60, alias="INTAKE_ACCESS_TOKEN_LIFETIME_S")
    session_lifetime_s: int = Field(default=8 * 3600, ge=60, alias="INTAKE_SESSION_LIFETIME_S")
    # Where the login page may send a person back to besides intake's own relative paths: origins
    # (scheme://host:port), comma-separated, e.g. the aggregator's pages. Anything else: no redirect.
    login_next_origins: str = Field(default="", alias="INTAKE_LOGIN_NEXT_ORIGINS")
    # The aggregator's read API (e.g. http://aggregator-web:8082): the reporting form shows each
    # target's figure on record there, read with the leader's own session. Unset: not shown.
    figures_url: str | None = Field(default=None, alias="INTAKE_FIGURES_URL")
    # After logging in without a (valid) `next`: e.g. the aggregator's board.
    login_home: str = Field(default="/login", alias="INTAKE_LOGIN_HOME")

    @model_validator(mode="after")
    def _batch_fits_bucket(self) -> IntakeSettings:
        if self.rate_burst < self.max_batch_events:
            raise ValueError(
                f"INTAKE_RATE_BURST ({self.rate_burst}) must be at least INTAKE_MAX_BATCH_EVENTS "
                f"({self.max_batch_events}), or a full batch could never pass"
            )
        return self
