"""Every service listens on loopback unless told otherwise; compose tells each one 0.0.0.0.
What must not reach the network (Mailpit's live acknowledgement links, Prometheus without
authentication) is published on the host's loopback only; Prometheus has no lifecycle API."""

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


@pytest.mark.parametrize("name", ["mailpit", "prometheus"])
def test_unauthenticated_tools_are_published_on_loopback_only(name):
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    ports = compose["services"][name]["ports"]
    assert ports, name
    for port in ports:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_prometheus_has_no_lifecycle_api():
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    command = compose["services"]["prometheus"]["command"]
    assert not any("enable-lifecycle" in part or "enable-admin-api" in part for part in command), command
