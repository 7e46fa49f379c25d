"""The 2025 plan and the two-tier reform (issue 20): agencies in force, who takes over whose work,
targets and reports only for the periods an agency holds at their cut-off, refusals naming the
successor, and broken successions named at their line and field."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pytest

from shared.plan import PlanError, load_plan
from shared.plan.book import load_plans
from shared.plan.index import Rejected
from shared.settings import REPO_ROOT

PLANS = REPO_ROOT / "plans"
PLAN_2025 = PLANS / "quang-tri-2025.yaml"
BOOK = load_plans(PLANS)
PLAN = BOOK.index_for(year=2025).plan


def test_the_shipped_plans_are_one_per_year_and_the_2025_one_holds_the_reform():
    assert [p.year for p in BOOK.indexes] == [2024, 2025]
    assert PLAN.unit("QB").successors == ["QT"] and PLAN.unit("QT").valid_to is None  # the merged province
    assert PLAN.successors_on("HUONG-HOA", date(2025, 7, 1)) == [
        "HH-XA-KHE-SANH",
        "HH-XA-LAO-BAO",
        "HH-XA-HUONG-PHUNG",
    ]
    assert PLAN.agency_successors_on("UBND-HUONG-HOA", date(2025, 7, 1)) == [
        "UBND-XA-KHE-SANH",
        "UBND-XA-LAO-BAO",
        "UBND-XA-HUONG-PHUNG",
    ]
    assert PLAN.agency_successors_on("CA-DAKRONG", date(2025, 8, 1)) == ["CA-TINH"]
    assert PLAN.agency_successors_on("CA-TINH", date(2025, 8, 1)) == ["CA-TINH"]  # in force: itself


def test_a_district_agency_reports_to_the_june_period_and_its_successor_from_july():
    old = [str(p) for p in PLAN.reporting_periods("UBND-HUONG-HOA")]
    new = [str(p) for p in PLAN.reporting_periods("UBND-XA-KHE-SANH")]
    assert old == [f"2025-{m:02d}" for m in range(1, 7)]  # June's window ends on 14 June
    assert new == [f"2025-{m:02d}" for m in range(7, 13)]  # July's (15 Jun – 14 Jul) is the successor's

    # one rule, every commune committee: the township's months to June, the new commune's from July
    def months(agency: str) -> list[str]:
        return [t.period for t in PLAN.targets_for(agency) if t.rule == "commune-propaganda-monthly"]

    assert months("UBND-KHE-SANH") == old and months("UBND-XA-KHE-SANH") == new
    quarters = [
        t.period for t in PLAN.targets_for("UBND-DAKRONG") if t.rule == "district-propaganda-quarterly"
    ]
    assert quarters == ["2025-Q1", "2025-Q2"]
    assert [t.period for t in PLAN.targets_for("CA-DONG-HA")] == ["2025-H1", "2025-H1"]  # cases, dossiers


def test_a_report_after_the_reform_is_refused_naming_who_took_over():
    index = PLAN.index
    index.report_limit("UBND-HUONG-HOA", "propaganda_sessions", "2025-06", None)
    with pytest.raises(Rejected) as err:
        index.report_limit("UBND-HUONG-HOA", "propaganda_sessions", "2025-07", None)
    assert err.value.reason == "agency-not-in-force" and err.value.where == ("source",)
    assert err.value.detail == (
        "UBND-HUONG-HOA (Huong Hoa District People's Committee) ended on 2025-06-30; the report of 2025-07 "
        "(its window ends on 2025-07-14) is made by UBND-XA-KHE-SANH (Khe Sanh Commune People's Committee), "
        "UBND-XA-LAO-BAO (Lao Bao Commune People's Committee), UBND-XA-HUONG-PHUNG (Huong Phung Commune "
        "People's Committee), which took over its work"
    )
    with pytest.raises(Rejected, match="is in force only from 2025-07-01") as early:
        index.check_submission("UBND-XA-LAO-BAO", "2025-06")
    assert early.value.reason == "agency-not-in-force"
    index.check_submission("UBND-XA-LAO-BAO", "2025-07")


def test_an_activity_belongs_to_whoever_reports_the_month_it_counts_into():
    index = PLAN.index
    index.check_activity_day("2025-06-14", None, "UBND-KHE-SANH")  # in its June report
    with pytest.raises(Rejected, match=r"the report of 2025-07 .* is made by UBND-XA-KHE-SANH"):
        index.check_activity_day("2025-06-20", None, "UBND-KHE-SANH")  # counts into July's
    index.check_activity_day("2025-06-20", None, "UBND-XA-KHE-SANH")


def _broken(replace: str, by: str) -> PlanError:
    text = PLAN_2025.read_text(encoding="utf-8")
    assert replace in text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.yaml"
        path.write_text(text.replace(replace, by, 1), encoding="utf-8")
        with pytest.raises(PlanError) as err:
            load_plan(path)
    return err.value


@pytest.mark.parametrize(
    ("replace", "by", "field", "message"),
    [
        (
            "predecessors: [{agency: UBND-DAKRONG, share: 0.3}]",
            "predecessors: [{agency: UBND-DAKRONG-X, share: 0.3}]",
            "predecessors[0].agency",
            "unknown agency 'UBND-DAKRONG-X' (did you mean 'UBND-DAKRONG'?)",
        ),
        (
            "predecessors: [{agency: UBND-DAKRONG, share: 0.3}]",
            "predecessors: [{agency: UBND-DAKRONG, share: 0.6}]",
            "predecessors[0].share",
            "the shares of UBND-DAKRONG's work add up to 1.1 (UBND-XA-DAKRONG 0.5, UBND-XA-TA-RUT 0.6)",
        ),
        (
            "predecessors: [{agency: UBND-DAKRONG, share: 0.3}]",
            "predecessors: [{agency: SYT, share: 0.3}]",
            "predecessors[0].agency",
            "SYT never ends (it has no valid_to): nothing passes to UBND-XA-TA-RUT",
        ),
    ],
)
def test_a_broken_succession_is_named_at_its_line_and_field(replace, by, field, message):
    err = _broken(replace, by)
    found = [i for i in err.errors if i.field.endswith(field) and message in i.message]
    assert found, err.errors
    line = int(found[0].path.rsplit(":", 2)[1])  # file:line:column
    text = PLAN_2025.read_text(encoding="utf-8").replace(replace, by, 1)
    assert "predecessors:" in text.splitlines()[line - 1]


def test_a_successor_must_be_in_force_the_day_after_and_a_target_within_its_span():
    late = _broken(
        "    valid_from: 2025-07-01\n    predecessors: [{agency: UBND-DAKRONG, share: 0.3}]",
        "    valid_from: 2025-08-01\n    predecessors: [{agency: UBND-DAKRONG, share: 0.3}]",
    )
    assert any("UBND-XA-TA-RUT is not in force on 2025-07-01, the day after UBND-DAKRONG ends" in i.message
               for i in late.errors), late.errors  # fmt: skip
    row = "  - {agency: UBND-HUONG-HOA, indicator: inspections_conducted, period: 2025-H1,"
    beyond = _broken(row, row.replace("2025-H1", "2025-H2"))
    assert [i.message for i in beyond.errors if i.field.endswith("period")] == [
        "UBND-HUONG-HOA is in force only to 2025-06-30: it makes no report for 2025-H2"
    ]


def test_plan_show_of_the_folder_shows_the_newest_plan_or_the_year_asked():
    from typer.testing import CliRunner

    from shared.plan.cli import app

    runner = CliRunner()
    newest = runner.invoke(app, ["show", str(PLANS), "--agency", "UBND-XA-LAO-BAO", "--lang", "en"])
    assert newest.exit_code == 0, newest.output
    assert "KH-2025/BCĐ-MẪU" in newest.output and "52.5% of the 2024 figure" in newest.output
    older = runner.invoke(app, ["show", str(PLANS), "--year", "2024", "--agency", "UBND-LAO-BAO"])
    assert older.exit_code == 0 and "29/KH-BCĐ" in older.output, older.output
    missing = runner.invoke(app, ["show", str(PLANS), "--year", "2023"])
    assert (
        missing.exit_code != 0 and "no plan for 2023 in" in missing.output and "2024, 2025" in missing.output
    )
