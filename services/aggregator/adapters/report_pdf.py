"""The periodic report as a PDF (WeasyPrint, from an HTML+CSS Jinja template): A4, laid out as an
administrative report (Decree 30/2020/NĐ-CP): issuing body and national motto, number and
place/date line, title, the figures by agency, the late and missing reports, the sample-data note
and the signature block. DejaVu Sans is embedded from its files, so Vietnamese reads the same on
any machine that opens the file."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.aggregator.domain.periodic_report import PeriodicReport

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core
FONTS = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "italic": "DejaVuSans-Oblique.ttf",
    "bold_italic": "DejaVuSans-BoldOblique.ttf",
}
_ROMAN = ((100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["j2", "html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _font_urls() -> dict[str, str]:
    missing = [name for name in FONTS.values() if not (FONT_DIR / name).is_file()]
    if missing:
        raise FileNotFoundError(
            2,
            "the PDF report needs DejaVu Sans (apt-get install fonts-dejavu-core)",
            str(FONT_DIR / missing[0]),
        )
    return {style: (FONT_DIR / name).as_uri() for style, name in FONTS.items()}


def _roman(n: int) -> str:
    out = ""
    for value, letters in _ROMAN:
        while n >= value:
            out, n = out + letters, n - value
    return out


def report_html(report: PeriodicReport) -> str:
    vi = report.lang == "vi"

    def number(value: float | None, whole: bool) -> str:
        if value is None:
            return "-"
        text = f"{value:,.0f}" if whole and float(value).is_integer() else f"{value:,.1f}"
        # Vietnamese writes 1.234,5: dot for thousands, comma for decimals
        return text.translate(str.maketrans(",.", ".,")) if vi else text

    def percent(fraction: float | None) -> str:
        if fraction is None:
            return "-"
        text = f"{fraction * 100:.1f}"
        return text.replace(".", ",") if vi else text

    def day(d: date) -> str:
        return f"{d.day:02d}/{d.month:02d}/{d.year}"

    return _env.get_template("periodic_report.html.j2").render(
        report=report,
        w=report.words,
        fonts=_font_urls(),
        number=number,
        percent=percent,
        day=day,
        roman=_roman,
    )


def render_pdf(report: PeriodicReport) -> bytes:
    from weasyprint import HTML  # heavy to import: only when a PDF is asked for
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    try:
        return HTML(string=report_html(report), base_url=str(TEMPLATES)).write_pdf(font_config=fonts)
    finally:
        # WeasyPrint copies each @font-face file into a temporary folder it removes only when the
        # configuration is garbage-collected: a long-running service would pile them up meanwhile
        folder = getattr(fonts, "_folder", None)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
