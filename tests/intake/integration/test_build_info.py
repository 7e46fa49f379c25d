"""intake's own /metrics, as Prometheus scrapes it, says which build answers."""

from __future__ import annotations

import platform
from importlib.metadata import version

from .test_metrics_and_openapi import samples


async def test_metrics_carry_the_build_info(service):
    info = [s for s in await samples(service) if s.name == "tiendo_build_info"]
    assert [(s.labels, s.value) for s in info] == [
        ({"service": "intake", "version": version("tiendo"), "python": platform.python_version()}, 1.0)
    ]
