"""Every service listens on loopback unless told otherwise; compose tells each one 0.0.0.0."""

from __future__ import annotations

import pytest
import yaml

from services.aggregator.settings import AggregatorSettings
from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from shared.infra._process import REPO_ROOT

SERVICES = {"intake": IntakeSettings, "aggregator": AggregatorSettings, "notifier": NotifierSettings}


@pytest.mark.parametrize("name", SERVICES)
def test_the_default_bind_address_is_loopback(name, monkeypatch):
    cls = SERVICES[name]
    monkeypatch.delenv(f"{name.upper()}_HTTP_HOST", raising=False)
    required = {
        "DATABASE_URL": "postgresql+asyncpg://x@localhost/x",
        "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
    }
    if cls is NotifierSettings:
        required["NOTIFIER_ACK_SECRET"] = "0123456789abcdef0123456789abcdef"
    assert cls(**required).http_host == "127.0.0.1"
    assert cls(**required, **{f"{name.upper()}_HTTP_HOST": "0.0.0.0"}).http_host == "0.0.0.0"


def test_compose_opens_every_service_inside_its_container():
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    for name in SERVICES:
        assert compose["services"][name]["environment"][f"{name.upper()}_HTTP_HOST"] == "0.0.0.0", name
