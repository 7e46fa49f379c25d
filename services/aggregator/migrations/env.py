"""Alembic environment of the aggregator service (schema `aggregator`)."""

from shared.migrations_env import run

run(target_metadata=None)
