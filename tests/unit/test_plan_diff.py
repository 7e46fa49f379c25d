"""`tiendo plan diff OLD NEW`: what an amended plan changes, in the terms the services use."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shared.plan import load_plan
from shared.plan.cli import app
from shared.plan.diff import Change, diff
from tests.unit.test_plan_loader import BROKEN, SHIPPED

TEXT = SHIPPED.read_text(encoding="utf-8")
RULE_FACTOR = "    baseline_year: 2023\n    factor: 1.05\n    sample: true\n    per_agency:\n      CA-TINH:"


def _amended(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = TEXT
    for old, new in edits:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    path = tmp_path / "amended.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_same_plan_changes_nothing() -> None:
    plan = load_plan(SHIPPED)
    assert diff(plan, load_plan(SHIPPED)) == []
    result = CliRunner().invoke(app, ["diff", str(SHIPPED), str(SHIPPED)])
    assert result.exit_code == 0 and result.output.strip() == "Không có thay đổi nào."


def test_a_rule_figure_shows_as_every_target_it_changes(tmp_path: Path) -> None:
    old = load_plan(SHIPPED)
    new = load_plan(_amended(tmp_path, (RULE_FACTOR, RULE_FACTOR.replace("1.05", "1.10"))))
    changes = diff(old, new)
    made = sorted(t.agency for t in old.targets if t.rule == "police-cases-105")
    assert changes[0] == Change("changed", "target_rules", ("police-cases-105",), (("factor", 1.05, 1.1),))
    targets = [c for c in changes if c.section == "targets"]
    assert sorted(c.key[0] for c in targets) == made and len(changes) == 1 + len(made)
    assert all(
        c.fields == (("factor", 1.05, 1.1),) and c.key[1:] == ("drug_cases_detected", "2024") for c in targets
    )


def test_entries_added_removed_and_changed_field_by_field(tmp_path: Path) -> None:
    old = load_plan(SHIPPED)
    new = load_plan(
        _amended(
            tmp_path,
            ("cutoff_day: 14", "cutoff_day: 15"),
            ("name: Huyện đảo Cồn Cỏ", "name: Huyện Cồn Cỏ"),
            (
                "  - {code: DK-TA-RUT, name: Xã Tà Rụt, kind: commune, parent: DAKRONG, valid_to: 2025-06-30, population: 4500}\n",
                "",
            ),
        )
    )
    changes = {(c.kind, c.section, c.name): c.fields for c in diff(old, new)}
    assert changes[("changed", "plan", "cutoff_day")] == (("cutoff_day", 14, 15),)
    assert changes[("changed", "units", "CON-CO")] == (("name", "Huyện đảo Cồn Cỏ", "Huyện Cồn Cỏ"),)
    assert ("removed", "units", "DK-TA-RUT") in changes
    # the reverse diff adds it back
    assert ("added", "units", "DK-TA-RUT") in {(c.kind, c.section, c.name) for c in diff(new, old)}


def test_cli_words_the_figure_to_reach_in_both_languages(tmp_path: Path) -> None:
    amended = _amended(tmp_path, (RULE_FACTOR, RULE_FACTOR.replace("1.05", "1.10")))
    runner = CliRunner()
    vi = runner.invoke(app, ["diff", str(SHIPPED), str(amended)], env={"COLUMNS": "250"})
    assert vi.exit_code == 0, vi.output
    assert "sửa: targets CA-TINH × drug_cases_detected × 2024 — Công an tỉnh Quảng Trị" in vi.output
    assert "(quy tắc police-cases-105)" in vi.output
    assert "mức phải đạt: ≥ 105% × 182 (2023) = 192 vụ → ≥ 110% × 182 (2023) = 201 vụ" in vi.output
    assert vi.output.rstrip().endswith("14 thay đổi")
    en = runner.invoke(app, ["diff", str(SHIPPED), str(amended), "--lang", "en"], env={"COLUMNS": "250"})
    assert "target: ≥ 105% × 182 (2023) = 192 cases → ≥ 110% × 182 (2023) = 201 cases" in en.output
    assert en.output.rstrip().endswith("14 change(s)")


def test_cli_refuses_a_broken_plan_with_its_located_problems() -> None:
    bad = CliRunner().invoke(app, ["diff", str(SHIPPED), str(BROKEN / "several_problems.yaml")])
    assert bad.exit_code == 1 and "several_problems.yaml:21:93: indicators[0].aggregation" in bad.output


def test_a_target_written_out_as_a_row_with_the_rule_s_figure_is_no_change(tmp_path: Path) -> None:
    row = (
        "targets:\n  - {agency: CA-TINH, indicator: drug_cases_detected, period: 2024, kind: baseline_relative,"
        " baseline_year: 2023, baseline_value: 182, factor: 1.05, pace: profile,"
        " profile: [12, 13, 14, 15, 16, 19, 17, 16, 15, 15, 15, 15], sample: true}\n"
    )
    old, new = load_plan(SHIPPED), load_plan(_amended(tmp_path, ("\ntargets:\n", "\n" + row)))
    assert new.target("CA-TINH", "drug_cases_detected", "2024").rule is None  # the row replaced it
    assert diff(old, new) == []
    higher = load_plan(_amended(tmp_path, ("\ntargets:\n", "\n" + row.replace("182", "190"))))
    [change] = diff(old, higher)
    assert change.key == ("CA-TINH", "drug_cases_detected", "2024")
    assert change.fields == (("baseline_value", 182.0, 190.0),)
