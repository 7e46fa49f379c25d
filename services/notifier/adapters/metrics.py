"""The notifier's Prometheus metrics, one set per service instance (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import add_build_info


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.build_info = add_build_info(registry, "notifier")
        self.status_events = Counter(
            "notifier_status_events_total", "Status events consumed", ["outcome"], registry=registry
        )
        self.alerts_open = Gauge(
            "notifier_alerts",
            "Alerts by state, severity and acknowledgement",
            ["state", "severity", "acknowledged"],
            registry=registry,
        )
        self.queued = Counter(
            "notifier_emails_queued_total", "Digest emails written to the outbox", registry=registry
        )
        self.sent = Counter(
            "notifier_emails_sent_total", "Emails accepted by the SMTP server", registry=registry
        )
        self.failed = Counter(
            "notifier_emails_failed_total", "Emails refused for good (5xx)", registry=registry
        )
        self.retried = Counter(
            "notifier_emails_retried_total",
            "Send attempts that failed and will be retried",
            registry=registry,
        )
        self.send_seconds = Histogram(
            "notifier_email_send_seconds", "SMTP transaction time", registry=registry
        )
        self.latency = Histogram(
            "notifier_email_delivery_latency_seconds",
            "Outbox enqueue to SMTP accept",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 86400),
            registry=registry,
        )
        self.pending = Gauge("notifier_outbox_emails", "Outbox rows by status", ["status"], registry=registry)
        self.oldest_unsent = Gauge(
            "notifier_outbox_oldest_unsent_seconds", "Age of the oldest unsent email", registry=registry
        )
