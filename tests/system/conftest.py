"""Fault-suite plumbing: the scenarios' one-line verdicts are repeated in the terminal summary."""

from __future__ import annotations

VERDICTS: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if VERDICTS:
        terminalreporter.section("fault-suite verdicts")
        for line in VERDICTS:
            terminalreporter.write_line(line)
