"""Periods and their data windows (Decree 09/2019/NĐ-CP: the 15th of one month .. the 14th of the next)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.plan.periods import Period, pace_fraction, periods_containing, periods_of_year

P = Period.parse
CUTOFF = 14  # the sample plan's cut-off day (a plan setting; these functions take it)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2024", Period(2024, "year", 1)),
        ("2024-H1", Period(2024, "half", 1)),
        ("2024-H2", Period(2024, "half", 2)),
        ("2024-Q2", Period(2024, "quarter", 2)),
        ("2024-06", Period(2024, "month", 6)),
        ("2024-12", Period(2024, "month", 12)),
    ],
)
def test_parse_and_back(text: str, period: Period) -> None:
    assert P(text) == period
    assert str(period) == text


def test_parse_is_lenient_on_case_and_int_years() -> None:
    assert str(P("2024-q3")) == "2024-Q3"
    assert P(2024) == P("2024")  # YAML reads `period: 2024` as an int


@pytest.mark.parametrize("bad", ["", "24", "2024-13", "2024-00", "2024-6", "2024-Q5", "2024-Q0", "2024-H3",
                                 "2024-06-01", "June 2024", "2024-W1", " 2024-"])  # fmt: skip
def test_parse_rejects_with_the_accepted_forms(bad: str) -> None:
    with pytest.raises(
        ValueError, match=r"expected YYYY, YYYY-H1\.\.H2, YYYY-Q1\.\.Q4 or YYYY-MM \(e\.g\. 2024,"
    ):
        P(bad)


@pytest.mark.parametrize(("kind", "index"), [("month", 13), ("month", 0), ("quarter", 5), ("half", 3), ("year", 2),
                                             ("week", 1)])  # fmt: skip
def test_constructor_rejects_impossible_periods(kind: str, index: int) -> None:
    with pytest.raises(ValueError):
        Period(2024, kind, index)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024-06", date(2024, 5, 15), date(2024, 6, 14)),
        ("2024-01", date(2023, 12, 15), date(2024, 1, 14)),  # January starts in the previous year
        ("2024-03", date(2024, 2, 15), date(2024, 3, 14)),
        ("2024-Q1", date(2023, 12, 15), date(2024, 3, 14)),
        ("2024-Q2", date(2024, 3, 15), date(2024, 6, 14)),
        ("2024-Q4", date(2024, 9, 15), date(2024, 12, 14)),
        ("2024-H1", date(2023, 12, 15), date(2024, 6, 14)),
        ("2024-H2", date(2024, 6, 15), date(2024, 12, 14)),
        ("2024", date(2023, 12, 15), date(2024, 12, 14)),  # the year starts on 15 December
    ],
)
def test_windows_follow_the_decree(text: str, start: date, end: date) -> None:
    assert P(text).window(CUTOFF) == (start, end)


def test_cutoff_day_is_configurable_and_bounded() -> None:
    assert P("2024-03").window(cutoff_day=20) == (date(2024, 2, 21), date(2024, 3, 20))
    assert P("2024").window(cutoff_day=1) == (date(2023, 12, 2), date(2024, 12, 1))
    for bad in (0, 28, 31):
        with pytest.raises(ValueError, match="cutoff_day"):
            P("2024-03").window(cutoff_day=bad)


def test_contains_is_inclusive_at_both_ends() -> None:
    june = P("2024-06")
    assert june.contains(date(2024, 5, 15), CUTOFF) and june.contains(date(2024, 6, 14), CUTOFF)
    assert not june.contains(date(2024, 5, 14), CUTOFF) and not june.contains(date(2024, 6, 15), CUTOFF)


@pytest.mark.parametrize(
    ("d", "year", "expected"),
    [
        (date(2023, 12, 15), 2024, ["2024-01", "2024-Q1", "2024-H1", "2024"]),
        (date(2024, 6, 14), 2024, ["2024-06", "2024-Q2", "2024-H1", "2024"]),
        (date(2024, 6, 15), 2024, ["2024-07", "2024-Q3", "2024-H2", "2024"]),
        (date(2024, 12, 14), 2024, ["2024-12", "2024-Q4", "2024-H2", "2024"]),
        (date(2024, 12, 15), 2024, []),  # already in the 2025 reporting year
        (date(2024, 12, 15), 2025, ["2025-01", "2025-Q1", "2025-H1", "2025"]),
        (date(2023, 12, 14), 2024, []),
    ],
)
def test_periods_containing(d: date, year: int, expected: list[str]) -> None:
    assert [str(p) for p in periods_containing(d, year, CUTOFF)] == expected


def test_containing_by_kind() -> None:
    assert Period.containing(date(2024, 3, 15), "quarter", CUTOFF) == P("2024-Q2")
    assert Period.containing(date(2024, 3, 14), "quarter", CUTOFF) == P("2024-Q1")
    assert Period.containing(date(2024, 3, 31), "month", cutoff_day=20) == P("2024-04")


@pytest.mark.parametrize(
    ("text", "vi", "en"),
    [
        ("2024-06", "Tháng 6/2024", "June 2024"),
        ("2024-12", "Tháng 12/2024", "December 2024"),
        ("2024-Q2", "Quý II/2024", "Q2 2024"),
        ("2024-Q4", "Quý IV/2024", "Q4 2024"),
        ("2024-H1", "6 tháng đầu năm 2024", "H1 2024"),
        ("2024-H2", "6 tháng cuối năm 2024", "H2 2024"),
        ("2024", "Năm 2024", "Year 2024"),
    ],
)
def test_labels(text: str, vi: str, en: str) -> None:
    assert P(text).label() == vi
    assert P(text).label("vi") == vi
    assert P(text).label("en") == en


def test_structure_helpers() -> None:
    assert [str(m) for m in P("2024-Q2").months()] == ["2024-04", "2024-05", "2024-06"]
    assert len(P("2024").months()) == 12 and P("2024-06").months() == [P("2024-06")]
    assert P("2024-H1").covers(P("2024-Q2")) and P("2024").covers(P("2024"))
    assert not P("2024-Q2").covers(P("2024-H1")) and not P("2024").covers(P("2025-01"))
    assert [str(p) for p in periods_of_year(2024, "half")] == ["2024-H1", "2024-H2"]
    assert sorted([P("2024-03"), P("2024-01")]) == [P("2024-01"), P("2024-03")]


def test_linear_elapsed_fraction_counts_as_of_as_done() -> None:
    june = P("2024-06")  # 15 May .. 14 Jun: 31 days
    assert june.elapsed_fraction(date(2024, 5, 14), CUTOFF) == 0.0
    assert june.elapsed_fraction(date(2024, 5, 15), CUTOFF) == pytest.approx(1 / 31)
    assert june.elapsed_fraction(date(2024, 5, 30), CUTOFF) == pytest.approx(16 / 31)
    assert june.elapsed_fraction(date(2024, 6, 14), CUTOFF) == 1.0
    assert june.elapsed_fraction(date(2025, 1, 1), CUTOFF) == 1.0
    year = P("2024")  # 15 Dec 2023 .. 14 Dec 2024: 366 days (leap year)
    assert year.elapsed_fraction(date(2024, 6, 14), CUTOFF) == pytest.approx(183 / 366)


def test_profile_pace_follows_the_monthly_weights() -> None:
    june_only = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    q2 = P("2024-Q2")
    assert q2.elapsed_fraction(date(2024, 5, 14), CUTOFF, profile=june_only) == 0.0  # April, May: no weight
    assert q2.elapsed_fraction(date(2024, 5, 30), CUTOFF, profile=june_only) == pytest.approx(16 / 31)
    assert q2.elapsed_fraction(date(2024, 6, 14), CUTOFF, profile=june_only) == 1.0
    flat = [1] * 12
    assert q2.elapsed_fraction(date(2024, 4, 14), CUTOFF, profile=flat) == pytest.approx(1 / 3)
    # a profile with no weight in the span falls back to linear instead of dividing by zero
    jan_only = [1] + [0] * 11
    assert q2.elapsed_fraction(date(2024, 4, 14), CUTOFF, profile=jan_only) == q2.elapsed_fraction(
        date(2024, 4, 14), CUTOFF
    )


def test_until_ends_the_span_early_like_a_milestone() -> None:
    year, due = P("2024"), date(2024, 6, 30)
    assert year.elapsed_fraction(due, CUTOFF, until=due) == 1.0
    assert year.elapsed_fraction(date(2024, 3, 1), CUTOFF, until=due) == pytest.approx(78 / 199)
    # May window weight 1, June window weight 4, July window (15 Jun .. 14 Jul) weight 4 cut at 30 June
    shape = [0, 0, 0, 0, 1, 4, 4, 0, 0, 0, 0, 0]
    total = 1 + 4 + 4 * 16 / 30
    assert year.elapsed_fraction(date(2024, 6, 14), CUTOFF, profile=shape, until=due) == pytest.approx(
        5 / total
    )


def test_pace_fraction_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty span"):
        pace_fraction(date(2024, 2, 1), date(2024, 1, 1), date(2024, 1, 15), CUTOFF)
    with pytest.raises(ValueError, match="12 monthly weights"):
        pace_fraction(date(2024, 1, 1), date(2024, 2, 1), date(2024, 1, 15), CUTOFF, profile=[1, 2])


periods = st.one_of(
    st.builds(Period, st.integers(1000, 9998), st.just("year"), st.just(1)),
    st.builds(Period, st.integers(1000, 9998), st.just("half"), st.integers(1, 2)),
    st.builds(Period, st.integers(1000, 9998), st.just("quarter"), st.integers(1, 4)),
    st.builds(Period, st.integers(1000, 9998), st.just("month"), st.integers(1, 12)),
)


@given(periods)
def test_parse_str_round_trip(period: Period) -> None:
    assert Period.parse(str(period)) == period


@given(st.dates(date(1900, 1, 1), date(2200, 12, 31)), st.integers(1, 27))
def test_every_date_lies_in_exactly_one_month_window(d: date, cutoff: int) -> None:
    candidates = [Period(y, "month", m) for y in (d.year, d.year + 1) for m in range(1, 13)]
    holding = [p for p in candidates if p.contains(d, cutoff)]
    assert holding == [Period.containing(d, "month", cutoff)]


@given(st.integers(1901, 2199), st.integers(1, 27))
def test_windows_of_a_kind_tile_the_year(year: int, cutoff: int) -> None:
    start, end = Period(year, "year", 1).window(cutoff)
    for kind in ("half", "quarter", "month"):
        windows = [p.window(cutoff) for p in periods_of_year(year, kind)]
        assert windows[0][0] == start and windows[-1][1] == end
        assert all(a[1] + timedelta(days=1) == b[0] for a, b in zip(windows, windows[1:]))


@pytest.mark.parametrize("text", ["0001", "0999", "9999"])
def test_a_year_outside_four_digits_with_a_year_before_is_refused(text: str) -> None:
    # '0001' once parsed to year 1, printed as '1' and failed to parse again (a 500 in the API).
    with pytest.raises(ValueError, match="year out of range"):
        Period.parse(text)
