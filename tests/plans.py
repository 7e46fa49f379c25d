"""Plans for tests made from the shipped one: a second plan year (the 2024 plan moved on by a year:
every 2024 date and period to 2025, its 2023 baselines to 2024), and the 2024 plan with an
amendment. Nobody wrote these plans; they let the services be tried with two plans loaded and
with an amended plan (the real 2025 plan, with the two-tier reform, is issue 20's)."""

from __future__ import annotations

import re
import tempfile
from functools import cache
from pathlib import Path

from shared.plan import Plan, load_plan
from shared.settings import DEFAULT_PLAN

NEXT_YEAR_CODE = "TEST-2025"


def next_year_text(*, recorded_baselines: bool = False) -> str:
    """With `recorded_baselines`, the police's "≥ 105 % of last year's cases" rule takes last
    year's figure as Tiendo recorded it (`baseline_value: recorded`) instead of typed-in numbers."""
    text = DEFAULT_PLAN.read_text(encoding="utf-8").replace("2024", "2025").replace("2023", "2024")
    text = text.replace("code: 29/KH-BCĐ", f"code: {NEXT_YEAR_CODE}", 1)
    if recorded_baselines:
        start = text.index("  - id: police-cases-105")
        end = text.index("\n\n", start)
        rule = re.sub(r"\{baseline_value: \d+(, )?", "{", text[start:end])
        rule = rule.replace(
            "    baseline_year: 2024\n", "    baseline_year: 2024\n    baseline_value: recorded\n"
        )
        text = text[:start] + rule + text[end:]
    return text


def two_plan_folder(folder: Path, *, recorded_baselines: bool = False) -> Path:
    """`folder` holding the shipped 2024 plan and its test successor (TIENDO_PLAN_FILE for services)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEFAULT_PLAN.name).write_text(DEFAULT_PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    text = next_year_text(recorded_baselines=recorded_baselines)
    (folder / "test-2025.yaml").write_text(text, encoding="utf-8")
    return folder


@cache
def next_year_plan(*, recorded_baselines: bool = False) -> Plan:
    with tempfile.TemporaryDirectory() as folder:
        return load_plan(
            two_plan_folder(Path(folder), recorded_baselines=recorded_baselines) / "test-2025.yaml"
        )


#: raises the police's drug-crime target from 105 % to 110 % of 2023 from 1 August 2024, and the
#: provincial police's 2023 baseline to 190
AMENDMENT = """
amendments:
  - id: QD-15-2024
    effective: 2024-08-01
    reason: Quyết định số 15/QĐ-BCĐ nâng chỉ tiêu phát hiện tội phạm về ma túy
    changes:
      - {rule: police-cases-105, factor: 1.1}
      - {agency: CA-TINH, indicator: drug_cases_detected, period: 2024, baseline_value: 190}
"""


def amended_text(amendments: str = AMENDMENT) -> str:
    return DEFAULT_PLAN.read_text(encoding="utf-8") + amendments


@cache
def amended_plan(amendments: str = AMENDMENT) -> Plan:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "amended.yaml"
        path.write_text(amended_text(amendments), encoding="utf-8")
        return load_plan(path)


#: the information department renamed, and a township renamed, from 1 October 2024 (a sample
#: decision; both keep their codes, so their figures, targets and alerts go on unbroken)
RENAMING = """
amendments:
  - id: QD-30-2024
    effective: 2024-10-01
    reason: Quyết định số 30/QĐ-BCĐ (mẫu) về tên gọi của cơ quan, đơn vị
    renames:
      - {agency: STTTT, name_vi: "Sở Khoa học, Công nghệ và Truyền thông", name_en: "Department of Science, Technology and Communications"}
      - {unit: DK-KRONG-KLANG, name: Xã Krông Klang}
"""


def renamed_plan() -> Plan:
    return amended_plan(RENAMING)
