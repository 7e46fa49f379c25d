"""The periodic report as an Excel workbook (openpyxl): the administrative header block, then one
row per KPI with its figures as numbers (formatted, never text) so the secretariat can sum and
filter them; a second sheet lists the late and missing reports."""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.aggregator.domain.periodic_report import PeriodicReport

_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
_FONT = "Times New Roman"  # the decree's typeface; Excel substitutes where it is missing

#: (word key, width in characters) of the KPI sheet's columns
KPI_COLUMNS = (
    ("col.no", 5),
    ("col.agency", 30),
    ("col.indicator", 48),
    ("col.unit", 12),
    ("col.period", 18),
    ("col.actual", 12),
    ("col.target", 12),
    ("col.percent", 10),
    ("col.status", 22),
    ("col.note", 16),
)
REPORT_COLUMNS = (
    ("col.no", 5),
    ("col.agency", 36),
    ("col.report_period", 20),
    ("col.deadline", 12),
    ("col.submitted", 12),
    ("col.status", 24),
)
DATE_FORMAT = "dd/mm/yyyy"


def _header_block(ws: Worksheet, report: PeriodicReport, width: int) -> int:
    """The decree's header over `width` columns; the next free row."""
    half = width // 2
    w = report.words
    lines = [
        ((report.issuer, True), (w["motto.1"], True)),
        ((report.number_line, False), (w["motto.2"], True)),
        (("", False), (report.place_and_date, False)),
    ]
    for n, (left, right) in enumerate(lines, start=1):
        ws.merge_cells(start_row=n, start_column=1, end_row=n, end_column=half)
        ws.merge_cells(start_row=n, start_column=half + 1, end_row=n, end_column=width)
        for column, (text, bold) in ((1, left), (half + 1, right)):
            cell = ws.cell(n, column, text or None)
            cell.font = Font(name=_FONT, bold=bold, italic=column > 1 and n == 3, size=12)
            cell.alignment = _CENTRE
    ws.row_dimensions[1].height = 48  # the committee's long name wraps
    row = len(lines) + 2
    for text, size in ((report.title, 14), (report.subtitle, 12), (report.period_line, 12)):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        cell = ws.cell(row, 1, text)
        cell.font = Font(name=_FONT, bold=True, size=size)
        cell.alignment = _CENTRE
        ws.row_dimensions[row].height = 32 if len(text) > 90 else 18
        row += 1
    return row + 1


def _table_head(ws: Worksheet, row: int, report: PeriodicReport, columns: tuple) -> None:
    for n, (key, width) in enumerate(columns, start=1):
        cell = ws.cell(row, n, report.words[key])
        cell.font = Font(name=_FONT, bold=True)
        cell.fill = _HEAD_FILL
        cell.border = _BOX
        cell.alignment = _CENTRE
        ws.column_dimensions[get_column_letter(n)].width = width
    ws.freeze_panes = ws.cell(row + 1, 1)  # the header row stays in view when scrolling
    ws.print_title_rows = f"{row}:{row}"


def _kpi_sheet(ws: Worksheet, report: PeriodicReport) -> None:
    ws.title = report.words["sheet.kpis"]
    row = _header_block(ws, report, len(KPI_COLUMNS))
    ws.cell(row - 1, 1, report.words["section.kpis"]).font = Font(name=_FONT, bold=True)
    _table_head(ws, row, report, KPI_COLUMNS)
    for n, r in enumerate(report.rows, start=1):
        figure = "#,##0" if r.whole else "#,##0.0"
        values = (
            (n, "0"),
            (r.agency_name, None),
            (r.indicator_name, None),
            (r.unit, None),
            (r.period_label, None),
            (r.actual, figure),
            (r.target, figure),
            (r.progress, "0.0%"),
            (r.status_label, None),
            (report.words["sample_mark"] if r.sample else None, None),
        )
        _table_row(ws, row + n, values)
    end = row + len(report.rows) + 2
    ws.cell(end, 1, report.summary).font = Font(name=_FONT, italic=True)
    if report.sample_note:
        ws.cell(end + 1, 1, report.words["sample_heading"]).font = Font(name=_FONT, bold=True)
        ws.merge_cells(start_row=end + 2, start_column=1, end_row=end + 2, end_column=len(KPI_COLUMNS))
        note = ws.cell(end + 2, 1, report.sample_note)
        note.alignment = _WRAP
        note.font = Font(name=_FONT, italic=True)
        ws.row_dimensions[end + 2].height = 60
    ws.auto_filter.ref = f"A{row}:{get_column_letter(len(KPI_COLUMNS))}{row + len(report.rows)}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _table_row(ws: Worksheet, row: int, values: tuple[tuple[object, str | None], ...]) -> None:
    """One boxed row of a table: (value, number format or None) a cell."""
    for column, (value, number_format) in enumerate(values, start=1):
        cell = ws.cell(row, column, value)
        cell.border = _BOX
        cell.font = Font(name=_FONT)
        cell.alignment = _WRAP
        if number_format:
            cell.number_format = number_format


def _report_sheet(ws: Worksheet, report: PeriodicReport) -> None:
    row = _header_block(ws, report, len(REPORT_COLUMNS))
    ws.cell(row - 1, 1, report.words["section.reports"]).font = Font(name=_FONT, bold=True)
    _table_head(ws, row, report, REPORT_COLUMNS)
    for n, r in enumerate(report.overdue, start=1):
        values = (
            (n, "0"),
            (r.agency_name, None),
            (r.period_label, None),
            (r.deadline, DATE_FORMAT),
            (r.submitted or report.words["not_submitted"], DATE_FORMAT if r.submitted else None),
            (r.status_label, None),
        )
        _table_row(ws, row + n, values)
    if not report.overdue:
        ws.cell(row + 1, 1, report.words["no_overdue"]).font = Font(name=_FONT, italic=True)


def render_xlsx(report: PeriodicReport) -> bytes:
    book = Workbook()
    _kpi_sheet(book.active, report)
    _report_sheet(book.create_sheet(report.words["sheet.reports"]), report)
    book.properties.title = f"{report.title} {report.period}"
    book.properties.creator = "Tiendo"
    out = BytesIO()
    book.save(out)
    return out.getvalue()
