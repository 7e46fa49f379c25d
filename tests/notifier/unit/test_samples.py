"""docs/samples/ is what `tiendo notifier render-samples` renders today (regenerate on change)."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

from shared.settings import DEFAULT_PLAN, REPO_ROOT

from services.notifier.adapters.plan_directory import load_directory
from services.notifier.samples import write_samples

SAMPLES = REPO_ROOT / "docs" / "samples"


def test_committed_samples_match_a_fresh_rendering(tmp_path):
    written = write_samples(load_directory(DEFAULT_PLAN), tmp_path)
    assert len(written) == 6
    for path in written:
        committed = SAMPLES / path.name
        assert committed.exists(), f"run `tiendo notifier render-samples` ({path.name} missing)"
        assert committed.read_bytes() == path.read_bytes(), f"{path.name} drifted: run `tiendo notifier render-samples`"


def test_the_vietnamese_sample_reads_right():
    message = BytesParser(policy=email.policy.default).parsebytes((SAMPLES / "digest-vi.eml").read_bytes())
    assert message["Subject"] == "[Tiendo] 2 chỉ tiêu chậm tiến độ (+2 cảnh báo khác) — 3 đơn vị — Tháng 6/2024"
    text = message.get_body(("plain",)).get_content()
    for phrase in ("Chưa nộp báo cáo", "Công an huyện Đakrông", "Đã khắc phục", "Đang tạm ẩn", "Hạn: 19/06/2024 17:00"):
        assert phrase in text
