"""Server-side SVG charts for the people's pages: pure Python, no JavaScript, no CDN.

`progress_chart` draws an indicator's progress over the plan year: the cumulative actual figure
(solid), what the pace expected by then (dashed) and the year's target (dotted line). The chart
is an image with a text description beside it (`role="img"`, `<title>`, `<desc>`): the figures
are never told by the drawing alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 26  # margins: room for the axis labels
ACTUAL_COLOUR = "#1d4f91"  # 8.6:1 on white
EXPECTED_COLOUR = "#555555"  # 7.5:1 on white
TARGET_COLOUR = "#a4262c"  # 6.9:1 on white
MONTHS = tuple(str(month) for month in range(1, 13))


@dataclass(frozen=True)
class ProgressPoint:
    day: date
    actual: float | None  # None: nothing known yet that day
    expected: float


@dataclass(frozen=True)
class ProgressSeries:
    start: date  # the plan year's data window (15 Dec .. 14 Dec with the cut-off on the 14th)
    end: date
    target: float | None
    points: Sequence[ProgressPoint]


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above `value` (a readable axis top)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10.0 * magnitude


def progress_chart(
    series: ProgressSeries,
    *,
    chart_id: str,
    title: str,
    description: str,
    legend: tuple[str, str, str],
    month_labels: Sequence[str] = MONTHS,
) -> str:
    """The SVG markup (safe to embed: every text is escaped). `legend`: the actual, expected and
    target lines' names; `chart_id`: unique on the page; `month_labels`: 12 tick labels, January first."""
    span = max((series.end - series.start).days, 1)
    top_value = _nice_ceiling(
        max(
            [series.target or 0.0]
            + [p.expected for p in series.points]
            + [p.actual for p in series.points if p.actual is not None]
        )
    )
    ident = escape(chart_id)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * min(max((day - series.start).days / span, 0.0), 1.0)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / top_value, 0.0), 1.0))

    def polyline(coords: list[tuple[float, float]], colour: str, css: str, dash: str = "") -> str:
        if not coords:
            return ""
        points = " ".join(f"{_fmt(cx)},{_fmt(cy)}" for cx, cy in coords)
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        return (
            f'<polyline class="{css}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5"{dashing}/>'
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#767676"/>',
    ]
    for fraction in (0.5, 1.0):  # horizontal grid and the y axis labels
        gy = y(top_value * fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{_fmt(gy)}" x2="{LEFT + plot_w}" y2="{_fmt(gy)}" stroke="#dddddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{_fmt(gy + 4)}" text-anchor="end" font-size="11" fill="#333333">'
            f"{escape(_fmt(top_value * fraction))}</text>"
        )
    parts.append(
        f'<text x="{LEFT - 4}" y="{TOP + plot_h + 4}" text-anchor="end" font-size="11" fill="#333333">0</text>'
    )
    year = series.end.year
    for month, label in enumerate(month_labels[:12], start=1):  # a tick at each month's cut-off
        tick = x(date(year, month, min(series.end.day, 28)))
        parts.append(
            f'<text x="{_fmt(tick)}" y="{HEIGHT - 8}" text-anchor="middle" font-size="10" fill="#333333">'
            f"{escape(label)}</text>"
        )
    if series.target is not None:
        ty = _fmt(y(series.target))
        parts.append(
            f'<line class="target" x1="{LEFT}" y1="{ty}" x2="{LEFT + plot_w}" y2="{ty}" '
            f'stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="2 3"/>'
        )
    expected = [(x(series.start), y(0.0))] + [(x(p.day), y(p.expected)) for p in series.points]
    parts.append(polyline(expected, EXPECTED_COLOUR, "expected", "6 4"))
    known = [p for p in series.points if p.actual is not None]
    actual = [(x(series.start), y(0.0))] + [(x(p.day), y(p.actual or 0.0)) for p in known] if known else []
    parts.append(polyline(actual, ACTUAL_COLOUR, "actual"))
    parts.append("</svg>")
    legend_html = (
        '<ul class="chart-legend">'
        f'<li><span class="swatch actual" aria-hidden="true"></span>{escape(legend[0])}</li>'
        f'<li><span class="swatch expected" aria-hidden="true"></span>{escape(legend[1])}</li>'
        f'<li><span class="swatch target" aria-hidden="true"></span>{escape(legend[2])}</li>'
        "</ul>"
    )
    return "".join(parts) + legend_html
