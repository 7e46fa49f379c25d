"""Every service's registry exposes `tiendo_build_info{service, version, python} 1`, once."""

from __future__ import annotations

import platform
from importlib.metadata import version

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.aggregator.adapters.metrics import AggregatorMetrics
from services.intake.adapters.metrics import IntakeMetrics
from services.notifier.adapters.metrics import NotifierMetrics
from shared.observability import new_registry

MAKERS = {
    "aggregator": AggregatorMetrics,
    "notifier": NotifierMetrics,
    "intake": IntakeMetrics,
}


def build_info(registry) -> list[tuple[dict[str, str], float]]:
    text = generate_latest(registry).decode()
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "tiendo_build_info"
    ]


@pytest.mark.parametrize("service", sorted(MAKERS))
def test_each_service_says_which_build_answers(service):
    registry = new_registry()
    MAKERS[service](registry)
    assert build_info(registry) == [
        ({"service": service, "version": version("tiendo"), "python": platform.python_version()}, 1.0)
    ]
