"""Alembic environment of the intake service (schema `intake`)."""

from shared.migrations_env import run

run(target_metadata=None)
