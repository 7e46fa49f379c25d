"""Intake's Prometheus metrics. Every label set is bounded — reasons the closed list in
`domain.problems.REASONS`, routes the app's own — and none names an agency: intake's port is the
one agencies reach, and who reports how much is data about drug crime (docs/security.md,
"Metrics"); per-agency figures are read through the aggregator's API, under its rules."""

from __future__ import annotations

from functools import cache

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.intake.domain.problems import REASONS
from shared.observability import add_build_info

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.build_info = add_build_info(registry, "intake")
        self.events = Counter(
            "intake_events_total",
            "Events by outcome (accepted, duplicate, rejected)",
            ["path", "outcome", "reason"],
            registry=registry,
        )
        # A label set's child looked up once: `labels()` cost a request more than its check did.
        self._events = cache(self.events.labels)
        self.request_seconds = Histogram(
            "intake_request_seconds",
            "HTTP request latency",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "intake_kafka_publish_seconds",
            "Time until Kafka acknowledged a write",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dlq_writes = Counter(
            "intake_dlq_writes_total",
            "Raw-topic records sent to the dead-letter topic",
            ["reason"],
            registry=registry,
        )

    def count(self, path: str, agency: str | None, outcome: str, reason: str = "", n: int = 1) -> None:
        """`agency` is the port's (IntakeCounters): counted, never exported as a label."""
        reason = reason if reason in REASONS or reason == "" else "internal-error"
        self._events(path, outcome, reason).inc(n)

    def dlq(self, reason: str) -> None:
        self.dlq_writes.labels(reason if reason in REASONS else "internal-error").inc()
