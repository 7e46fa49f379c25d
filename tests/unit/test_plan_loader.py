"""The loader points at the line of every problem in a plan file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shared.plan import PlanError, PlanIssue, load_plan
from shared.plan.cli import app

BROKEN = Path(__file__).parent / "broken_plans"
SHIPPED = Path(__file__).resolve().parents[2] / "plans" / "quang-tri-2024.yaml"
MINIMAL = (
    (BROKEN / "missing_field.yaml")
    .read_text(encoding="utf-8")
    .replace("    baseline_value: 10\n", "    baseline_value: 10\n    factor: 1.05\n")
)


def _problems(path: Path | str) -> PlanError:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value


@pytest.mark.parametrize(
    ("name", "where", "field", "message"),
    [
        ("syntax_error.yaml", "9:9", "", "YAML syntax: while parsing a flow mapping (line 8, column 5): "),
        ("missing_field.yaml", "25:5", "targets[0].factor", "Field required"),
        ("unknown_agency.yaml", "25:13", "targets[0].agency", "unknown agency 'POLICE' (did you mean 'POL'?)"),
        ("bad_period.yaml", "27:13", "targets[0].period", "invalid period '2024-Q5': expected YYYY, YYYY-H1..H2"),
        ("profile_length.yaml", "33:5", "targets[0].profile", "a profile needs 12 monthly weights (Jan..Dec), got 11"),
        ("duplicate_code.yaml", "20:11", "agencies[2].code", "duplicate code 'POL'"),
        ("two_committees.yaml", "20:28", "agencies[1].is_steering_committee", "a second steering committee; SC is already one"),
        ("duplicate_key.yaml", "31:5", "targets[0].baseline_value", "duplicate key (first on line 30)"),
    ],
)  # fmt: skip
def test_each_broken_plan_names_file_line_and_field(name: str, where: str, field: str, message: str) -> None:
    path = BROKEN / name
    err = _problems(path)
    assert len(err.errors) == 1, str(err)
    issue = err.errors[0]
    assert issue.path == f"{path}:{where}"
    assert issue.field == field
    assert issue.message.startswith(message)
    prefix = f"{path}:{where}: {field}: " if field else f"{path}:{where}: "
    assert str(err) == str(issue) and str(err).startswith(prefix + message)


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.yaml")))
def test_pure_python_yaml_gives_the_same_locations(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [(i.path, i.field) for i in _problems(BROKEN / name).errors]
    monkeypatch.setattr("shared.plan.loader._Loader", yaml.SafeLoader)
    assert [(i.path, i.field) for i in _problems(BROKEN / name).errors] == fast


def test_every_problem_is_listed_in_file_order() -> None:
    err = _problems(Path("tests/unit/broken_plans/several_problems.yaml"))
    assert str(err).splitlines() == [
        "tests/unit/broken_plans/several_problems.yaml:8:70: units[1].population: "
        "Input should be a valid integer, unable to parse string as an integer",
        "tests/unit/broken_plans/several_problems.yaml:21:93: indicators[0].aggregation: Input should be 'sum' or 'latest'",
        "tests/unit/broken_plans/several_problems.yaml:29:13: targets[0].colour: Extra inputs are not permitted",
    ]
    assert all(isinstance(i, PlanIssue) for i in err.errors)


def test_shipped_plan_loads() -> None:
    plan = load_plan(SHIPPED)
    assert plan.code == "29/KH-BCĐ" and len(plan.agencies) >= 15
    assert load_plan(str(SHIPPED)) == plan  # str or Path; nothing cached between loads
    assert load_plan(SHIPPED) is not plan


def test_a_block_collection_error_points_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        MINIMAL.replace("targets:\n", "thresholds:\n  on_track: 0.5\n  at_risk: 0.6\ntargets:\n"),
        encoding="utf-8",
    )
    [issue] = _problems(path).errors
    assert (issue.path, issue.field) == (f"{path}:26:12", "thresholds.at_risk")


def test_items_of_a_flow_list_are_located(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL.replace("indicators: [cases]", "indicators: [cases, casez]"), encoding="utf-8")
    [issue] = _problems(path).errors
    assert (issue.path, issue.field) == (f"{path}:23:59", "reporting[0].indicators[1]")
    assert issue.message == "unknown indicator 'casez' (did you mean 'cases'?)"


def test_anchors_and_merge_keys_are_followed(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    quarterly = (
        "  - &quarterly {agency: POL, indicator: cases, kind: absolute, value: 1, period: 2024-Q1}\n"
        "  - <<: *quarterly\n"
        "    period: 2024-Q9\n"
    )
    path.write_text(MINIMAL.replace("targets:\n", "targets:\n" + quarterly), encoding="utf-8")
    [issue] = _problems(path).errors
    assert (issue.path, issue.field) == (f"{path}:27:13", "targets[1].period")  # the entry's own key
    path.write_text(
        MINIMAL.replace("targets:\n", "targets:\n" + quarterly.replace("Q9", "Q2")), encoding="utf-8"
    )
    assert [t.period for t in load_plan(path).targets] == ["2024-Q1", "2024-Q2", "2024"]
    # an error in a merged key is reported where the anchor defines it
    path.write_text(
        MINIMAL.replace(
            "targets:\n", "targets:\n" + quarterly.replace("Q9", "Q2").replace("value: 1", "value: x")
        ),
        encoding="utf-8",
    )
    assert [(i.path, i.field) for i in _problems(path).errors] == [
        (f"{path}:25:71", "targets[0].value"),
        (f"{path}:25:71", "targets[1].value"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the plan must be a mapping"),
        ("- a\n- b\n", "the plan must be a mapping"),
        ("code: a\n---\ncode: b\n", "expected a single document"),
        ("code: [\n", "YAML syntax"),
    ],
)
def test_not_a_plan(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    [issue] = _problems(path).errors
    assert issue.path.startswith(f"{path}:") and message in issue.message


def test_missing_file() -> None:
    [issue] = _problems("plans/no-such-plan.yaml").errors
    assert issue.path == "plans/no-such-plan.yaml" and "cannot read" in issue.message


def test_cli_check() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    assert "is valid" in ok.output and "agencies: " in ok.output and "targets: " in ok.output
    default = runner.invoke(app, ["check"], env={"TIENDO_PLAN_FILE": None})
    assert default.exit_code == 0 and "29/KH-BCĐ" in default.output
    bad = runner.invoke(app, ["check", str(BROKEN / "several_problems.yaml")])
    assert bad.exit_code == 1
    assert (
        "several_problems.yaml:21:93: indicators[0].aggregation" in bad.output
        and "3 problem(s)" in bad.output
    )


def test_an_impossible_date_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        MINIMAL.replace("kind: district, parent: P}", "kind: district, parent: P, valid_to: 2025-02-30}")
    )
    [issue] = _problems(path).errors
    assert (issue.path, issue.field) == (f"{path}:8:68", "units[1].valid_to")
    assert "day value is outside expected range" in issue.message


# -- status semantics (issue 15): pace, floor, indicator kind -------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where", "field", "message"),
    [
        ("    baseline_value: 10\n", "    baseline_value: 0\n", "30:21", "targets[0].baseline_value",
         "a baseline of 0 makes a target of 0; state the least to reach with `floor:`"),
        ("    factor: 1.05\n", "    factor: 1.05\n    pace: weekly\n", "32:11", "targets[0].pace",
         "Input should be 'linear', 'profile', 'step' or 'at_end'"),
        ("    factor: 1.05\n", "    factor: 1.05\n    pace: step\n    profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
         "33:5", "targets[0].profile", "a profile is only read with pace: profile"),
        ("    factor: 1.05\n", "    factor: 1.05\n    floor: -1\n", "32:12", "targets[0].floor",
         "Input should be greater than 0"),
        ("aggregation: sum, max_value: 100}", "aggregation: sum, max_value: 100, kind: grams}", "21:120",
         "indicators[0].kind", "Input should be 'count' or 'measure'"),
    ],
)  # fmt: skip
def test_pace_floor_and_kind_problems_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, where: str, field: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    assert old in MINIMAL
    path.write_text(MINIMAL.replace(old, new, 1), encoding="utf-8")
    [issue] = _problems(path).errors
    assert (issue.path, issue.field, issue.message) == (f"{path}:{where}", field, message)


def test_a_floor_makes_a_zero_baseline_a_real_target_and_pace_defaults_by_indicator_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        MINIMAL.replace("    baseline_value: 10\n", "    baseline_value: 0\n    floor: 3\n"), encoding="utf-8"
    )
    plan = load_plan(path)
    [target] = plan.targets
    assert (target.target_value(), target.pace, target.pace_for(plan.indicator("cases"))) == (3, None, "step")
    with_floor_elsewhere = MINIMAL.replace(
        "    baseline_value: 10\n", "    baseline_value: 10\n    floor: 3\n"
    )
    path.write_text(
        with_floor_elsewhere.replace("kind: baseline_relative", "kind: absolute\n    value: 2").replace(
            "    baseline_year: 2023\n", ""
        ),
        encoding="utf-8",
    )
    messages = {(i.field, i.message) for i in _problems(path).errors}
    assert ("targets[0].floor", "not used by absolute targets") in messages


def test_the_shipped_plan_counts_whole_things_and_weighs_grams() -> None:
    plan = load_plan(SHIPPED)
    kinds = {i.code: i.kind for i in plan.indicators}
    assert kinds.pop("drug_seizures_heroin_g") == "measure" and set(kinds.values()) == {"count"}
    cases = plan.target("CA-HUONG-HOA", "drug_cases_detected", "2024")
    indicator = plan.indicator("drug_cases_detected")
    assert cases.target_value() == pytest.approx(49.35) and indicator.whole(cases.target_value()) == 50
    assert plan.indicator("drug_seizures_heroin_g").whole(49.35) == 49.35
    assert plan.target("CA-TINH", "communes_3_good", "2024").pace == "at_end"
    assert plan.target("TINH-DOAN", "action_month_activities", "2024").pace == "profile"
