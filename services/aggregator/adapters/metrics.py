"""Prometheus metrics of the aggregator; labels are bounded (no per-event or per-unit labels)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.observability import add_build_info


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = add_build_info(registry, "aggregator")
        self.applied = Counter(
            "aggregator_events_applied_total",
            "Events folded into the projections",
            ["type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "aggregator_duplicates_skipped_total",
            "Events skipped because their (source, id) was already recorded",
            registry=registry,
        )
        self.dead_letters = Counter(
            "aggregator_dlq_writes_total", "Poison events sent to the dead-letter topic", registry=registry
        )
        self.status_events = Counter(
            "aggregator_status_events_total", "Status changes put in the outbox", registry=registry
        )
        self.batch_size = Histogram(
            "aggregator_batch_events",
            "Events per applied batch",
            registry=registry,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
        )
        self.batch_seconds = Histogram(
            "aggregator_batch_duration_seconds",
            "Time to apply and commit a batch",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.end_to_end = Histogram(
            "aggregator_end_to_end_seconds",
            "Kafka append time of an event to its projection commit",
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
        )
        self.lag = Gauge(
            "aggregator_consumer_lag_records",
            "Records not yet consumed, per partition",
            ["partition"],
            registry=registry,
        )
        self.freshness = Gauge(
            "aggregator_projection_freshness_seconds",
            "Age of the newest applied event when its batch committed",
            registry=registry,
        )
        self.last_commit = Gauge(
            "aggregator_projection_last_commit_timestamp_seconds",
            "Wall time of the last projection commit",
            registry=registry,
        )
        self.commit_failures = Counter(
            "aggregator_offset_commit_failures_total",
            "Kafka offset commits that failed (e.g. during a rebalance)",
            registry=registry,
        )
        self.db_failures = Counter(
            "aggregator_batch_failures_total",
            "Batches rolled back and retried (e.g. database unavailable)",
            registry=registry,
        )
        self.relayed = Counter(
            "aggregator_outbox_relayed_total", "Outbox rows published to Kafka", ["topic"], registry=registry
        )
        self.outbox_backlog = Gauge(
            "aggregator_outbox_backlog_messages", "Outbox rows waiting to be relayed", registry=registry
        )
        self.outbox_oldest = Gauge(
            "aggregator_outbox_oldest_seconds",
            "Age of the oldest outbox row waiting to be relayed (0 when empty)",
            registry=registry,
        )
        self.kpis = Gauge(
            "aggregator_current_kpis",
            "KPIs (agency, indicator, period) per indicator and status, current periods only",
            ["indicator", "status"],
            registry=registry,
        )
        self.progress = Gauge(
            "aggregator_kpi_progress_ratio",
            "actual / target per agency and indicator, current periods only",
            ["agency", "indicator"],
            registry=registry,
        )
        self.expected = Gauge(
            "aggregator_kpi_expected_ratio",
            "expected / target (the pace) per agency and indicator, current periods only",
            ["agency", "indicator"],
            registry=registry,
        )
        self.kpi_status = Gauge(
            "aggregator_kpi_status",
            "1 for an agency's KPI status (current periods), 0 for the other statuses",
            ["agency", "indicator", "status"],
            registry=registry,
        )
        # The plan-year view: year-period KPIs of every plan year, so a year's outcome stays on the
        # dashboard after it ends (the gauges above follow the current periods only).
        self.year_kpis = Gauge(
            "aggregator_year_kpis",
            "Year-period KPIs per plan year, indicator and status (every year)",
            ["year", "indicator", "status"],
            registry=registry,
        )
        self.year_progress = Gauge(
            "aggregator_year_kpi_progress_ratio",
            "actual / target of each year-period KPI, per plan year, agency and indicator",
            ["year", "agency", "indicator"],
            registry=registry,
        )
        self.reports = Gauge(
            "aggregator_reports", "Reports per status (all periods)", ["status"], registry=registry
        )
        # Names for the dashboards (joined on the code: `* on (agency) group_left (agency_name)`),
        # so panels show "Công an huyện Hướng Hóa", not CA-HUONG-HOA; 1 per entry of the plan.
        self.agency_info = Gauge(
            "aggregator_agency_info",
            "1 per agency of the plan, with its Vietnamese name",
            ["agency", "agency_name"],
            registry=registry,
        )
        self.indicator_info = Gauge(
            "aggregator_indicator_info",
            "1 per indicator of the plan, with its Vietnamese name",
            ["indicator", "indicator_name"],
            registry=registry,
        )

    def name_plan(self, agencies: Iterable[tuple[str, str]], indicators: Iterable[tuple[str, str]]) -> None:
        """The plan's (code, name) pairs of agencies and indicators."""
        for code, name in agencies:
            self.agency_info.labels(code, name).set(1)
        for code, name in indicators:
            self.indicator_info.labels(code, name).set(1)


def observe_ages(histogram: Histogram, stamps_ms: list[int], now: float) -> None:
    """`histogram.observe(max(0, now - ms / 1000))` for every stamp (epoch milliseconds), at one
    increment per bucket: the end-to-end histogram sees every event, `observe` costs ~2 us each,
    and a batch's stamps are mostly distinct. Ages fall as stamps rise, so with the stamps sorted
    each bucket's count is one bisection, with the very comparison `observe` makes (a unit test
    holds the two to the same exposition)."""
    stamps = sorted(stamps_ms)
    counted = 0  # events of age <= the bounds so far
    for bound, bucket in zip(histogram._upper_bounds, histogram._buckets):
        within = len(stamps) - bisect_left(stamps, True, key=lambda ms: max(0.0, now - ms / 1000) <= bound)
        if within > counted:
            bucket.inc(within - counted)
            counted = within
    past = bisect_left(stamps, True, key=lambda ms: now - ms / 1000 < 0)  # later stamps count as 0
    histogram._sum.inc(past * now - sum(stamps[:past]) / 1000)
