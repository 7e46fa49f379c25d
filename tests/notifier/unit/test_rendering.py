"""The email: subject, Vietnamese/English, multipart, MIME encoding, no header injection."""

from __future__ import annotations

import email.policy
from dataclasses import replace
from datetime import timedelta
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import pytest

from services.notifier.adapters.rendering import InvalidAddress, RenderContext, address, render, subject
from services.notifier.domain.directory import Leader
from services.notifier.domain.policy import DigestPolicy
from shared.events import ReportStatus
from tests.notifier.helpers import PLAN_ZONE, T0, kpi_event, report_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes

# The service plans as each event lands: a group wait gathers the events of one test into one digest.
POLICY = DigestPolicy(timezone=PLAN_ZONE, group_wait=timedelta(minutes=1))


def digest_for(directory, events, email="cat@qt.example"):
    m = NotifierOnFakes(directory, POLICY)
    for event in events:
        m.event(event, T0)
    return next(d for d in m.tick(T0 + POLICY.group_wait) if d.recipient.email == email)


def wire(message) -> bytes:
    return message.as_bytes()


def parse(raw: bytes):
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def ctx(directory):
    return RenderContext(
        directory, "Tiendo <tiendo@tiendo.local>", ack_link=lambda a: f"https://t.example/ack/{a.id}"
    )


def test_vietnamese_subject_and_body_survive_the_wire_with_diacritics():
    d = small_directory()
    digest = digest_for(
        d,
        [
            kpi_event(indicator="drug_cases_detected"),
            kpi_event(indicator="propaganda_sessions"),
            kpi_event(indicator="propaganda_sessions", period="2024-05"),
        ],
    )
    raw = wire(render(digest, ctx(d)))
    assert all(b < 128 for b in raw)  # 7-bit on the wire: encoded words and quoted-printable
    assert b"=?utf-8?" in raw and b"Content-Transfer-Encoding: quoted-printable" in raw
    message = parse(raw)
    assert (
        message["Subject"] == "[Tiendo] 3 chỉ tiêu chậm tiến độ — Công an tỉnh Quảng Trị"
    )  # two periods: no period
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()
    assert "Số buổi tuyên truyền phòng, chống ma túy" in text and "Tháng 5/2024" in text
    assert "Kính gửi đồng chí Lãnh đạo CAT" in html and 'name="viewport"' in html
    assert "Thực hiện: 41 vụ" in text and "Dự báo cuối kỳ: 150" in text
    assert message["Content-Language"] == "vi" and message["Message-ID"].endswith("@tiendo.local>")


def test_english_for_a_leader_who_prefers_it():
    d = small_directory()
    digest = digest_for(
        d, [kpi_event(agency="UBND-HUONG-HOA", indicator="propaganda_sessions")], "ubhh@qt.example"
    )
    message = parse(wire(render(digest, ctx(d))))
    assert message["Subject"] == "[Tiendo] 1 indicator(s) lagging — Huong Hoa PC — June 2024"
    assert "Dear Lãnh đạo UBHH," in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("year", "vi", "en"),
    [
        (2025, "Kế hoạch phòng, chống ma túy năm 2025 như sau.", "progress on the 2025 drug prevention"),
        (None, "Kế hoạch phòng, chống ma túy như sau.", "progress on the drug prevention"),
    ],
)
def test_the_opening_line_names_the_plans_own_year(year, vi, en):
    d = replace(small_directory(), plan_year=year)
    vi_text = parse(wire(render(digest_for(d, [kpi_event()]), ctx(d)))).get_body(("plain",)).get_content()
    en_digest = digest_for(
        d, [kpi_event(agency="UBND-HUONG-HOA", indicator="propaganda_sessions")], "ubhh@qt.example"
    )
    en_text = parse(wire(render(en_digest, ctx(d)))).get_body(("plain",)).get_content()
    assert vi in vi_text and en in en_text and "2024 drug" not in en_text


def test_the_subject_leads_with_the_most_severe_kind():
    d = small_directory()
    digest = digest_for(
        d,
        [
            report_event(agency="BCD138", status=ReportStatus.LATE),
            report_event(agency="BCD138", period="2024-05"),
        ],
        "bcd@qt.example",
    )
    assert (
        subject(digest, d)
        == "[Tiendo] 1 báo cáo chưa nộp (+1 cảnh báo khác) — Ban Chỉ đạo 138 tỉnh Quảng Trị"
    )


@pytest.mark.parametrize(
    "evil",
    [
        "Công an\r\nBcc: spy@evil.example",
        "Công an\nSubject: forged",
        "Công an\rX-Evil: 1",
        "Công an\u2028Bcc: spy@evil.example",
        "Công an\x00\x1b[31m",
    ],
)
def test_agency_supplied_text_cannot_inject_headers(evil):
    d = small_directory()
    d.agencies["CA-TINH"] = replace(
        d.agencies["CA-TINH"], name_vi=evil, leaders=(Leader(f"Ông {evil}", "cat@qt.example"),)
    )
    digest = digest_for(d, [kpi_event(agency="CA-TINH")])
    raw = wire(render(digest, ctx(d)))
    message = parse(raw)
    header_block = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert len(message.get_all("Subject")) == 1 and "forged" not in str(message["Subject"]).split("—")[0]
    assert [a.addr_spec for a in message["To"].addresses] == ["cat@qt.example"]
    assert b"\nBcc:" not in header_block and b"\nX-Evil" not in header_block


@pytest.mark.parametrize(
    "bad", ["a@b.example\r\nBcc: x@y.example", "a@b.example, x@y.example", "<a@b>", "no-at"]
)
def test_a_malformed_leader_address_is_refused(bad):
    with pytest.raises(InvalidAddress):
        address("Ai đó", bad)


def test_html_escapes_agency_text():
    d = small_directory()
    d.agencies["CA-TINH"] = replace(d.agencies["CA-TINH"], name_vi="<script>alert(1)</script> Công an")
    html = parse(wire(render(digest_for(d, [kpi_event()]), ctx(d)))).get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_footer_lists_silences_and_held_back_alerts():
    d = small_directory()
    m = NotifierOnFakes(d, POLICY)
    from services.notifier.domain.silences import Silence

    m.add_silence(
        Silence("CA-TINH", "propaganda_sessions", None, T0, T0 + timedelta(days=2), "Đối soát", "trực ban")
    )
    for e in [
        kpi_event(indicator="propaganda_sessions"),
        report_event(agency="CA-TINH", period="2024-05"),
        kpi_event(period="2024-05"),
    ]:
        m.event(e, T0)
    [digest] = [x for x in m.tick(T0 + POLICY.group_wait) if x.recipient.email == "cat@qt.example"]
    text = parse(wire(render(digest, ctx(d)))).get_body(("plain",)).get_content()
    assert "Đang tạm ẩn" in text and "lý do: Đối soát (bởi trực ban)" in text
    assert "1 cảnh báo khác được tạm hoãn" in text


@pytest.mark.parametrize(
    "name",
    [
        "Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh Quảng Trị",
        "Ủy ban nhân dân thị trấn Krông Klang, huyện Đakrông, tỉnh Quảng Trị (mới)",
    ],
)
def test_long_subjects_keep_every_space_when_folded(name):
    d = small_directory()
    d.agencies["CA-TINH"] = replace(d.agencies["CA-TINH"], name_vi=name)
    digest = digest_for(d, [kpi_event(period="2024-H2")])
    raw = wire(render(digest, ctx(d)))
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in header.split(b"\r\n")) <= 78
    assert parse(raw)["Subject"] == f"[Tiendo] 1 chỉ tiêu chậm tiến độ — {name} — 6 tháng cuối năm 2024"


def test_each_alert_links_to_its_figure_s_page_in_the_reader_s_language():
    """From the email to the page of the agency's figure (the aggregator's, behind the login)."""
    d = small_directory()
    with_pages = replace(ctx(d), pages_url="https://tiendo.example/")
    digest = digest_for(d, [kpi_event(indicator="propaganda_sessions", period="2024-05")])
    message = parse(wire(render(digest, with_pages)))
    link = "https://tiendo.example/agencies/CA-TINH/figures/propaganda_sessions/2024-05"
    text, html = message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()
    assert f"Xem số liệu và lịch sử báo cáo: {link}" in text
    assert f'<a href="{link}"' in html and "Xem số liệu và lịch sử báo cáo</a>" in html
    english = digest_for(
        d, [kpi_event(agency="UBND-HUONG-HOA", indicator="propaganda_sessions")], "ubhh@qt.example"
    )
    text = parse(wire(render(english, with_pages))).get_body(("plain",)).get_content()
    assert (
        "See the figures and their history: https://tiendo.example/agencies/UBND-HUONG-HOA/figures/" in text
    )
    assert "?lang=en" in text
    report = digest_for(d, [report_event()])
    text = parse(wire(render(report, with_pages))).get_body(("plain",)).get_content()
    assert "Xem số liệu và lịch sử báo cáo: https://tiendo.example/agencies/CA-TINH\r\n" in text  # its agency
    without = parse(wire(render(digest, ctx(d)))).get_body(("plain",)).get_content()
    assert "Xem số liệu" not in without  # no pages configured: no link


def test_the_opening_line_names_the_plan_of_each_alerts_year(tmp_path):
    """Two plan years loaded (issue 20): an email about 2024 and 2025 figures names both plans; one
    about 2024 only, the 2024 plan, not the newest."""
    from services.notifier.adapters.plan_directory import load_directory
    from tests.plans import NEXT_YEAR_CODE, two_plan_folder

    d = load_directory(two_plan_folder(tmp_path / "plans"))
    assert d.plan_code == NEXT_YEAR_CODE  # the newest plan's directory ...
    leader = d.agency("CA-TINH").leaders[0].email
    both = digest_for(
        d,
        [kpi_event(period="2024"), kpi_event(period="2025-01", indicator="drug_suspects_arrested")],
        leader,
    )
    body = parse(wire(render(both, ctx(d)))).get_body(("plain",)).get_content()
    assert (
        "thực hiện Kế hoạch số 29/KH-BCĐ thực hiện công tác phòng, chống ma túy năm 2024 và "
        f"Kế hoạch số {NEXT_YEAR_CODE} thực hiện công tác phòng, chống ma túy năm 2025 như sau" in body
    )
    last_year = digest_for(d, [kpi_event(period="2024")], leader)
    body = parse(wire(render(last_year, ctx(d)))).get_body(("plain",)).get_content()
    assert "Kế hoạch số 29/KH-BCĐ" in body and NEXT_YEAR_CODE not in body  # ... names 2024's for 2024


def test_an_agency_renamed_by_an_amendment_is_named_as_it_is_on_the_digests_day():
    d = small_directory()
    day = T0.astimezone(ZoneInfo(d.timezone)).date()
    police = d.agencies["CA-TINH"]
    for since, name in ((day + timedelta(days=1), "Công an tỉnh Quảng Trị"), (day, "Công an tỉnh (tên mới)")):
        renamed = replace(police, renamed=((since, "Công an tỉnh (tên mới)", "Provincial Police (new)"),))
        directory = replace(d, agencies={**d.agencies, "CA-TINH": renamed})
        digest = digest_for(directory, [kpi_event(indicator="drug_cases_detected")])
        message = parse(wire(render(digest, ctx(directory))))
        assert f"— {name} —" in message["Subject"]
        assert name in message.get_body(("plain",)).get_content()
