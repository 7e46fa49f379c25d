"""A correction of a correction (issue 15): the links naming one report, directly or through
each other, are its chain; the chain's latest link (by time, then arrival, then id) gives the
value, whatever order the links arrive in, and the history shows every link."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import permutations

import pytest

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold, history
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))
T0 = datetime(2024, 6, 20, 8, tzinfo=VN)
AGENCY, INDICATOR = "CA-TINH", "drug_cases_detected"


def report(id, value, hour):
    return Fact(
        f"/agencies/{AGENCY}",
        id,
        AGENCY,
        "reported",
        T0 + timedelta(hours=hour),
        hour,
        {"indicator": INDICATOR, "period": "2024", "value": value},
    )


def fix(id, corrects, value, hour):
    return Fact(
        f"/agencies/{AGENCY}",
        id,
        AGENCY,
        "corrected",
        T0 + timedelta(hours=hour),
        hour,
        {"corrects": corrects, "value": value, "reason": f"rà soát {id}"},
    )


def figure(facts):
    ledger = fold(facts, PLAN).get(AGENCY)
    return ledger.actual(INDICATOR, "2024", PLAN) if ledger else None


# (case, facts, the figure a leader sees, {id: its role in the history})
CASES = [
    (
        "a correction of a correction: the latest link",
        [report("r", 50, 0), fix("c1", "r", 48, 1), fix("c2", "c1", 47, 2)],
        47,
        {"r": "applied", "c1": "superseded_correction", "c2": "correction"},
    ),
    (
        "three links deep",
        [report("r", 50, 0), fix("c1", "r", 48, 1), fix("c2", "c1", 47, 2), fix("c3", "c2", 46, 3)],
        46,
        {"r": "applied", "c1": "superseded_correction", "c2": "superseded_correction", "c3": "correction"},
    ),
    (
        "two corrections of the report, the earlier one corrected later: the latest by time wins",
        [report("r", 50, 0), fix("c1", "r", 48, 1), fix("d1", "r", 45, 2), fix("c2", "c1", 49, 3)],
        49,
        {"r": "applied", "c1": "superseded_correction", "d1": "superseded_correction", "c2": "correction"},
    ),
    (
        "a correction of a correction dated before it does not win",
        [report("r", 50, 0), fix("c1", "r", 48, 2), fix("c2", "c1", 47, 1)],
        48,
        {"r": "applied", "c1": "correction", "c2": "superseded_correction"},
    ),
    (
        "a link whose middle never arrived does not touch the report",
        [report("r", 50, 0), fix("c2", "c1", 47, 2)],
        50,
        {"r": "applied"},
    ),
    (
        "corrections naming each other in a loop name no report",
        [report("r", 50, 0), fix("x", "y", 1, 1), fix("y", "x", 2, 2)],
        50,
        {"r": "applied"},
    ),
]


@pytest.mark.parametrize("case, facts, value, roles", CASES, ids=[c[0] for c in CASES])
def test_a_chain_resolves_to_its_latest_link_in_every_arrival_order(case, facts, value, roles):
    for order in permutations(facts):
        assert figure(list(order)) == value, [f.id for f in order]
        trail = history(list(order), PLAN, AGENCY, INDICATOR, "2024")
        assert {e["id"]: e["role"] for e in trail} == roles, [f.id for f in order]


def test_the_history_shows_every_link_and_what_it_names():
    facts = [report("r", 50, 0), fix("c1", "r", 48, 1), fix("c2", "c1", 47, 2)]
    trail = {e["id"]: e for e in history(facts[::-1], PLAN, AGENCY, INDICATOR, "2024")}
    assert trail["r"]["value"] == 47 and trail["r"]["data"]["value"] == 50
    assert trail["r"]["corrected_by"] == "c2" and trail["r"]["corrections"] == ["c1", "c2"]
    assert (trail["c1"]["corrects"], trail["c1"]["report"], trail["c1"]["value"]) == ("r", "r", 48)
    assert (trail["c2"]["corrects"], trail["c2"]["report"], trail["c2"]["reason"]) == (
        "c1",
        "r",
        "rà soát c2",
    )


def test_the_missing_middle_link_arriving_last_joins_the_chain():
    ledger = fold([report("r", 50, 0), fix("c2", "c1", 47, 2)], PLAN)[AGENCY]
    ledger.apply(fix("c1", "r", 48, 1), PLAN)
    assert ledger.actual(INDICATOR, "2024", PLAN) == 47
    assert set(ledger.corrections) == {"r"}  # nothing left filed under the once-unknown link


def test_the_same_link_applied_again_changes_nothing():
    ledger = fold([report("r", 50, 0), fix("c1", "r", 48, 1), fix("c2", "c1", 47, 2)], PLAN)[AGENCY]
    ledger.apply(fix("c1", "r", 48, 1), PLAN)
    assert ledger.actual(INDICATOR, "2024", PLAN) == 47 and ledger.named_by["r"] == ["c1"]
