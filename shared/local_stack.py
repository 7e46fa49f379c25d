"""What the running local stack recorded (`tiendo stack up` writes .tiendo/stack.json, `down`
removes it): the last place a command looks for its database or broker, after its option and
the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shared.infra._process import REPO_ROOT
from shared.kafka import KafkaCredentials, kafka_credentials

STATE_DIR = Path(os.environ.get("TIENDO_STATE_DIR", REPO_ROOT / ".tiendo"))
NOT_FOUND = "start the local stack (`tiendo stack up`)"


def recorded(key: str) -> str | None:
    """`database_url` or `kafka_bootstrap` of the running local stack, if one is recorded."""
    try:
        value = json.loads((STATE_DIR / "stack.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def stack_environment() -> dict[str, str]:
    """DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS from the local stack, for those the environment lacks."""
    found = {"DATABASE_URL": recorded("database_url"), "KAFKA_BOOTSTRAP_SERVERS": recorded("kafka_bootstrap")}
    return {name: value for name, value in found.items() if value and not os.environ.get(name)}


def kafka_admin() -> KafkaCredentials | None:
    """The broker's admin principal: the environment's (KAFKA_SASL_*), else the local stack's."""
    credentials = kafka_credentials()
    if credentials is not None:
        return credentials
    secret = recorded("kafka_admin_secret")
    if secret and Path(secret).is_file():
        return KafkaCredentials("admin", Path(secret).read_text().strip())
    return None
