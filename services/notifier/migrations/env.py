"""Alembic environment of the notifier service (schema `notifier`)."""

from shared.migrations_env import run

run(target_metadata=None)
