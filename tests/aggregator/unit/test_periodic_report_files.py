"""The periodic report's files on plain data: the .xlsx read back with openpyxl (a header block,
a frozen header row, widths, figures as formatted numbers) and the PDF read back with pypdf (A4,
DejaVu Sans embedded, the decree's header, Vietnamese text intact) (issue 19)."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO

import pypdf
import pytest
from fontTools.ttLib import TTFont
from openpyxl import load_workbook

from services.aggregator.adapters.periodic_reports import render
from services.aggregator.domain.periodic_report import build_periodic_report
from shared.plan.periods import Period
from tests.aggregator.helpers import PLAN

VIETNAM = PLAN.tz

AS_OF = datetime(2024, 6, 14, 23, 59, 59, tzinfo=VIETNAM)
KPIS = [
    {"agency": "CA-HUONG-HOA", "indicator": "drug_cases_detected", "period": "2024", "actual": 7,
     "target": 21, "progress": 7 / 21, "status": "lagging"},
    {"agency": "CA-TINH", "indicator": "drug_seizures_heroin_g", "period": "2024", "actual": 1234.5,
     "target": 5000, "progress": 1234.5 / 5000, "status": "at_risk"},
    {"agency": "MTTQ", "indicator": "propaganda_sessions", "period": "2024-H1", "actual": 12,
     "target": 12, "progress": 1.0, "status": "achieved"},
]  # fmt: skip
REPORTS = {
    "HQ": [
        {"period": "2024-05", "status": "late", "deadline": "2024-05-19T23:59:59+07:00",
         "submitted_at": "2024-05-22T09:00:00+07:00"},
        {"period": "2024-04", "status": "missing", "deadline": "2024-04-19T23:59:59+07:00", "submitted_at": None},
    ]
}  # fmt: skip


def report(lang: str = "vi"):
    return build_periodic_report(PLAN, Period.parse("2024-H1"), AS_OF, KPIS, REPORTS, lang)


@pytest.fixture(scope="module")
def book():
    return load_workbook(BytesIO(render(report(), "xlsx")))


@pytest.fixture(scope="module")
def pdf():
    return pypdf.PdfReader(BytesIO(render(report(), "pdf")))


def header_row(sheet) -> int:
    return next(c.row for c in sheet["A"] if c.value == "STT")


def test_the_sheet_opens_with_the_decrees_header_block(book):
    sheet = book.worksheets[0]
    texts = [c.value for row in sheet.iter_rows(max_row=header_row(sheet)) for c in row if c.value]
    assert texts[:5] == [
        "BAN CHỈ ĐẠO 138 TỈNH QUẢNG TRỊ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Số:       /BC-BCĐ",
        "Độc lập - Tự do - Hạnh phúc",
        "Quảng Trị, ngày 14 tháng 6 năm 2024",
    ]
    assert "BÁO CÁO" in texts and any("6 tháng đầu năm 2024" in t for t in texts)


def test_the_header_row_is_frozen_and_the_columns_have_widths(book):
    sheet = book.worksheets[0]
    row = header_row(sheet)
    assert sheet.freeze_panes == f"A{row + 1}"
    assert [c.value for c in sheet[row]][:3] == ["STT", "Cơ quan, đơn vị", "Nội dung chỉ tiêu"]
    assert sheet.column_dimensions["C"].width >= 40 and sheet.column_dimensions["A"].width <= 6


def test_the_figures_are_numbers_with_number_formats(book):
    sheet = book.worksheets[0]
    row = header_row(sheet)
    rows = [list(r) for r in sheet.iter_rows(min_row=row + 1, max_row=row + 3)]
    by_agency = {r[1].value: r for r in rows}
    laggard = by_agency["Công an huyện Hướng Hóa"]
    assert [c.value for c in laggard[2:6]] == [
        "Số vụ phạm tội về ma túy được phát hiện, bắt giữ",
        "vụ",
        "Năm 2024",
        7,
    ]
    assert isinstance(laggard[5].value, int | float) and laggard[5].number_format == "#,##0"
    assert laggard[6].value == 21 and laggard[7].value == pytest.approx(1 / 3)
    assert laggard[7].number_format == "0.0%" and laggard[8].value == "Chậm tiến độ"
    seizure = by_agency[PLAN.agency("CA-TINH").name_vi]
    assert seizure[5].value == 1234.5 and seizure[5].number_format == "#,##0.0"
    sample = by_agency[PLAN.agency("MTTQ").name_vi]
    assert sample[9].value == "Chỉ tiêu mẫu (*)"  # MTTQ's H1 sessions: a sample target in the plan
    notes = [c.value for r in sheet.iter_rows(min_row=row + 4) for c in r if isinstance(c.value, str)]
    assert PLAN.sample_data_note in notes


def test_the_late_and_missing_reports_have_a_sheet_of_their_own_with_real_dates(book):
    sheet = book.worksheets[1]
    row = header_row(sheet)
    first, second = ([c.value for c in r] for r in sheet.iter_rows(min_row=row + 1, max_row=row + 2))
    assert first[1:4] == [PLAN.agency("HQ").name_vi, "Tháng 4/2024", datetime(2024, 4, 19)]
    assert first[4] == "Chưa nộp" and first[5] == "Chưa nộp (quá hạn)"
    assert second[3:5] == [datetime(2024, 5, 19), datetime(2024, 5, 22)]
    assert sheet.cell(row + 1, 4).number_format == "dd/mm/yyyy"


def embedded_fonts(pdf) -> set[str]:
    """The full names (as the font files themselves give them) of the fonts embedded in the PDF;
    each is the template's @font-face family (its files, not a font the system would pick)."""
    names = set()
    for page in pdf.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font)[
                "/FontDescriptor"
            ]
            assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
            assert str(font["/BaseFont"]).split("+")[-1].startswith("Tiendo-Report-Sans"), font["/BaseFont"]
            data = descriptor["/FontFile2"].get_object().get_data()
            names.add(TTFont(BytesIO(data))["name"].getDebugName(4))
    return names


def test_the_pdf_is_a4_with_dejavu_sans_embedded(pdf):
    width, height = (float(x) for x in pdf.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert (
        {"DejaVu Sans", "DejaVu Sans Bold"}
        <= embedded_fonts(pdf)
        <= {
            "DejaVu Sans",
            "DejaVu Sans Bold",
            "DejaVu Sans Oblique",
            "DejaVu Sans Bold Oblique",
        }
    )


def test_the_pdf_reads_as_the_decrees_report_in_vietnamese(pdf):
    text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())  # table cells wrap
    for words in (
        "BAN CHỈ ĐẠO 138 TỈNH QUẢNG TRỊ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "/BC-BCĐ",
        "Quảng Trị, ngày 14 tháng 6 năm 2024",
        "BÁO CÁO",
        "6 tháng đầu năm 2024",
        "Công an huyện Hướng Hóa",
        "Chậm tiến độ",
        "1.234,5",  # Vietnamese digits: dot for thousands, comma for decimals
        "Cục Hải quan tỉnh Quảng Trị",
        "Chưa nộp (quá hạn)",
        "Ghi chú về số liệu mẫu",
        "TM. BAN CHỈ ĐẠO",
    ):
        assert words in text, words


def test_english_on_request():
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(BytesIO(render(report("en"), "pdf"))).pages)
    assert "SOCIALIST REPUBLIC OF VIET NAM" in text and "H1 2024" in text and "1,234.5" in text
    sheet = load_workbook(BytesIO(render(report("en"), "xlsx"))).worksheets[0]
    assert [c.value for c in sheet[header_row_en(sheet)]][1] == "Agency"


def header_row_en(sheet) -> int:
    return next(c.row for c in sheet["A"] if c.value == "No.")
