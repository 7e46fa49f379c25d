from __future__ import annotations

import pytest

from tests.aggregator.helpers import fresh_database


@pytest.fixture(scope="module")
async def module_db(database_url: str) -> str:
    """A database of its own for each test module, on the session's PostgreSQL."""
    return await fresh_database(database_url)
