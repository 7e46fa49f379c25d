"""Amendments (issue 20): a target changed from a date on, with its own id and reason; before that
day the target stands as it was. Broken amendments are named at their line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.plan import PlanError, load_plan
from shared.plan.book import load_plans
from shared.plan.cli import app
from shared.settings import DEFAULT_PLAN
from tests.plans import AMENDMENT, RENAMING, amended_text


def _amended(tmp_path: Path, text: str = AMENDMENT) -> Path:
    path = tmp_path / "amended.yaml"
    path.write_text(amended_text(text), encoding="utf-8")
    return path


def test_a_target_is_the_amended_one_from_its_day_and_the_plans_own_before(tmp_path: Path) -> None:
    plan = load_plan(_amended(tmp_path))
    july, august = date(2024, 7, 31), date(2024, 8, 1)
    key = ("CA-HUONG-HOA", "drug_cases_detected", "2024")
    before, after = plan.target_on(july, *key), plan.target_on(august, *key)
    assert (before.factor, before.amendment) == (1.05, None)
    assert (after.factor, after.amendment) == (1.1, "QD-15-2024")
    assert after.baseline_value == before.baseline_value == 47  # only the field the change sets
    # two changes of one amendment on one target: both apply, in order
    tinh = plan.target_on(august, "CA-TINH", "drug_cases_detected", "2024")
    assert (tinh.factor, tinh.baseline_value) == (1.1, 190)
    assert [(since, t.amendment) for since, t in plan.target_versions(*key)] == [
        (None, None),
        (august, "QD-15-2024"),
    ]
    # the plan's own list is not rewritten, and the index answers by day
    assert plan.target(*key).factor == 1.05
    on_day = {t.indicator: t.factor for t in plan.index.targets_on(august, "CA-HUONG-HOA")}
    assert on_day["drug_cases_detected"] == 1.1
    untouched = {t.indicator for t in plan.index.targets_on(august, "CA-HUONG-HOA")} - {"drug_cases_detected"}
    assert all(
        t.amendment is None for t in plan.index.targets_on(august, "CA-HUONG-HOA") if t.indicator in untouched
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            "{rule: police-cases-150, factor: 1.1}",
            "changes[0].rule",
            "unknown target rule 'police-cases-150'",
        ),
        (
            "{agency: CA-TINH, indicator: drug_cases_detected, period: 2024-06, factor: 1.1}",
            "changes[0]",
            "the plan has no target CA-TINH × drug_cases_detected × 2024-06",
        ),
        ("{rule: police-cases-105}", "changes[0]", "a change sets no field of its target(s)"),
        ("{rule: police-cases-105, value: 60}", "changes[0].value", "not used by baseline_relative targets"),
        ("{rule: police-cases-105, factor: -1}", "changes[0].factor", "greater than 0"),
        ("{agency: CA-TINH, factor: 1.1}", "changes[0].indicator", "a change names a rule, or a target"),
    ],
)
def test_a_broken_change_is_named_at_its_line_and_field(
    tmp_path: Path, change: str, field: str, message: str
) -> None:
    text = AMENDMENT.split("    changes:")[0] + f"    changes:\n      - {change}\n"
    path = _amended(tmp_path, text)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    issues = [i for i in err.value.errors if i.field.startswith("amendments[0]")]
    assert issues, err.value.errors
    line = DEFAULT_PLAN.read_text(encoding="utf-8").count("\n") + text.count("\n")  # the change's line
    assert any(
        i.field == f"amendments[0].{field}" and message in i.message and i.path.split(":")[1] == str(line)
        for i in issues
    ), [(i.path, i.field, i.message) for i in issues]


def test_an_amendment_outside_the_plan_year_or_given_twice_is_refused(tmp_path: Path) -> None:
    late = AMENDMENT.replace("2024-08-01", "2025-01-10")
    twice = late + AMENDMENT.split("amendments:\n")[1].replace("2024-08-01", "2024-09-01")
    with pytest.raises(PlanError) as err:
        load_plan(_amended(tmp_path, twice))
    found = {(i.field, i.message) for i in err.value.errors}
    assert (
        "amendments[0].effective",
        "2025-01-10 is outside the plan year (2023-12-15..2024-12-14)",
    ) in found
    assert ("amendments[1].id", "a second amendment 'QD-15-2024'") in found


def test_plan_diff_shows_what_an_amendment_changes_target_by_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["diff", str(DEFAULT_PLAN), str(_amended(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    head = next(i for i, line in enumerate(lines) if "amendments QD-15-2024" in line)
    assert "có hiệu lực từ ngày 01/08/2024: Quyết định số 15/QĐ-BCĐ" in lines[head]
    changed = [line for line in lines[head + 1 :] if line.startswith("    ")]
    assert len(changed) == 13  # every target of the rule
    hướng_hóa = next(line for line in changed if "Công an huyện Hướng Hóa" in line)
    assert "≥ 105% × 47 (2023) = 50 vụ → ≥ 110% × 47 (2023) = 52 vụ" in hướng_hóa
    tỉnh = next(line for line in changed if "Công an tỉnh" in line)
    assert "→ ≥ 110% × 190 (2023) = 209 vụ" in tỉnh


#: a commune committee set up on 1 September 2024 with its own target, and a target added to the
#: Đakrông district committee (sample Decision 21)
ADDING = """
amendments:
  - id: QD-21-2024
    effective: 2024-09-01
    reason: Quyết định số 21/QĐ-BCĐ bổ sung cơ quan và chỉ tiêu
    changes:
      - {agency: UBND-DAKRONG, indicator: propaganda_participants, period: 2024-H2, kind: absolute, value: 900}
      - {agency: UBND-TA-RUT, indicator: propaganda_sessions, period: 2024-Q4, kind: absolute, value: 2}
"""
NEW_AGENCY = """
  - code: UBND-TA-RUT
    name_vi: Ủy ban nhân dân xã Tà Rụt
    name_en: Ta Rut Commune People's Committee
    unit: DK-TA-RUT
    kind: commune_committee
    parent: UBND-DAKRONG
    valid_from: 2024-09-01
    amendment: QD-21-2024
"""
NEW_RULE = "  - {agency: UBND-TA-RUT, frequency: monthly, submission_days_after_cutoff: 1, indicators: *commune_committee}\n"


def _adding(tmp_path: Path, agency: str = NEW_AGENCY, amendment: str = ADDING) -> Path:
    text = amended_text(amendment)
    text = text.replace(
        "\n# ---------------------------------------------------------------------------------------------\n# Indicators",
        agency
        + "\n# ---------------------------------------------------------------------------------------------\n# Indicators",
        1,
    )
    text = text.replace(
        "\n# ---------------------------------------------------------------------------------------------\n# Target rules",
        "\n"
        + NEW_RULE
        + "\n# ---------------------------------------------------------------------------------------------\n# Target rules",
        1,
    )
    path = tmp_path / "adding.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_amendment_adds_targets_and_an_agency_from_its_day(tmp_path: Path) -> None:
    plan = load_plan(_adding(tmp_path))
    august, september = date(2024, 8, 31), date(2024, 9, 1)
    key = ("UBND-DAKRONG", "propaganda_participants", "2024-H2")
    assert plan.target_on(august, *key) is None  # not a target before its day
    added = plan.target_on(september, *key)
    assert (added.value, added.amendment) == (900, "QD-21-2024")
    assert [(since, t.amendment) for since, t in plan.target_versions(*key)] == [(september, "QD-21-2024")]
    assert key not in {
        (t.agency, t.indicator, t.period) for t in plan.index.targets_on(august, "UBND-DAKRONG")
    }
    assert key in {
        (t.agency, t.indicator, t.period) for t in plan.index.targets_on(september, "UBND-DAKRONG")
    }
    # the new committee reports from the first period whose window ends on or after its day
    assert [str(p) for p in plan.reporting_periods("UBND-TA-RUT")] == [
        "2024-09",
        "2024-10",
        "2024-11",
        "2024-12",
    ]
    result = CliRunner().invoke(app, ["diff", str(DEFAULT_PLAN), str(_adding(tmp_path))])
    assert result.exit_code == 0, result.output
    assert (
        "Ủy ban nhân dân huyện Đakrông, Số lượt người tham dự tuyên truyền phòng, chống ma túy"
        in result.output
    )
    assert "thêm: agencies UBND-TA-RUT" in result.output
    assert (
        "Ủy ban nhân dân huyện Đakrông, Số lượt người tham dự tuyên truyền phòng, chống ma túy, 6 tháng cuối năm 2024: ≥ 900 lượt người"
        in result.output
    )


@pytest.mark.parametrize(
    ("agency", "amendment", "field", "message"),
    [
        (NEW_AGENCY.replace("valid_from: 2024-09-01", "valid_from: 2024-10-01"), ADDING, "agencies[35].valid_from",
         "an entry of amendment QD-21-2024 is in force from its day: valid_from: 2024-09-01"),
        (NEW_AGENCY.replace("amendment: QD-21-2024", "amendment: QD-22-2024"), ADDING, "agencies[35].amendment",
         "unknown amendment 'QD-22-2024' (did you mean 'QD-21-2024'?)"),
        (NEW_AGENCY, ADDING.replace("indicator: propaganda_sessions, period: 2024-Q4", "indicator: propaganda_sessions, period: 2024-Q2"),
         "amendments[0].changes[1].period", "UBND-TA-RUT is in force only from 2024-09-01: it makes no report for 2024-Q2"),
        (NEW_AGENCY, ADDING.replace("agency: UBND-DAKRONG, indicator: propaganda_participants", "agency: UBND-DAKRONGX, indicator: propaganda_participants"),
         "amendments[0].changes[0].agency", "unknown agency 'UBND-DAKRONGX'"),
        (NEW_AGENCY, ADDING.replace("period: 2024-H2, kind: absolute", "period: 2024, kind: absolute").replace("UBND-DAKRONG, indicator: propaganda_participants", "CA-HUONG-HOA, indicator: drug_cases_detected"),
         "amendments[0].changes[0].kind", "the plan already has a target CA-HUONG-HOA × drug_cases_detected × 2024"),
    ],
)  # fmt: skip
def test_a_broken_addition_is_named_at_its_field(tmp_path: Path, agency, amendment, field, message) -> None:
    with pytest.raises(PlanError) as err:
        load_plan(_adding(tmp_path, agency, amendment))
    assert any(i.field == field and message in i.message for i in err.value.errors), [
        (i.field, i.message) for i in err.value.errors
    ]


def test_a_rename_keeps_the_code_and_names_the_entry_as_it_was_on_each_day(tmp_path: Path) -> None:
    plan = load_plan(_amended(tmp_path, RENAMING))
    september, october = date(2024, 9, 30), date(2024, 10, 1)
    agency = plan.agency("STTTT")
    assert agency.display_name("vi", september) == "Sở Thông tin và Truyền thông"
    assert agency.display_name("vi", october) == "Sở Khoa học, Công nghệ và Truyền thông"
    assert agency.display_name("en", october) == "Department of Science, Technology and Communications"
    assert agency.display_name("vi") == "Sở Khoa học, Công nghệ và Truyền thông"  # as it is now
    unit = plan.unit("DK-KRONG-KLANG")
    assert (unit.name_on(september), unit.name_on(october), unit.name_on()) == (
        "Thị trấn Krông Klang",
        "Xã Krông Klang",
        "Xã Krông Klang",
    )
    # the code and everything keyed by it stand: the same targets, the same reporting
    shipped = load_plan(DEFAULT_PLAN)
    assert plan.targets_for("STTTT") == shipped.targets_for("STTTT")
    assert plan.index.reporting_periods("STTTT") == shipped.index.reporting_periods("STTTT")
    assert plan.index.agency("STTTT").display_name("vi", september) == "Sở Thông tin và Truyền thông"


def test_the_notifier_names_a_renamed_agency_as_it_was_on_the_digests_day(tmp_path: Path) -> None:
    from services.notifier.adapters.plan_directory import directory_from_plan

    directory = directory_from_plan(load_plan(_amended(tmp_path, RENAMING)))
    agency = directory.agency("STTTT")
    assert agency.name("vi", date(2024, 9, 30)) == "Sở Thông tin và Truyền thông"
    assert agency.name("en", date(2024, 10, 1)) == "Department of Science, Technology and Communications"


@pytest.mark.parametrize(
    ("rename", "field", "message"),
    [
        ("{agency: SO-KHONG-CO, name_vi: X}", "renames[0].agency", "unknown agency 'SO-KHONG-CO'"),
        ("{unit: DK-KRONG-KLAN, name: X}", "renames[0].unit", "did you mean 'DK-KRONG-KLANG'?"),
        ("{agency: STTTT, unit: DK-A-NGO, name_vi: X}", "renames[0]", "names an agency or a unit"),
        ("{agency: STTTT, name: X}", "renames[0]", "gives its name_vi"),
        ("{unit: DK-A-NGO, name_vi: X}", "renames[0]", "gives its name, not name_vi"),
        (
            "{agency: STTTT, name_vi: Sở Thông tin và Truyền thông}",
            "renames[0].name_vi",
            "STTTT is already named 'Sở Thông tin và Truyền thông'",
        ),
        ("{unit: DK-A-NGO, name: Xã A Ngo}", "renames[0].name", "DK-A-NGO is already named 'Xã A Ngo'"),
    ],
)
def test_a_broken_rename_is_named_at_its_line_and_field(
    tmp_path: Path, rename: str, field: str, message: str
) -> None:
    text = RENAMING.split("    renames:")[0] + f"    renames:\n      - {rename}\n"
    with pytest.raises(PlanError) as err:
        load_plan(_amended(tmp_path, text))
    line = DEFAULT_PLAN.read_text(encoding="utf-8").count("\n") + text.count("\n")  # the rename's line
    assert any(
        i.field == f"amendments[0].{field}" and message in i.message and i.path.split(":")[1] == str(line)
        for i in err.value.errors
    ), err.value.errors


def test_an_amendment_that_changes_nothing_is_refused(tmp_path: Path) -> None:
    text = RENAMING.split("    renames:")[0]
    with pytest.raises(PlanError) as err:
        load_plan(_amended(tmp_path, text))
    assert any("changes targets (`changes`) or renames (`renames`)" in i.message for i in err.value.errors)


def test_plan_diff_and_show_name_a_rename_with_its_day(tmp_path: Path) -> None:
    path = _amended(tmp_path, RENAMING)
    diffed = CliRunner().invoke(app, ["diff", str(DEFAULT_PLAN), str(path)])
    assert diffed.exit_code == 0, diffed.output
    assert (
        "đổi tên Sở Thông tin và Truyền thông thành Sở Khoa học, Công nghệ và Truyền thông "
        "từ ngày 01/10/2024 (QD-30-2024)"
    ) in diffed.output
    assert "đổi tên Thị trấn Krông Klang thành Xã Krông Klang từ ngày 01/10/2024" in diffed.output
    shown = CliRunner().invoke(app, ["show", str(path), "--agency", "STTTT", "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert (
        "Department of Information and Communications renamed Department of Science, "
        "Technology and Communications from 01/10/2024 (QD-30-2024)"
    ) in " ".join(shown.output.split())
    assert "Krông Klang" not in shown.output  # another agency's unit: not this agency's rename


def test_a_rename_of_an_entry_not_in_force_on_its_day_is_refused(tmp_path: Path) -> None:
    """The 2025 plan: the district police end on 30 June 2025, so they cannot be renamed in August."""
    folder = tmp_path / "plans"
    folder.mkdir()
    for shipped in DEFAULT_PLAN.parent.glob("*.yaml"):
        (folder / shipped.name).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / "quang-tri-2025.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + "\namendments:\n  - id: QD-40-2025\n    effective: 2025-08-01\n    reason: mẫu\n"
        "    renames:\n      - {agency: CA-DONG-HA, name_vi: Công an phường Đông Hà}\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as err:
        load_plans(folder)
    assert any(
        i.field == "amendments[0].renames[0].agency"
        and "CA-DONG-HA is not in force on 2025-08-01: it ends on 2025-06-30" in i.message
        for i in err.value.errors
    ), err.value.errors
