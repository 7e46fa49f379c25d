"""shared.web: the SVG progress chart and the message catalogue (pure)."""

from __future__ import annotations

from datetime import date

from shared.web import ProgressPoint, ProgressSeries, choose_lang, number, progress_chart


def _series(actual: float = 40.0) -> ProgressSeries:
    return ProgressSeries(
        start=date(2023, 12, 15),
        end=date(2024, 12, 14),
        target=100.0,
        points=[ProgressPoint(date(2024, 6, 14), actual, 50.0)],
    )


def _chart(series: ProgressSeries, title: str = "Tiến độ <năm>") -> str:
    return progress_chart(series, chart_id="c1", title=title, description="mô tả", legend=("a", "b", "c"))


def test_the_chart_draws_actual_expected_and_target_in_scale():
    svg = _chart(_series())
    assert svg.startswith("<svg") and 'role="img"' in svg
    # plot 0..100 over y 14..174: target 100 at the top, expected 50 half-way, actual 40 below it
    assert 'class="target" x1="44" y1="14"' in svg
    assert (
        'class="expected" points="44,174 ' in svg and ",94" in svg.split('class="expected"')[1].split("/>")[0]
    )
    assert ",110" in svg.split('class="actual"')[1].split("/>")[0]


def test_the_chart_escapes_text_and_has_no_actual_line_without_figures():
    svg = _chart(_series(), title="<script>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    empty = ProgressSeries(
        date(2023, 12, 15), date(2024, 12, 14), None, [ProgressPoint(date(2024, 1, 14), None, 5)]
    )
    svg = _chart(empty)
    assert 'class="actual"' not in svg and 'class="target"' not in svg


def test_vietnamese_is_the_default_language():
    assert (
        choose_lang(None, None) == "vi"
        and choose_lang("en", "vi") == "en"
        and choose_lang("fr", "en") == "en"
    )
    assert number(1234.5, "vi") == "1.234,5" and number(1234.5, "en") == "1,234.5" and number(7.0) == "7"
