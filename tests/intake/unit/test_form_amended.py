"""The reporting form shows a target as in force on the day (issue 20's amendments)."""

from __future__ import annotations

from datetime import date

from services.intake.entrypoints.form import form_model
from shared.plan.periods import Period
from tests.plans import amended_plan


def test_the_form_shows_the_amended_target_from_the_amendments_day():
    plan = amended_plan().index
    july = Period.parse("2024-07")

    def target(today: date) -> dict:
        model = form_model(plan, "CA-HUONG-HOA", july, "vi", today)
        return next(i for i in model["indicators"] if i["code"] == "drug_cases_detected")["target"]

    before, after = target(date(2024, 7, 31)), target(date(2024, 8, 1))
    assert before["period"] == after["period"] == "2024"
    # ≥ 105 % × 47, then ≥ 110 % × 47: whole cases, rounded up as the aggregator judges them
    assert (before["value"], before["text"]) == (50, "50")
    assert (after["value"], after["text"]) == (52, "52")
