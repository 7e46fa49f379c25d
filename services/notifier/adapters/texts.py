"""Every sentence a leader reads, in Vietnamese (default) and English."""

from __future__ import annotations

import math

from services.notifier.domain.alerts import AlertKind

KIND_COUNT = {
    "vi": {
        AlertKind.MISSED: "{n} chỉ tiêu không hoàn thành",
        AlertKind.NO_DATA: "{n} chỉ tiêu chưa có số liệu",
        AlertKind.LAGGING: "{n} chỉ tiêu chậm tiến độ",
        AlertKind.REPORT_MISSING: "{n} báo cáo chưa nộp",
        AlertKind.REPORT_LATE: "{n} báo cáo nộp muộn",
        AlertKind.AT_RISK_REPEATED: "{n} chỉ tiêu có nguy cơ chậm 2 kỳ liên tiếp",
        AlertKind.FORECAST_BELOW_TARGET: "{n} chỉ tiêu dự báo không đạt kế hoạch",
    },
    "en": {
        AlertKind.MISSED: "{n} target(s) missed",
        AlertKind.NO_DATA: "{n} indicator(s) without data",
        AlertKind.LAGGING: "{n} indicator(s) lagging",
        AlertKind.REPORT_MISSING: "{n} report(s) missing",
        AlertKind.REPORT_LATE: "{n} report(s) late",
        AlertKind.AT_RISK_REPEATED: "{n} indicator(s) at risk two periods running",
        AlertKind.FORECAST_BELOW_TARGET: "{n} indicator(s) forecast below target",
    },
}
KIND_TITLE = {
    "vi": {
        AlertKind.MISSED: "Không hoàn thành chỉ tiêu",
        AlertKind.NO_DATA: "Chưa có số liệu",
        AlertKind.LAGGING: "Chậm tiến độ",
        AlertKind.REPORT_MISSING: "Chưa nộp báo cáo",
        AlertKind.REPORT_LATE: "Nộp báo cáo muộn",
        AlertKind.AT_RISK_REPEATED: "Có nguy cơ chậm 2 kỳ liên tiếp",
        AlertKind.FORECAST_BELOW_TARGET: "Dự báo cả năm không đạt chỉ tiêu",
    },
    "en": {
        AlertKind.MISSED: "Target missed",
        AlertKind.NO_DATA: "No data",
        AlertKind.LAGGING: "Lagging",
        AlertKind.REPORT_MISSING: "Report missing",
        AlertKind.REPORT_LATE: "Report late",
        AlertKind.AT_RISK_REPEATED: "At risk two periods running",
        AlertKind.FORECAST_BELOW_TARGET: "Year-end forecast below target",
    },
}
WHAT_TO_DO = {
    "vi": {
        AlertKind.MISSED: "Kỳ thực hiện đã kết thúc mà chỉ tiêu không đạt: đề nghị báo cáo giải trình nguyên nhân, "
        "trách nhiệm và biện pháp khắc phục.",
        AlertKind.NO_DATA: "Chưa có số liệu “{missing}” nên chưa xác định được chỉ tiêu cần đạt; "
        "đề nghị báo cáo bổ sung số liệu này.",
        AlertKind.LAGGING: "Rà soát nguyên nhân, có biện pháp đẩy nhanh tiến độ và báo cáo kết quả trong kỳ tới.",
        AlertKind.REPORT_MISSING: "Chỉ đạo bộ phận thống kê nộp báo cáo ngay; số liệu của kỳ này đang bị thiếu.",
        AlertKind.REPORT_LATE: "Đề nghị bảo đảm nộp báo cáo đúng hạn ở các kỳ sau.",
        AlertKind.AT_RISK_REPEATED: "Xem xét điều chỉnh kế hoạch triển khai để tránh bị chậm tiến độ.",
        AlertKind.FORECAST_BELOW_TARGET: "Cảnh báo sớm: cần tăng cường thực hiện để đạt chỉ tiêu cả năm.",
    },
    "en": {
        AlertKind.MISSED: "The period is over and the target was not met: report the causes, "
        "who is responsible and the remedial measures.",
        AlertKind.NO_DATA: "“{missing}” has not been reported, so the target cannot be set; "
        "please report this figure.",
        AlertKind.LAGGING: "Review the causes, speed up the work and report the result next period.",
        AlertKind.REPORT_MISSING: "Have the report submitted now; this period's figures are missing.",
        AlertKind.REPORT_LATE: "Please make sure future reports are submitted on time.",
        AlertKind.AT_RISK_REPEATED: "Consider adjusting the work plan before the indicator falls behind.",
        AlertKind.FORECAST_BELOW_TARGET: "Early warning: step up the work to meet the year's target.",
    },
}
T = {
    "vi": {
        "greeting": "Kính gửi đồng chí {name},",
        "intro": "Hệ thống Tiendo tổng hợp tình hình thực hiện Kế hoạch phòng, chống ma túy{year} như sau.",
        "new": "Cảnh báo mới",
        "new_badge": "MỚI",
        "still_open": "Chưa được khắc phục",
        "resolved": "Đã khắc phục",
        "actual": "Thực hiện",
        "target": "Chỉ tiêu",
        "expected": "Tiến độ cần đạt",
        "forecast": "Dự báo cuối kỳ",
        "deadline": "Hạn",
        "todo": "Việc cần làm",
        "ack": "Xác nhận đã nhận / đang xử lý",
        "figures": "Xem số liệu và lịch sử báo cáo",
        "acked": "Đã được {who} xác nhận lúc {when}",
        "escalated": "Chuyển lên vì {agency} chưa xác nhận sau {days} ngày",
        "submitted_at": "Nộp lúc",
        "communes": "Đơn vị cấp dưới cùng chỉ tiêu",
        "silences": "Đang tạm ẩn",
        "silence_line": "{scope} đến {until} — lý do: {reason} (bởi {by})",
        "inhibited": "{n} cảnh báo khác được tạm hoãn vì đơn vị chưa nộp báo cáo kỳ này.",
        "footer": "Thư gửi tự động từ hệ thống Tiendo. Mỗi người nhận tối đa một thư tổng hợp mỗi ngày, trừ khi có cảnh báo nghiêm trọng mới.",
        "repeat": "Nhắc lại",
        "resolved_subject": "Đã khắc phục {n} cảnh báo",
        "agencies": "{n} đơn vị",
        "other": "{n} cảnh báo khác",
        "severity": {"critical": "Nghiêm trọng", "warning": "Cần chú ý", "info": "Thông tin"},
    },
    "en": {
        "greeting": "Dear {name},",
        "intro": "Tiendo's summary of progress on the{year} drug prevention and control plan.",
        "new": "New alerts",
        "new_badge": "NEW",
        "still_open": "Still open",
        "resolved": "Resolved",
        "actual": "Actual",
        "target": "Target",
        "expected": "Expected by now",
        "forecast": "Forecast for the period",
        "deadline": "Deadline",
        "todo": "What to do",
        "ack": "Acknowledge (received / working on it)",
        "figures": "See the figures and their history",
        "acked": "Acknowledged by {who} at {when}",
        "escalated": "Escalated: {agency} has not acknowledged for {days} days",
        "submitted_at": "Submitted at",
        "communes": "Subordinate units on the same indicator",
        "silences": "Silenced",
        "silence_line": "{scope} until {until} — reason: {reason} (by {by})",
        "inhibited": "{n} other alert(s) held back because the agency has not submitted this period's report.",
        "footer": "Sent automatically by Tiendo. At most one digest per recipient per day unless a new critical alert arrives.",
        "repeat": "Reminder",
        "resolved_subject": "{n} alert(s) resolved",
        "agencies": "{n} agencies",
        "other": "{n} more",
        "severity": {"critical": "Critical", "warning": "Warning", "info": "Info"},
    },
}


def what_to_do(language: str, kind: AlertKind, missing: str | None = None) -> str:
    """The action asked for; a `no_data` alert names the figure that is missing."""
    return WHAT_TO_DO[language][kind].format(missing=missing or "—")


def intro(language: str, plans: list[tuple[int, str | None, str | None]]) -> str:
    """The opening line, naming the plans of the email's alerts, (year, code, title) each: by number
    and title (e.g. Plan 29/KH-BCĐ) when the plan gives them, else by year."""
    named = [(year, code, title) for year, code, title in plans if code]
    if named:
        if language == "vi":  # "Kế hoạch số 29/KH-BCĐ thực hiện công tác phòng, chống ma túy năm 2024"
            parts = [
                f"Kế hoạch số {code} "
                + ((title or "").removeprefix("Kế hoạch").strip() or f"phòng, chống ma túy năm {year}")
                for year, code, title in named
            ]
            return f"Hệ thống Tiendo tổng hợp tình hình thực hiện {' và '.join(parts)} như sau."
        parts = [f"Plan {code}, the {year} drug prevention and control plan" for year, code, _ in named]
        return f"Tiendo's summary of progress on {' and '.join(parts)}."
    year = plans[0][0] if plans else None
    return T[language]["intro"].format(year=f" {'năm ' if language == 'vi' else ''}{year}" if year else "")


def number(value: float | None, language: str, whole: bool = False) -> str:
    """1234.5 → "1.234,5" (vi) or "1,234.5" (en); `whole` (a count: cases, sessions) rounds to a
    whole number, half up (a forecast of 163.5 cases reads 164)."""
    if value is None:
        return "—"
    if whole:
        value = float(math.floor(value + 0.5))
    text = f"{value:,.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return text.translate(str.maketrans(",.", ".,")) if language == "vi" else text
