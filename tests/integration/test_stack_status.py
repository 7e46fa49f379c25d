"""`tiendo stack status` asks PostgreSQL as PostgreSQL: ready when it answers a query, "not
answering" when it does not (issue 18: it used to be reported not answering while it ran)."""

from __future__ import annotations

import json
import os

import pytest

from shared.stack import StackPaths, status

pytestmark = pytest.mark.infra


def recorded(tmp_path, url: str) -> StackPaths:
    paths = StackPaths(tmp_path)
    paths.state.parent.mkdir(parents=True, exist_ok=True)
    # a live pid (this test's) so the row is "running" and the database is asked
    paths.state.write_text(json.dumps({"components": {"postgres": {"pid": os.getpid(), "url": url}}}))
    return paths


def test_a_running_postgres_is_ready(tmp_path, database_url):
    assert status(recorded(tmp_path, database_url)) == [("postgres", "ready", database_url)]


def test_a_postgres_that_does_not_answer_says_so(tmp_path):
    url = "postgresql+asyncpg://tiendo@127.0.0.1:1/tiendo"
    assert status(recorded(tmp_path, url)) == [("postgres", "not answering", url)]
