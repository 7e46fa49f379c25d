"""The `tiendo` command's answer to ordinary mistakes: one line on stderr saying what is wrong and
how to fix it, a non-zero exit, never a traceback (issue 18's table)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql+asyncpg://tiendo@127.0.0.1:1/tiendo"
CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TIENDO_PLAN_FILE", "TIENDO_DEBUG")
}
CLEAN["TIENDO_STATE_DIR"] = "/nonexistent/tiendo-state"  # no local stack, unless a test records one


def tiendo(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", *args],
        cwd=ROOT,
        env={**CLEAN, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


CASES = [
    # (what, arguments, environment, words of the one line)
    (
        "database not answering",
        ["agency", "token", "create", "CA-TINH"],
        {"DATABASE_URL": UNREACHABLE},
        "PostgreSQL does not answer",
    ),
    (
        "postgresql:// URL",
        ["agency", "token", "list", "CA-TINH"],
        {"DATABASE_URL": UNREACHABLE.replace("+asyncpg", "")},
        "postgresql+asyncpg://",
    ),
    (
        "unknown database host",
        ["db", "upgrade"],
        {"DATABASE_URL": "postgresql+asyncpg://t@no-such-host.invalid/t"},
        "host is unknown",
    ),
    ("no DATABASE_URL", ["agency", "token", "create", "CA-TINH"], {}, "DATABASE_URL"),
    (
        "bad TIENDO_PLAN_FILE",
        ["agency", "token", "create", "CA-TINH"],
        {"DATABASE_URL": UNREACHABLE, "TIENDO_PLAN_FILE": "/no/such/plan.yaml"},
        "cannot read the plan file",
    ),
    (
        "rebuild without its environment",
        ["aggregator", "rebuild"],
        {},
        "set DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS",
    ),
    (
        "unknown agency",
        ["agency", "token", "create", "NOPE"],
        {"DATABASE_URL": UNREACHABLE},
        "is not an agency of",
    ),
    ("missing argument", ["agency", "token", "create"], {}, "Missing argument"),
    ("unknown command", ["agencies"], {}, "No such command"),
    ("stack up with a date for --now", ["stack", "up", "--now", "2024-06-20"], {}, "needs a UTC offset"),
]


@pytest.mark.parametrize("what, args, env, words", CASES, ids=[c[0] for c in CASES])
def test_an_ordinary_mistake_is_one_line(what, args, env, words):
    result = tiendo(*args, **env)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("tiendo: ") and words in lines[0], lines[0]


def test_version():
    result = tiendo("--version")
    assert result.returncode == 0 and result.stdout.startswith("tiendo "), result


def test_a_fault_of_tiendo_keeps_its_traceback_under_tiendo_debug():
    result = tiendo("agency", "token", "create", "CA-TINH", DATABASE_URL=UNREACHABLE, TIENDO_DEBUG="1")
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["agency", "token", "create", "CA-TINH"], ["db", "upgrade"], ["aggregator", "rebuild"]],
    ids=["agency", "db", "rebuild"],
)
def test_without_option_or_environment_the_local_stack_names_the_database(tmp_path, args):
    """Option, then environment, then the running local stack's record: here the record names a
    database that does not answer, and the command says so (it did look there)."""
    (tmp_path / "stack.json").write_text(
        json.dumps({"database_url": UNREACHABLE, "kafka_bootstrap": "127.0.0.1:1"})
    )
    result = tiendo(*args, TIENDO_STATE_DIR=str(tmp_path))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "PostgreSQL does not answer" in lines[0] and "127.0.0.1', 1" in lines[0], lines[0]


def test_no_database_anywhere_names_the_three_ways(tmp_path):
    result = tiendo("agency", "token", "create", "CA-TINH", TIENDO_STATE_DIR=str(tmp_path))
    assert (
        "DATABASE_URL" in result.stderr and "--database-url" in result.stderr and "stack up" in result.stderr
    )


def test_stack_up_while_a_stack_runs_is_one_line_and_starts_nothing(tmp_path):
    running = {"components": {"postgres": {"pid": os.getpid()}}}  # a live process: this test's
    (tmp_path / "stack.json").write_text(json.dumps(running))
    result = tiendo("stack", "up", TIENDO_STATE_DIR=str(tmp_path))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "a stack is already running" in lines[0] and "tiendo stack down" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.json"]
