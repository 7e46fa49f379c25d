"""A second plan year for tests: the shipped 2024 plan moved on by a year (every 2024 date and
period to 2025, its 2023 baselines to 2024). Nobody wrote this plan; it only lets the services be
tried with two plans loaded (the real 2025 plan, with the two-tier reform, is issue 20's)."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from shared.plan import Plan, load_plan
from shared.settings import DEFAULT_PLAN

NEXT_YEAR_CODE = "TEST-2025"


def next_year_text() -> str:
    text = DEFAULT_PLAN.read_text(encoding="utf-8").replace("2024", "2025").replace("2023", "2024")
    return text.replace("code: 29/KH-BCĐ", f"code: {NEXT_YEAR_CODE}", 1)


def two_plan_folder(folder: Path) -> Path:
    """`folder` holding the shipped 2024 plan and its test successor (TIENDO_PLAN_FILE for services)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEFAULT_PLAN.name).write_text(DEFAULT_PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "test-2025.yaml").write_text(next_year_text(), encoding="utf-8")
    return folder


@cache
def next_year_plan() -> Plan:
    with tempfile.TemporaryDirectory() as folder:
        return load_plan(two_plan_folder(Path(folder)) / "test-2025.yaml")
