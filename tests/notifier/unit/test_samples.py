"""docs/samples/ is what `tiendo notifier render-samples` renders today (regenerate on change)."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

from services.notifier.adapters.plan_directory import load_directory
from services.notifier.samples import write_samples
from shared.settings import DEFAULT_PLAN, REPO_ROOT

SAMPLES = REPO_ROOT / "docs" / "samples"


def test_committed_samples_match_a_fresh_rendering(tmp_path):
    written = write_samples(load_directory(DEFAULT_PLAN), tmp_path)
    assert len(written) == 6
    for path in written:
        committed = SAMPLES / path.name
        assert committed.exists(), f"run `tiendo notifier render-samples` ({path.name} missing)"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{path.name} drifted: run `tiendo notifier render-samples`"
        )


def test_the_vietnamese_sample_reads_right():
    message = BytesParser(policy=email.policy.default).parsebytes((SAMPLES / "digest-vi.eml").read_bytes())
    # yearly targets and a June report: no single period in the subject (it said "Tháng 6/2024")
    assert message["Subject"] == "[Tiendo] 2 chỉ tiêu chậm tiến độ (+2 cảnh báo khác) — 3 đơn vị"
    text = message.get_body(("plain",)).get_content()
    # the plan's deadline for the Đakrông police's June report (14 June + 1 day), not a fixed one
    for phrase in (
        "Chưa nộp báo cáo",
        "Công an huyện Đakrông",
        "Đã khắc phục",
        "Đang tạm ẩn",
        "Hạn: 15/06/2024 23:59",
        "Kế hoạch số 29/KH-BCĐ",
        "Công an tỉnh Quảng Trị — Năm 2024",
        "Thực hiện: 41 vụ | Chỉ tiêu: 192 | Tiến độ cần đạt: 90 | Dự báo cuối kỳ: 87 (vụ)",
    ):
        assert phrase in text
    assert "19/06/2024 17:00" not in text and "Quý 2/" not in text


def test_the_samples_name_periods_in_one_style():
    message = BytesParser(policy=email.policy.default).parsebytes(
        (SAMPLES / "digest-escalated-vi.eml").read_bytes()
    )
    text = message.get_body(("plain",)).get_content()
    assert "Ủy ban nhân dân huyện Hướng Hóa — Quý II/2024" in text and "Tháng 6/2024" in text
    english = BytesParser(policy=email.policy.default).parsebytes((SAMPLES / "digest-en.eml").read_bytes())
    assert "Plan 29/KH-BCĐ" in english.get_body(("plain",)).get_content()
    assert str(english["Subject"]).endswith("— Year 2024")
