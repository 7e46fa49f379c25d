"""The periodic report over a real projection (issue 19): the demo's first half of 2024 folded by
the real projector into the session's PostgreSQL, exported as .xlsx and PDF by
`GET /v1/reports/periodic` and by `tiendo report export`, and read back: the workbook's figures
are those the read API gives for the same period and cut-off, the PDF's text is Vietnamese."""

from __future__ import annotations

import os
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import httpx
import pypdf
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from services.aggregator.bootstrap import bootstrap
from services.aggregator.entrypoints.report_cli import app as report_cli
from shared.auth import Role
from shared.auth.testing import bearer
from shared.clock import ManualClock
from shared.demo import BEHAVIOURS
from shared.events.models import agency_event_adapter
from shared.labels import kpi_status_label, period_label, report_status_label
from shared.plan.periods import Period
from shared.simulation import Simulation
from tests.aggregator.helpers import NOW, PLAN, committee_api, settings_for, unique_topics
from tests.aggregator.streams import apply_as_arrived

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[3]
H1 = Period.parse("2024-H1")
QUERY = {"period": "2024-H1", "as_of": "2024-06-14"}
LAGGARD = "CA-HUONG-HOA"  # shared.demo: half the pace on drug-crime detections


@pytest.fixture(scope="module")
async def api(module_db):
    """The demo's reporting up to NOW, each event recorded an hour after its time (so the cut-off
    sees what was known then), through the projector's real apply path; no Kafka is needed."""
    events = [agency_event_adapter.validate_python(e) for e in Simulation(PLAN, BEHAVIOURS).events(NOW)]
    agg = bootstrap(
        settings_for("127.0.0.1:9", module_db, unique_topics("report")), clock=ManualClock(NOW), plan=PLAN
    )
    await apply_as_arrived(agg.projector, events, NOW)
    async with committee_api(agg) as client:
        yield client
    await agg.engine.dispose()


def kpi_table(workbook: bytes) -> dict[tuple, tuple]:
    """The KPI sheet's rows: (agency, indicator, period label) -> (actual, target, fraction, status)."""
    sheet = load_workbook(BytesIO(workbook)).worksheets[0]
    head = next(c.row for c in sheet["A"] if c.value == "STT")
    rows = {}
    for row in sheet.iter_rows(min_row=head + 1, values_only=True):
        if not isinstance(row[0], int):
            break  # the summary below the table
        rows[(row[1], row[2], row[4])] = (row[5], row[6], row[7], row[8])
    return rows


def overdue_table(workbook: bytes) -> set[tuple]:
    sheet = load_workbook(BytesIO(workbook)).worksheets[1]
    head = next(c.row for c in sheet["A"] if c.value == "STT")
    return {
        (row[1], row[2], row[5])
        for row in sheet.iter_rows(min_row=head + 1, values_only=True)
        if isinstance(row[0], int)
    }


async def expected_from_the_read_api(api) -> dict[tuple, tuple]:
    items = (await api.get("/v1/kpis", params={"as_of": QUERY["as_of"]})).json()["items"]
    return {
        (
            PLAN.agency(k["agency"]).name_vi,
            PLAN.indicator(k["indicator"]).name_vi,
            period_label(k["period"]),
        ): (k["actual"], k["target"], k["progress"], kpi_status_label(k["status"]))
        for k in items
        if H1.covers(Period.parse(k["period"])) or Period.parse(k["period"]).covers(H1)
    }


@pytest.fixture(scope="module")
async def xlsx(api) -> httpx.Response:
    return await api.get("/v1/reports/periodic", params={**QUERY, "format": "xlsx"})


@pytest.fixture(scope="module")
async def pdf(api) -> httpx.Response:
    return await api.get("/v1/reports/periodic", params={**QUERY, "format": "pdf"})


async def test_the_workbook_is_an_attachment_named_for_the_period(xlsx):
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert xlsx.headers["content-disposition"] == 'attachment; filename="bao-cao-2024-H1-den-2024-06-14.xlsx"'


async def test_the_workbooks_figures_are_the_read_apis_for_the_same_period_and_cut_off(api, xlsx):
    expected = await expected_from_the_read_api(api)
    table = kpi_table(xlsx.content)
    assert len(expected) > 50 and table.keys() == expected.keys()
    for key, (actual, target, fraction, status) in expected.items():
        # a fraction goes through the workbook's text as 15 significant digits, as Excel keeps it
        assert table[key] == (actual, target, pytest.approx(fraction, rel=1e-12), status), key
    laggard = table[(PLAN.agency(LAGGARD).name_vi, PLAN.indicator("drug_cases_detected").name_vi, "Năm 2024")]
    assert laggard[3] in ("Chậm tiến độ", "Có nguy cơ chậm") and laggard[0] > 0


async def test_the_workbooks_late_and_missing_reports_are_the_read_apis(api):
    # the demo's June reports: Đakrông's people's committee never sends it, its police two days
    # late; both are due on 19 June, hence a later cut-off than the figures'
    as_of = "2024-06-20"
    expected = set()
    for agency in PLAN.agencies:
        if PLAN.reporting_rule(agency.code) is None:
            continue
        card = (await api.get(f"/v1/agencies/{agency.code}/scorecard", params={"as_of": as_of})).json()
        expected |= {
            (agency.name_vi, period_label(r["period"]), report_status_label(r["status"]))
            for r in card["reports"]
            if r["status"] in ("late", "missing") and H1.covers(Period.parse(r["period"]))
        }
    assert (PLAN.agency("UBND-DAKRONG").name_vi, "Tháng 6/2024", "Chưa nộp (quá hạn)") in expected
    workbook = await api.get("/v1/reports/periodic", params={"period": "2024-H1", "as_of": as_of})
    assert overdue_table(workbook.content) == expected


async def test_the_cut_off_changes_the_figures(api, xlsx):
    earlier = await api.get("/v1/reports/periodic", params={**QUERY, "as_of": "2024-03-14"})
    assert earlier.status_code == 200
    assert kpi_table(earlier.content) != kpi_table(xlsx.content)


async def test_the_pdf_reads_in_vietnamese_with_the_motto_and_its_fonts_embedded(pdf):
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="bao-cao-2024-H1-den-2024-06-14.pdf"'
    reader = pypdf.PdfReader(BytesIO(pdf.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BAN CHỈ ĐẠO 138 TỈNH QUẢNG TRỊ",
        "Quảng Trị, ngày 14 tháng 6 năm 2024",
        "6 tháng đầu năm 2024",
        "Công an huyện Hướng Hóa",
        "Công an huyện Đakrông",
        "Ủy ban nhân dân thị trấn Krông Klang",
        "TM. BAN CHỈ ĐẠO",
    ):
        assert words in text, words
    embedded = {
        str(ref.get_object()["/BaseFont"]).split("+")[-1]
        for page in reader.pages
        for ref in page["/Resources"]["/Font"].values()
        if "/FontFile2" in ref.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
    }
    assert "Tiendo-Report-Sans" in embedded  # the template's @font-face: DejaVu Sans from its file


async def test_english_on_request(api):
    response = await api.get("/v1/reports/periodic", params={**QUERY, "format": "xlsx", "lang": "en"})
    table = kpi_table_en(response.content)
    assert (PLAN.agency(LAGGARD).name_en, PLAN.indicator("drug_cases_detected").name_en, "Year 2024") in table


def kpi_table_en(workbook: bytes) -> set[tuple]:
    sheet = load_workbook(BytesIO(workbook)).worksheets[0]
    head = next(c.row for c in sheet["A"] if c.value == "No.")
    return {
        (r[1], r[2], r[4])
        for r in sheet.iter_rows(min_row=head + 1, values_only=True)
        if isinstance(r[0], int)
    }


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"period": "2024-Q7"}, "period"),
        ({"period": "2023-H1"}, "the plan covers 2024"),
        ({"period": "2024-H1", "as_of": "2024-13-40"}, "as_of"),
        ({"period": "2024-H1", "as_of": "2024-06-14T10:00"}, "UTC offset"),
        ({"period": "2024-H1", "format": "docx"}, "format"),
        ({"period": "2024-H1", "lang": "fr"}, "lang"),
        ({}, "period"),
    ],
)
async def test_a_bad_parameter_is_a_422_saying_which(api, params, words):
    response = await api.get("/v1/reports/periodic", params=params)
    assert response.status_code == 422
    assert words in str(response.json()["detail"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Authorization": ""}, 401), (bearer(Role.LEADER, agency=LAGGARD), 403), (bearer(Role.OPERATOR), 200)],
)
async def test_the_report_is_for_whoever_may_read_every_agency(api, headers, status):
    response = await api.get(
        "/v1/reports/periodic", params={"period": "2024-06", "as_of": "2024-06-14"}, headers=headers
    )
    assert response.status_code == status, response.text


def test_the_command_writes_both_files_with_the_apis_figures(api, xlsx, module_db, tmp_path):
    runner = CliRunner()
    env = {"DATABASE_URL": module_db}
    written = tmp_path / "h1.xlsx"
    result = runner.invoke(
        report_cli,
        [
            "export",
            "--period",
            "2024-H1",
            "--as-of",
            "2024-06-14",
            "--format",
            "xlsx",
            "--output",
            str(written),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {written}" in " ".join(result.output.split())
    assert kpi_table(written.read_bytes()) == kpi_table(xlsx.content)

    os.chdir(tmp_path)  # without --output: the report's own name, in the working directory
    try:
        result = runner.invoke(
            report_cli, ["export", "--period", "2024-H1", "--as-of", "2024-06-14", "--format", "pdf"], env=env
        )
    finally:
        os.chdir(ROOT)
    assert result.exit_code == 0, result.output
    made = tmp_path / "bao-cao-2024-H1-den-2024-06-14.pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(made).pages)
    assert "Độc lập - Tự do - Hạnh phúc" in text and "Hướng Hóa" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--period", "2024-Q7"], "Invalid value for --period: invalid period '2024-Q7'"),
        (["--period", "2023"], "the plan covers 2024 only"),
        (["--period", "2024-H1", "--as-of", "14/06/2024"], "Invalid value for '--as-of'"),
        (["--period", "2024-H1", "--format", "docx"], "Invalid value for '--format'"),
        (["--period", "2024-H1", "--lang", "fr"], "Invalid value for '--lang'"),
    ],
)
def test_the_command_says_what_is_wrong_in_one_line(args, words):
    done = subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", "report", "export", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("TIENDO_DEBUG", "TIENDO_PLAN_FILE")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("tiendo: ") and words in line and "Traceback" not in done.stderr
