"""Several plans at once: one per reporting year, routed by day and period, conflicts located."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.plan import PlanError
from shared.plan.book import load_plans
from shared.plan.cli import app
from shared.plan.index import Rejected
from tests.unit.test_plan_loader import BROKEN, MINIMAL, SHIPPED


def _plan(year: int, code: str = "T-1", extra: str = "") -> str:
    text = MINIMAL.replace("year: 2024", f"year: {year}{extra}").replace("code: T-1", f"code: {code}")
    return text.replace("period: 2024", f"period: {year}").replace(
        "baseline_year: 2023", f"baseline_year: {year - 1}"
    )


def _folder(tmp_path: Path, **plans: str) -> Path:
    for name, text in plans.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_day_and_a_period_go_to_the_plan_of_their_reporting_year(tmp_path: Path) -> None:
    book = load_plans(_folder(tmp_path, a=_plan(2025, "KH-2025"), b=_plan(2024, "KH-2024")))
    assert book.years == [2024, 2025] and len(book) == 2
    # Decree 09/2019: the 2025 reporting year begins on 15 Dec 2024
    assert book.for_day(date(2024, 12, 14)).code == "KH-2024"
    assert book.for_day(date(2024, 12, 15)).code == "KH-2025"
    assert book.for_period("2025-Q1").code == "KH-2025" and book.for_year(2024).code == "KH-2024"
    with pytest.raises(Rejected) as err:
        book.for_period("2026-03")
    assert err.value.reason == "outside-plan-year"
    assert (
        "no plan is loaded for the reporting year 2026; plans loaded: 2024 (KH-2024), 2025 (KH-2025)"
        in str(err.value)
    )
    with pytest.raises(
        Rejected,
        match=r"2025-12-15 lies in no loaded plan's reporting year.*2025 \(2024-12-15\.\.2025-12-14\)",
    ):
        book.for_day(date(2025, 12, 15))


def test_two_plans_for_one_year_are_refused_at_both_year_lines(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as err:
        load_plans(_folder(tmp_path, a=_plan(2024), b=_plan(2024)))
    year_line = MINIMAL.splitlines().index("year: 2024") + 1
    assert sorted(str(i) for i in err.value.errors) == [
        f"{tmp_path}/a.yaml:{year_line}:1: year: {tmp_path}/b.yaml is also the plan for 2024: one plan per year",
        f"{tmp_path}/b.yaml:{year_line}:1: year: {tmp_path}/a.yaml is also the plan for 2024: one plan per year",
    ]


def test_reporting_years_that_overlap_are_refused(tmp_path: Path) -> None:
    # a cut-off on the 20th makes 2024 end on 20 Dec, after 2025 (cut-off 14) began on 15 Dec
    folder = _folder(tmp_path, a=_plan(2024, extra="\ncutoff_day: 20"), b=_plan(2025))
    with pytest.raises(PlanError) as err:
        load_plans(folder)
    messages = [i.message for i in err.value.errors]
    assert len(messages) == 2 and all("overlaps" in m and "cut-off days differ" in m for m in messages)
    assert "2023-12-21..2024-12-20" in messages[0] and "2024-12-15..2025-12-14" in messages[0]


def test_plans_in_different_timezones_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, a=_plan(2024), b=_plan(2025, extra="\ntimezone: Asia/Bangkok"))
    with pytest.raises(PlanError) as err:
        load_plans(folder)
    assert {i.field for i in err.value.errors} == {"timezone"} and len(err.value.errors) == 2
    assert "Asia/Bangkok, Asia/Ho_Chi_Minh" in err.value.errors[0].message


def test_every_broken_file_of_a_folder_is_reported_together(tmp_path: Path) -> None:
    broken = (BROKEN / "several_problems.yaml").read_text(encoding="utf-8")
    folder = _folder(tmp_path, good=_plan(2024), bad=broken, worse=broken)
    with pytest.raises(PlanError) as err:
        load_plans(folder)
    files = {i.path.split(":")[0] for i in err.value.errors}
    assert files == {f"{tmp_path}/bad.yaml", f"{tmp_path}/worse.yaml"} and len(err.value.errors) == 6


def test_an_empty_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"the folder holds no plan \(\*\.yaml\)"):
        load_plans(tmp_path)


def test_a_single_file_is_a_book_of_one() -> None:
    book = load_plans(SHIPPED)
    assert book.years == [2024] and book.for_day(date(2024, 6, 1)).code == "29/KH-BCĐ"


def test_cli_checks_a_folder_and_its_years(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "ok").mkdir()
    ok = runner.invoke(app, ["check", str(_folder(tmp_path / "ok", a=_plan(2024), b=_plan(2025)))])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("is valid") == 2
    assert (
        "2 plan(s), one per reporting year (2024: 2023-12-15..2024-12-14, 2025: 2024-12-15..2025-12-14)"
        in ok.output
    )
    (tmp_path / "clash").mkdir()
    bad = runner.invoke(app, ["check", str(_folder(tmp_path / "clash", a=_plan(2024), b=_plan(2024)))])
    assert bad.exit_code == 1 and "one plan per year" in bad.output and "2 problem(s)" in bad.output
    shipped = runner.invoke(app, ["check", str(SHIPPED.parent)])
    assert shipped.exit_code == 0 and "2 plan(s)" in shipped.output, shipped.output  # 2024 and 2025
