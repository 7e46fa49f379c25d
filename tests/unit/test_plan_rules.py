"""Target rules (issue 20): a target for every agency of a kind, expanded into flat targets, with
per-agency figures, exclusions, explicit rows winning, and every mistake located in the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.plan import PlanError, Target, load_plan
from shared.plan.cli import app

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "plans" / "quang-tri-2024.yaml"
# The shipped plan as it was before it had rules (git show b0b1bf3:plans/quang-tri-2024.yaml):
# every target it made, the plan with rules must still make, unchanged.
FLAT = Path(__file__).parent / "plan_fixtures" / "quang-tri-2024-flat.yaml"

BASE = """\
code: T-1
title: Rules test plan
year: 2024
sample_data_note: every figure is a sample
units:
  - {code: P, name: Province, kind: province}
  - {code: D1, name: District 1, kind: district, parent: P}
  - {code: D2, name: District 2, kind: district, parent: P}
  - {code: C1, name: Commune 1, kind: commune, parent: D1}
agency_kinds:
  - {code: district_police, name_vi: Công an cấp huyện, name_en: District police}
  - {code: commune_committee, name_vi: Ủy ban nhân dân cấp xã, name_en: Commune committee}
  - {code: customs, name_vi: Hải quan, name_en: Customs}
agencies:
  - {code: SC, name_vi: Ban Chỉ đạo, name_en: Committee, unit: P, is_steering_committee: true}
  - {code: POL1, name_vi: Công an huyện 1, name_en: Police 1, unit: D1, parent: SC, kind: district_police}
  - {code: POL2, name_vi: Công an huyện 2, name_en: Police 2, unit: D2, parent: SC, kind: district_police}
  - {code: UB1, name_vi: UBND xã 1, name_en: Commune 1, unit: C1, parent: SC, kind: commune_committee}
indicators:
  - {code: cases, name_vi: Số vụ, name_en: Cases, unit_vi: vụ, unit_en: cases, aggregation: sum, max_value: 1000}
  - {code: sessions, name_vi: Số buổi, name_en: Sessions, unit_vi: buổi, unit_en: sessions, aggregation: sum, max_value: 99}
reporting:
  - {agency: POL1, frequency: monthly, indicators: [cases], submission_days_after_cutoff: 1}
  - {agency: POL2, frequency: monthly, indicators: [cases], submission_days_after_cutoff: 1}
  - {agency: UB1, frequency: monthly, indicators: [sessions], submission_days_after_cutoff: 1}
target_rules:
  - id: cases-105
    applies_to: district_police
    indicator: cases
    period: 2024
    kind: baseline_relative
    baseline_year: 2023
    factor: 1.05
    per_agency:
      POL1: {baseline_value: 40}
      D2: {baseline_value: 20}
  - id: sessions-monthly
    applies_to: commune_committee
    indicator: sessions
    every: month
    kind: absolute
    value: 1
targets: []
"""
SESSIONS_RULE = BASE[BASE.index("  - id: sessions-monthly") : BASE.index("targets: []")]


def _write(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    text = BASE
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _where(path: Path, needle: str, at: str) -> str:
    """file:line:col of the first line holding `needle` (`A>>B`: the first B after A), at the
    column where `at` starts in it: the tests name text, not line numbers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    *before, needle = needle.split(">>")
    for text in before:
        start = next(n for n in range(start, len(lines)) if text in lines[n]) + 1
    line = next(n for n in range(start, len(lines)) if needle in lines[n])
    return f"{path}:{line + 1}:{lines[line].index(at) + 1}"


def _issues(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return [(i.path, i.field, i.message) for i in info.value.errors]


def _key(t: Target) -> tuple[str, str, str]:
    return (t.agency, t.indicator, t.period)


# -- expansion ------------------------------------------------------------------------------------


def test_a_rule_makes_one_target_per_agency_and_period_naming_the_rule(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path))
    assert [(_key(t), t.rule) for t in plan.targets[:2]] == [
        (("POL1", "cases", "2024"), "cases-105"),
        (("POL2", "cases", "2024"), "cases-105"),  # `D2` is POL2's unit: a unit names its agency
    ]
    assert [t.baseline_value for t in plan.targets[:2]] == [40, 20]
    assert [t.target_value() for t in plan.targets[:2]] == pytest.approx([42, 21])
    sessions = plan.targets[2:]
    assert [t.period for t in sessions] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert {(t.agency, t.kind, t.value, t.rule) for t in sessions} == {
        ("UB1", "absolute", 1, "sessions-monthly")
    }
    # the flat lookups the services use see the rules' targets like any other
    assert plan.target("UB1", "sessions", "2024-03") == sessions[2]
    assert plan.targets_for(agency="POL2") == [plan.targets[1]]
    assert plan.indicators_for("UB1") == {"sessions"}


def test_an_explicit_row_replaces_the_rules_target_for_its_agency_indicator_and_period(
    tmp_path: Path,
) -> None:
    row = "targets:\n  - {agency: UB1, indicator: sessions, period: 2024-06, kind: absolute, value: 3}\n"
    plan = load_plan(_write(tmp_path, ("targets: []\n", row)))
    june = plan.target("UB1", "sessions", "2024-06")
    assert june is not None and (june.value, june.rule) == (3, None)
    assert len(plan.targets) == 2 + 12 and plan.targets[-1] == june  # rules' targets first, then rows
    assert [t.period for t in plan.targets_for(agency="UB1")].count("2024-06") == 1
    [(replaced, index)] = plan.replaced_by_rows("sessions-monthly")
    assert (_key(replaced), replaced.value, replaced.rule, index) == (
        ("UB1", "sessions", "2024-06"),
        1,
        "sessions-monthly",
        0,
    )


def test_per_agency_fields_replace_the_rules_and_exclude_and_within_narrow_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ("    factor: 1.05\n", "    factor: 1.05\n    baseline_value: 10\n"),
        ("      POL1: {baseline_value: 40}\n", "      POL1: {baseline_value: 40, factor: 1.1}\n"),
        ("      D2: {baseline_value: 20}\n", ""),
    )
    plan = load_plan(path)
    assert [(t.agency, t.baseline_value, t.factor) for t in plan.targets[:2]] == [
        ("POL1", 40, 1.1),
        ("POL2", 10, 1.05),
    ]
    plan = load_plan(
        _write(
            tmp_path,
            ("      D2: {baseline_value: 20}\n", ""),
            ("    per_agency:\n", "    exclude: [D2]\n    per_agency:\n"),
        )
    )
    assert [t.agency for t in plan.targets if t.rule == "cases-105"] == ["POL1"]
    plan = load_plan(
        _write(
            tmp_path,
            ("      D2: {baseline_value: 20}\n", ""),
            ("    per_agency:\n", "    within: D1\n    per_agency:\n"),
        )
    )
    assert [t.agency for t in plan.targets if t.rule == "cases-105"] == ["POL1"]
    plan = load_plan(
        _write(tmp_path, ("applies_to: commune_committee", "applies_to: [commune_committee, customs]"))
    )
    assert {t.agency for t in plan.targets if t.rule == "sessions-monthly"} == {"UB1"}


# -- broken plans: line and field of every mistake in a rule --------------------------------------

RULE_0, RULE_1 = "  - id: cases-105", "  - id: sessions-monthly"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            [("applies_to: district_police", "applies_to: district_polic")],
            [("applies_to: district_polic", "district_polic", "target_rules[0].applies_to",
              "unknown agency kind 'district_polic' (did you mean 'district_police'?)")],
            id="unknown-kind",
        ),
        pytest.param(
            [("applies_to: commune_committee", "applies_to: [commune_committee, commune_comitee]")],
            [("commune_comitee]", "commune_comitee", "target_rules[1].applies_to[1]",
              "unknown agency kind 'commune_comitee' (did you mean 'commune_committee'?)")],
            id="unknown-kind-in-a-list",
        ),
        pytest.param(
            [("    indicator: cases\n", "    indicator: casez\n")],
            [("indicator: casez", "casez", "target_rules[0].indicator", "unknown indicator 'casez' (did you mean 'cases'?)")],
            id="unknown-indicator",
        ),
        pytest.param(
            [("      D2: {baseline_value: 20}\n", "      D2: {baseline_value: 20}\n      UB1: {baseline_value: 5}\n")],
            [("UB1: {baseline_value: 5}", "UB1", "target_rules[0].per_agency.UB1",
              "the rule does not cover UB1: it applies to agencies of kind district_police")],
            id="exception-for-an-agency-not-covered",
        ),
        pytest.param(
            [("    per_agency:\n", "    exclude: [POL1, POL9]\n    per_agency:\n")],
            [("exclude: [POL1, POL9]", "POL9", "target_rules[0].exclude[1]", "unknown agency or unit 'POL9' (did you mean 'POL2'?)"),
             ("POL1: {baseline_value: 40}", "POL1", "target_rules[0].per_agency.POL1", "POL1 is also excluded from the rule")],
            id="exclusion-unknown-and-excluded-with-figures",
        ),
        pytest.param(
            [("applies_to: commune_committee", "applies_to: customs")],
            [("applies_to: customs", "customs", "target_rules[1].applies_to",
              "the rule makes no target: it applies to agencies of kind customs, and there is none")],
            id="expands-to-nothing",
        ),
        pytest.param(
            [("    value: 1\ntargets", "    value: 1\n    exclude: [C1]\ntargets")],
            [("applies_to: commune_committee", "commune_committee", "target_rules[1].applies_to",
              "the rule makes no target: it applies to agencies of kind commune_committee, and every one is excluded")],
            id="everything-excluded",
        ),
        pytest.param(
            [("targets: []\n", "targets:\n  - {agency: POL1, indicator: cases, period: 2024, kind: absolute, value: 1}\n"
                                "  - {agency: POL2, indicator: cases, period: 2024, kind: absolute, value: 1}\n")],
            [(RULE_0, "id", "target_rules[0]", "every target the rule makes is replaced by a row of `targets`: the rule does nothing")],
            id="every-target-replaced",
        ),
        pytest.param(
            [("targets: []\n", SESSIONS_RULE.replace("sessions-monthly", "sessions-again") + "targets: []\n")],
            [("id: sessions-again>>applies_to", "commune_committee", "target_rules[2].applies_to",
              "conflicts with rule 'sessions-monthly': both make UB1 / sessions / 2024-01 and 11 more; "
              "exclude the agency from one of them, or write an explicit target")],
            id="conflicting-rules",
        ),
        pytest.param(
            [("targets: []\n", SESSIONS_RULE + "targets: []\n")],
            [("id: sessions-monthly>>id: sessions-monthly", "sessions-monthly", "target_rules[2].id",
              "duplicate rule id 'sessions-monthly'"),
             ("id: sessions-monthly>>id: sessions-monthly>>applies_to", "commune_committee", "target_rules[2].applies_to",
              "conflicts with rule 'sessions-monthly': both make UB1 / sessions / 2024-01 and 11 more; "
              "exclude the agency from one of them, or write an explicit target")],
            id="duplicate-id",
        ),
        pytest.param(
            [("      D2: {baseline_value: 20}\n", "")],
            [(RULE_0, "id", "target_rules[0].baseline_value",
              "baseline_value is required for POL2: give it on the rule or under per_agency")],
            id="a-figure-missing-for-one-agency",
        ),
        pytest.param(
            [("      POL1: {baseline_value: 40}\n", "      POL1: {baseline_value: -4}\n")],
            [("POL1: {baseline_value: -4}", "-4", "target_rules[0].per_agency.POL1.baseline_value",
              "Input should be greater than or equal to 0")],
            id="a-bad-per-agency-figure",
        ),
        pytest.param(
            [("      POL1: {baseline_value: 40}\n", "      POL1: {baseline_value: 40, facter: 2}\n")],
            [("facter: 2", "2}", "target_rules[0].per_agency.POL1.facter", "Extra inputs are not permitted")],
            id="a-misspelt-per-agency-field",
        ),
        pytest.param(
            [("    every: month\n", "    every: month\n    period: 2024\n")],
            [(RULE_1, "id", "target_rules[1]", "give either `period` (one period) or `every` (every month, quarter, half of the year)")],
            id="period-and-every",
        ),
        pytest.param(
            [("    period: 2024\n    kind: baseline", "    period: 2023\n    kind: baseline")],
            [("period: 2023", "2023", "target_rules[0].period", "2023 is outside the plan year 2024")],
            id="outside-the-plan-year-once-not-per-agency",
        ),
        pytest.param(
            [("    indicator: sessions\n", "    indicator: cases\n"),
             ("{agency: UB1, frequency: monthly, indicators: [sessions]", "{agency: UB1, frequency: quarterly, indicators: [sessions]")],
            [("every: month", "month", "target_rules[1].every",
              "2024-01 is finer than UB1's quarterly reporting (and 11 more of the rule's targets)"),
             (RULE_1 + ">>indicator: cases", "cases", "target_rules[1].indicator", "cases is not in UB1's reporting rule")],
            id="against-the-reporting-rule",
        ),
        pytest.param(
            [("kind: commune_committee}", "kind: commune_comittee}")],
            [("kind: commune_comittee}", "commune_comittee", "agencies[3].kind",
              "unknown agency kind 'commune_comittee' (did you mean 'commune_committee'?)"),
             (RULE_1 + ">>applies_to", "commune_committee", "target_rules[1].applies_to",
              "the rule makes no target: it applies to agencies of kind commune_committee, and there is none")],
            id="unknown-kind-of-an-agency",
        ),
        pytest.param(
            [("targets: []\n", "targets:\n  - {agency: UB1, indicator: sessions, period: 2024, kind: absolute, value: 1}\n"
                                "  - {agency: UB2, indicator: sessions, period: 2024, kind: absolute, value: 1}\n")],
            [("agency: UB2", "UB2", "targets[1].agency", "unknown agency 'UB2' (did you mean 'UB1'?)")],
            id="a-row-after-the-rules-keeps-its-own-index",
        ),
        pytest.param(
            [("targets: []\n", "targets:\n  - {agency: UB1, indicator: sessions, period: 2024, kind: absolute, value: 1, rule: x}\n")],
            [("rule: x}", "x}", "targets[0].rule",
              "only a target rule's targets name a rule; a row of its own replaces the rule's")],
            id="a-row-naming-a-rule",
        ),
    ],
)  # fmt: skip
def test_each_mistake_in_a_rule_names_its_line_and_field(
    tmp_path: Path, changes: list[tuple[str, str]], expected: list[tuple[str, str, str, str]]
) -> None:
    path = _write(tmp_path, *changes)
    wanted = [(_where(path, needle, at), field, message) for needle, at, field, message in expected]
    assert sorted(_issues(path)) == sorted(wanted)


# -- the shipped plan -----------------------------------------------------------------------------


def test_the_shipped_plan_still_makes_every_target_the_flat_plan_made_unchanged() -> None:
    flat, plan = load_plan(FLAT), load_plan(SHIPPED)
    assert all(t.rule is None for t in flat.targets)
    made = {_key(t): t for t in plan.targets}
    for old in flat.targets:
        new = made.get(_key(old))
        assert new is not None, f"{_key(old)} is no longer a target"
        assert new.model_copy(update={"rule": None}) == old, _key(old)
    # and in the same order per agency: what the simulation and the read API list comes out alike
    for agency in {t.agency for t in flat.targets}:
        before = [_key(t) for t in flat.targets if t.agency == agency]
        after = [k for k in (_key(t) for t in plan.targets if t.agency == agency) if k in set(before)]
        assert after == before, agency
    assert {t.rule for t in plan.targets} >= {"police-cases-105", "commune-propaganda-monthly"}


def test_the_flat_fixture_is_the_plan_before_rules() -> None:
    shown = subprocess.run(
        ["git", "show", "b0b1bf3:plans/quang-tri-2024.yaml"], cwd=ROOT, capture_output=True, text=True
    )
    if shown.returncode != 0:
        pytest.skip("the repository's history is not available")
    assert shown.stdout == FLAT.read_text(encoding="utf-8")


def test_every_agency_of_the_shipped_plan_has_a_kind() -> None:
    plan = load_plan(SHIPPED)
    assert [a.code for a in plan.agencies if a.kind is None] == []
    assert {a.code for a in plan.agencies if a.kind == "district_police"} >= {
        "CA-DONG-HA",
        "CA-HUONG-HOA",
        "CA-DAKRONG",
    }


# -- tiendo plan show / check ---------------------------------------------------------------------


def test_cli_show_prints_what_a_rule_expands_to_in_vietnamese(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["show", str(SHIPPED), "--rule", "police-cases-105"])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if "police-cases-105" in line and "│" in line]
    assert len(lines) == 13  # the provincial and the 10 district-level police, the border guard, customs
    assert any("Công an huyện Hướng Hóa" in line and "≥ 105% × 47 (2023) = 50 vụ" in line for line in lines)
    assert "Năm 2024" in shown.output and "Quy tắc" in shown.output and "số liệu mẫu" in shown.output

    one = runner.invoke(app, ["show", str(SHIPPED), "--agency", "UBND-KHE-SANH", "--lang", "en"])
    assert one.exit_code == 0, one.output
    months = [line for line in one.output.splitlines() if "commune-propaganda-monthly" in line]
    assert len(months) == 12 and "January 2024" in months[0] and "≥ 1 sessions" in months[0]

    row = "targets:\n  - {agency: UB1, indicator: sessions, period: 2024-06, kind: absolute, value: 3}\n"
    replaced = runner.invoke(
        app, ["show", str(_write(tmp_path, ("targets: []\n", row))), "--rule", "sessions-monthly"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert "thay bằng targets[0]" in replaced.output and "Tháng 6/2024" in replaced.output

    unknown = runner.invoke(app, ["show", str(SHIPPED), "--rule", "police-cases"])
    assert unknown.exit_code == 2 and "police-cases-105" in unknown.output
    assert runner.invoke(app, ["show", str(SHIPPED), "--agency", "CA-NOWHERE"]).exit_code == 2


def test_cli_check_counts_the_rules_targets() -> None:
    plan = load_plan(SHIPPED)
    ok = CliRunner().invoke(app, ["check", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    made = sum(t.rule is not None for t in plan.targets)
    assert made > 0 and f", {made} made by {len(plan.target_rules)} target rule(s)" in ok.output


def test_cli_check_names_a_rules_line(tmp_path: Path) -> None:
    path = _write(tmp_path, ("applies_to: commune_committee", "applies_to: customs"))
    bad = CliRunner().invoke(app, ["check", str(path)])
    assert bad.exit_code == 1
    assert (
        f"{_where(path, 'applies_to: customs', 'customs')}: target_rules[1].applies_to: the rule makes no target"
        in bad.output
    )


def test_the_shipped_plan_covers_task_1_and_makes_26_june_a_milestone_of_its_own() -> None:
    plan = load_plan(SHIPPED)
    programme = plan.target("CA-TINH", "programme_tasks_implemented", "2024")
    assert programme is not None and programme.sample
    for agency in ("TINH-DOAN", "SVHTTDL"):
        day = plan.target(agency, "national_day_activities", "2024")
        month = plan.target(agency, "action_month_activities", "2024")
        assert day is not None and month is not None
        assert (day.kind, str(day.due), str(month.due)) == ("milestone", "2024-06-26", "2024-06-30")
        assert plan.index.figure_source(agency, "national_day_activities") == "activities"  # dated events
