"""The people's pages' words, Vietnamese first (administrative register), English available.

One catalogue for every page (board, agency page, later the alerts page and the reporting form).
Statuses and periods are not here: they come from shared.labels, as in the emails and the APIs.
The language is chosen by `?lang=en|vi` (remembered in a cookie) or that cookie; Vietnamese otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.labels import Lang

LANG_COOKIE = "tiendo_lang"
DEFAULT_LANG: Lang = "vi"

MESSAGES: dict[str, dict[str, str]] = {
    "app.name": {"vi": "Tiendo — Theo dõi tiến độ thực hiện kế hoạch", "en": "Tiendo — plan progress"},
    "nav.board": {"vi": "Bảng tổng hợp", "en": "Board"},
    "nav.language": {"vi": "Ngôn ngữ", "en": "Language"},
    "nav.account": {"vi": "Tài khoản", "en": "Account"},
    "nav.logout": {"vi": "Đăng xuất", "en": "Log out"},
    "board.title": {"vi": "Bảng tổng hợp tiến độ thực hiện chỉ tiêu", "en": "Progress of the plan's targets"},
    "board.current": {"vi": "Các kỳ đang thực hiện", "en": "Periods in progress"},
    "board.period": {"vi": "Kỳ báo cáo", "en": "Reporting period"},
    "board.as_of": {"vi": "Số liệu tính đến ngày", "en": "Figures as of"},
    "board.as_of_now": {"vi": "Số liệu mới nhất", "en": "Latest figures"},
    "board.show": {"vi": "Xem", "en": "Show"},
    "board.by_status": {"vi": "Cơ quan theo tình trạng", "en": "Agencies by status"},
    "board.behind": {"vi": "Cơ quan chậm tiến độ", "en": "Agencies behind"},
    "board.none_behind": {"vi": "Không có cơ quan nào chậm tiến độ.", "en": "No agency is behind."},
    "board.reports": {"vi": "Báo cáo nộp muộn hoặc chưa nộp", "en": "Reports late or missing"},
    "board.no_late_reports": {
        "vi": "Không có báo cáo nộp muộn hoặc quá hạn.",
        "en": "No report is late or missing.",
    },
    "board.no_kpis": {"vi": "Không có chỉ tiêu nào trong kỳ này.", "en": "No target in this period."},
    "board.chart": {"vi": "Tiến độ trong năm", "en": "Progress over the year"},
    "board.report": {"vi": "Báo cáo định kỳ", "en": "Periodic report"},
    "board.report_xlsx": {"vi": "Tải báo cáo (Excel)", "en": "Download the report (Excel)"},
    "board.report_pdf": {"vi": "Tải báo cáo (PDF)", "en": "Download the report (PDF)"},
    "col.agency": {"vi": "Cơ quan, đơn vị", "en": "Agency"},
    "col.indicator": {"vi": "Chỉ tiêu", "en": "Indicator"},
    "col.period": {"vi": "Kỳ", "en": "Period"},
    "col.actual": {"vi": "Thực hiện", "en": "Actual"},
    "col.target": {"vi": "Chỉ tiêu giao", "en": "Target"},
    "col.expected": {"vi": "Theo tiến độ", "en": "Expected by now"},
    "col.forecast": {"vi": "Dự báo cả kỳ", "en": "Forecast"},
    "col.status": {"vi": "Tình trạng", "en": "Status"},
    "col.deadline": {"vi": "Hạn nộp", "en": "Deadline"},
    "col.submitted": {"vi": "Ngày nộp", "en": "Submitted"},
    "col.history": {"vi": "Diễn biến số liệu", "en": "History"},
    "col.time": {"vi": "Thời điểm", "en": "Time"},
    "col.recorded": {"vi": "Ghi nhận lúc", "en": "Recorded"},
    "col.event": {"vi": "Sự kiện", "en": "Event"},
    "col.value": {"vi": "Giá trị", "en": "Value"},
    "col.role": {"vi": "Trạng thái", "en": "Role"},
    "col.reason": {"vi": "Lý do điều chỉnh", "en": "Correction reason"},
    "agency.kpis": {"vi": "Các chỉ tiêu của cơ quan", "en": "The agency's targets"},
    "agency.reports": {"vi": "Tình hình nộp báo cáo", "en": "Reports' timeliness"},
    "agency.no_reports": {"vi": "Cơ quan không có lịch nộp báo cáo.", "en": "No reporting schedule."},
    "agency.parent": {"vi": "Cơ quan cấp trên", "en": "Reports to"},
    "figure.title": {"vi": "Diễn biến số liệu", "en": "History of the figure"},
    "figure.current": {"vi": "Số liệu hiện tại", "en": "Current figure"},
    "figure.no_events": {"vi": "Chưa có sự kiện nào cho số liệu này.", "en": "No event behind this figure."},
    "figure.back": {"vi": "Quay lại trang cơ quan", "en": "Back to the agency"},
    "role.applied": {"vi": "Đang áp dụng", "en": "Applied"},
    "role.superseded": {"vi": "Đã được thay thế", "en": "Superseded"},
    "role.correction": {"vi": "Điều chỉnh (đang áp dụng)", "en": "Correction (applied)"},
    "role.superseded_correction": {"vi": "Điều chỉnh (đã được thay thế)", "en": "Correction (superseded)"},
    "role.counted": {"vi": "Hoạt động được tính", "en": "Counted activity"},
    "role.assessment": {"vi": "Kết quả đánh giá (đang áp dụng)", "en": "Assessment (applied)"},
    "role.superseded_assessment": {
        "vi": "Kết quả đánh giá (đã được thay thế)",
        "en": "Assessment (superseded)",
    },
    "event.reported": {"vi": "Báo cáo số liệu", "en": "Figure reported"},
    "event.corrected": {"vi": "Điều chỉnh số liệu", "en": "Figure corrected"},
    "event.activity": {"vi": "Ghi nhận hoạt động", "en": "Activity recorded"},
    "event.assessed": {"vi": "Đánh giá", "en": "Assessment"},
    "sample.note": {"vi": "Số liệu mẫu", "en": "Sample figures"},
    # -- the alerts page (the notifier's /pages/alerts) -----------------------------------------
    "alerts.title": {"vi": "Cảnh báo đang mở", "en": "Open alerts"},
    "alerts.scope_all": {
        "vi": "Cảnh báo của tất cả cơ quan, đơn vị trong tỉnh.",
        "en": "The alerts of every agency of the province.",
    },
    "alerts.scope_agency": {
        "vi": "Cảnh báo của {agency} và các cơ quan, đơn vị cấp dưới.",
        "en": "The alerts of {agency} and the agencies below it.",
    },
    "alerts.none": {"vi": "Không có cảnh báo nào đang mở.", "en": "No alert is open."},
    "alerts.periodic_report": {"vi": "Báo cáo định kỳ", "en": "Periodic report"},
    "alerts.not_escalated": {"vi": "Chưa chuyển lên cấp trên", "en": "Not escalated"},
    "alerts.escalated": {
        "vi": "Đã chuyển lên {level} cấp: {agencies}",
        "en": "Escalated {level} level(s): {agencies}",
    },
    "alerts.acked_by": {"vi": "Đã xác nhận: {name}, lúc {when}", "en": "Acknowledged by {name} at {when}"},
    "alerts.not_acked": {"vi": "Chưa xác nhận", "en": "Not acknowledged"},
    "alerts.ack_button": {"vi": "Xác nhận đã nhận, đang xử lý", "en": "Acknowledge: received, working on it"},
    "alerts.back": {"vi": "Về danh sách cảnh báo", "en": "Back to the alerts"},
    "alerts.forbidden.title": {"vi": "Không có quyền truy cập", "en": "Access denied"},
    "alerts.forbidden": {
        "vi": "Tài khoản của đồng chí không được xem cảnh báo.",
        "en": "Your account may not see alerts.",
    },
    "alerts.ack_refused.title": {"vi": "Không được xác nhận cảnh báo", "en": "Acknowledgement refused"},
    "alerts.ack_refused": {
        "vi": (
            "Tài khoản của đồng chí không được xác nhận cảnh báo này. Chỉ Ban Chỉ đạo và lãnh đạo "
            "cơ quan, đơn vị có cảnh báo hoặc cơ quan cấp trên được xác nhận cảnh báo."
        ),
        "en": (
            "Your account may not acknowledge this alert: only the committee and a leader of the "
            "alert's agency or of an agency above it may."
        ),
    },
    "alerts.unknown.title": {"vi": "Không tìm thấy cảnh báo", "en": "Alert not found"},
    "alerts.unknown": {"vi": "Không có cảnh báo số {id}.", "en": "There is no alert {id}."},
    "error.csrf.title": {"vi": "Yêu cầu bị từ chối", "en": "Request refused"},
    "error.csrf": {
        "vi": (
            "Yêu cầu không được gửi từ trang của hệ thống Tiendo hoặc phiên làm việc đã thay đổi. "
            "Vui lòng tải lại trang và thực hiện lại."
        ),
        "en": "The request did not come from a Tiendo page, or your session changed. Reload the page and try again.",
    },
    "done.acknowledged": {
        "vi": "Đã ghi nhận: cảnh báo số {id} đã được xác nhận; việc chuyển lên cấp trên đã dừng.",
        "en": "Done: alert {id} is acknowledged; its escalation has stopped.",
    },
    "done.silenced": {
        "vi": "Đã tạo lệnh tạm dừng cảnh báo số {id}.",
        "en": "Silence {id} is in force.",
    },
    "done.lifted": {"vi": "Đã hủy lệnh tạm dừng cảnh báo số {id}.", "en": "Silence {id} is lifted."},
    "col.alert": {"vi": "Cảnh báo", "en": "Alert"},
    "col.since": {"vi": "Từ lúc", "en": "Since"},
    "col.escalation": {"vi": "Chuyển cấp trên", "en": "Escalation"},
    "col.acknowledged": {"vi": "Xác nhận", "en": "Acknowledgement"},
    "col.from": {"vi": "Từ", "en": "From"},
    "col.until": {"vi": "Đến", "en": "Until"},
    "col.by": {"vi": "Người thực hiện", "en": "By"},
    "silence.title": {"vi": "Tạm dừng cảnh báo", "en": "Silences"},
    "silence.intro": {
        "vi": (
            "Trong thời gian tạm dừng, các cảnh báo thuộc phạm vi tạm dừng không được gửi thư; "
            "lý do được ghi trong thư gửi lãnh đạo."
        ),
        "en": "While a silence lasts, the alerts it covers are not emailed; its reason is printed in the leaders' emails.",
    },
    "silence.none": {"vi": "Không có lệnh tạm dừng nào đang có hiệu lực.", "en": "No silence is in force."},
    "silence.create_title": {"vi": "Tạo lệnh tạm dừng cảnh báo", "en": "New silence"},
    "silence.all_agencies": {"vi": "Tất cả cơ quan, đơn vị", "en": "Every agency"},
    "silence.all_indicators": {"vi": "Tất cả chỉ tiêu", "en": "Every indicator"},
    "silence.all_periods": {"vi": "Tất cả các kỳ", "en": "Every period"},
    "silence.period": {
        "vi": "Kỳ (để trống: tất cả các kỳ; ví dụ 2024, 2024-H1, 2024-Q2, 2024-06)",
        "en": "Period (empty: every period; e.g. 2024, 2024-H1, 2024-Q2, 2024-06)",
    },
    "silence.hours": {"vi": "Thời gian tạm dừng (số giờ)", "en": "Duration (hours)"},
    "silence.reason": {
        "vi": "Lý do (được ghi trong thư gửi lãnh đạo)",
        "en": "Reason (printed in the leaders' emails)",
    },
    "silence.reason_col": {"vi": "Lý do", "en": "Reason"},
    "silence.create": {"vi": "Tạm dừng cảnh báo", "en": "Silence"},
    "silence.lift": {"vi": "Hủy tạm dừng", "en": "Lift"},
    "silence.refused.title": {"vi": "Không có quyền thực hiện", "en": "Not allowed"},
    "silence.refused": {
        "vi": "Chỉ Ban Chỉ đạo và cán bộ trực vận hành được tạm dừng cảnh báo hoặc hủy tạm dừng.",
        "en": "Only the committee and the operators may silence alerts or lift a silence.",
    },
    "silence.gone.title": {"vi": "Lệnh tạm dừng không còn hiệu lực", "en": "No such silence"},
    "silence.gone": {
        "vi": "Lệnh tạm dừng số {id} không tồn tại hoặc đã hết hiệu lực.",
        "en": "Silence {id} does not exist or is no longer in force.",
    },
    "silence.error.fix": {
        "vi": "Chưa tạo được lệnh tạm dừng: vui lòng sửa các ô được đánh dấu.",
        "en": "The silence was not made: please correct the marked fields.",
    },
    "silence.error.agency": {
        "vi": "Cơ quan, đơn vị không có trong kế hoạch.",
        "en": "This agency is not in the plan.",
    },
    "silence.error.indicator": {
        "vi": "Chỉ tiêu không có trong kế hoạch.",
        "en": "This indicator is not in the plan.",
    },
    "silence.error.period": {
        "vi": "Kỳ không hợp lệ: ghi theo dạng 2024, 2024-H1, 2024-Q2 hoặc 2024-06.",
        "en": "Not a period: write 2024, 2024-H1, 2024-Q2 or 2024-06.",
    },
    "silence.error.hours": {
        "vi": "Số giờ phải là một số lớn hơn 0 và không quá 8.784 (366 ngày).",
        "en": "The hours must be a number above 0 and at most 8,784 (366 days).",
    },
    "silence.error.scope": {
        "vi": "Vui lòng chọn cơ quan, đơn vị, chỉ tiêu hoặc ghi kỳ: không tạm dừng toàn bộ cảnh báo.",
        "en": "Choose an agency, an indicator or a period: a silence never covers every alert.",
    },
    "silence.error.hours_missing": {
        "vi": "Vui lòng nhập thời gian tạm dừng (số giờ).",
        "en": "Please give the duration in hours.",
    },
    "silence.error.reason": {
        "vi": "Vui lòng ghi lý do (tối đa 2.000 ký tự, không chứa ký tự điều khiển).",
        "en": "Please give a reason (at most 2,000 characters, no control characters).",
    },
    "chart.actual": {"vi": "Thực hiện (lũy kế)", "en": "Actual (cumulative)"},
    "chart.expected": {"vi": "Theo tiến độ", "en": "Expected by pace"},
    "chart.target": {"vi": "Chỉ tiêu năm", "en": "Year's target"},
    "chart.description": {
        "vi": "Thực hiện lũy kế {actual} so với {expected} theo tiến độ; chỉ tiêu {target}.",
        "en": "Cumulative actual {actual} against {expected} expected by pace; target {target}.",
    },
    "error.not_found": {"vi": "Không tìm thấy trang", "en": "Page not found"},
    "error.unknown_agency": {
        "vi": "Không có cơ quan, đơn vị mang mã “{code}” trong kế hoạch.",
        "en": "The plan has no agency with the code “{code}”.",
    },
    "error.unknown_figure": {
        "vi": "Không có số liệu này trong kế hoạch.",
        "en": "The plan has no such figure.",
    },
    "error.forbidden_title": {"vi": "Không có quyền truy cập", "en": "Access denied"},
    "error.forbidden": {
        "vi": "Tài khoản của đồng chí không được xem số liệu của cơ quan này.",
        "en": "Your account may not see this agency's figures.",
    },
    "error.bad_period": {"vi": "Kỳ báo cáo “{value}” không hợp lệ.", "en": "“{value}” is not a period."},
    "error.bad_as_of": {
        "vi": "Ngày “{value}” không hợp lệ (định dạng 2024-06-14).",
        "en": "“{value}” is not a date (2024-06-14).",
    },
    "error.home": {"vi": "Về bảng tổng hợp", "en": "Back to the board"},
    "empty": {"vi": "—", "en": "—"},
    # -- the reporting form (intake's /report) ------------------------------------------------
    "form.title": {"vi": "Báo cáo kết quả thực hiện", "en": "Progress report"},
    "form.for": {"vi": "Đơn vị báo cáo", "en": "Reporting agency"},
    "form.window": {"vi": "Số liệu từ ngày {start} đến ngày {end}", "en": "Figures from {start} to {end}"},
    "form.deadline": {"vi": "Hạn nộp báo cáo: {when}", "en": "Deadline: {when}"},
    "form.period": {"vi": "Kỳ báo cáo", "en": "Reporting period"},
    "form.change_period": {"vi": "Chọn kỳ", "en": "Choose"},
    "form.indicators": {"vi": "Số liệu các chỉ tiêu", "en": "Figures"},
    "form.no_indicators": {
        "vi": "Kế hoạch không giao chỉ tiêu nào cho đơn vị báo cáo bằng số liệu trong kỳ này.",
        "en": "The plan asks no figure of your agency in this period.",
    },
    "form.target": {
        "vi": "Chỉ tiêu giao ({period}): {value} {unit}",
        "en": "Target ({period}): {value} {unit}",
    },
    "form.no_target": {"vi": "Kế hoạch không giao chỉ tiêu định lượng.", "en": "No quantified target."},
    "form.on_record": {
        "vi": "Số liệu đã ghi nhận ({period}):",
        "en": "Figure on record ({period}):",
    },
    "form.last_sent": {
        "vi": "Lần gửi gần nhất từ trình duyệt này:",
        "en": "Last sent from this browser:",
    },
    "form.last_note": {
        "vi": (
            "Máy chủ tiếp nhận không lưu số liệu đã báo cáo; “lần gửi gần nhất” là số liệu "
            "trình duyệt này đã gửi. Số liệu tổng hợp xem trên Bảng tổng hợp."
        ),
        "en": (
            "Intake keeps no reported figures; “last sent” is what this browser sent. "
            "The figures themselves are on the board."
        ),
    },
    "form.activities": {"vi": "Các hoạt động đã tổ chức", "en": "Activities held"},
    "form.activities_hint": {
        "vi": "Mỗi dòng một hoạt động: loại hoạt động, ngày tổ chức, số người tham dự.",
        "en": "One activity per line: its type, the day it was held, the number of participants.",
    },
    "form.no_activities": {
        "vi": "Đơn vị không ghi nhận hoạt động riêng lẻ: các hoạt động được tính trong số liệu báo cáo ở trên.",
        "en": "Your agency records no single activities: they are counted in the figures above.",
    },
    "form.note": {
        "vi": "Ghi chú (không ghi họ tên, số định danh, số điện thoại)",
        "en": "Note (no names, ID or phone numbers)",
    },
    "form.send": {"vi": "Gửi", "en": "Send"},
    "form.new_report": {"vi": "Lập báo cáo mới", "en": "New report"},
    "form.noscript": {
        "vi": "Biểu mẫu cần JavaScript để lập và gửi báo cáo. Vui lòng bật JavaScript trong trình duyệt.",
        "en": "The form needs JavaScript to make and send the report. Please enable it.",
    },
    "form.not_leader": {
        "vi": (
            "Biểu mẫu báo cáo dành cho lãnh đạo, cán bộ của cơ quan, đơn vị báo cáo. "
            "Tài khoản của đồng chí không gắn với cơ quan, đơn vị nào nên không lập báo cáo được."
        ),
        "en": "The reporting form is for an agency's leader. Your account belongs to no agency, so it cannot report.",
    },
    "form.no_rule": {
        "vi": "Kế hoạch không quy định lịch báo cáo cho cơ quan, đơn vị của đồng chí.",
        "en": "The plan sets no reporting schedule for your agency.",
    },
    "form.js.type": {"vi": "Loại hoạt động", "en": "Activity type"},
    "form.js.choose": {"vi": "— Chọn loại hoạt động —", "en": "— Choose a type —"},
    "form.js.date": {"vi": "Ngày tổ chức", "en": "Date"},
    "form.js.participants": {"vi": "Số người tham dự", "en": "Participants"},
    "form.js.remove": {"vi": "Xóa dòng", "en": "Remove"},
    "form.js.add": {"vi": "Thêm hoạt động", "en": "Add an activity"},
    "form.js.line": {"vi": "Hoạt động {n}", "en": "Activity {n}"},
    "form.js.sending": {"vi": "Đang gửi báo cáo…", "en": "Sending the report…"},
    "form.js.received": {"vi": "Đã nhận", "en": "Received"},
    "form.js.sent_at": {
        "vi": "Đã nhận: báo cáo đã được gửi lúc {time}.",
        "en": "Received: the report was sent at {time}.",
    },
    "form.js.queued": {
        "vi": "Chưa có kết nối mạng: báo cáo đã được lưu và sẽ tự động gửi khi có mạng",
        "en": "No network connection: the report has been saved and will be sent automatically when the connection is back",
    },
    "form.js.queued_sent": {
        "vi": "Đã nhận: báo cáo lưu khi chưa có kết nối mạng đã được gửi lúc {time}.",
        "en": "Received: the report saved while offline was sent at {time}.",
    },
    "form.js.fix": {
        "vi": "Báo cáo chưa được gửi: vui lòng sửa các ô được đánh dấu. Các số liệu đã nhập vẫn được giữ nguyên.",
        "en": "The report was not sent: please correct the marked fields. What you entered is kept.",
    },
    "form.js.empty": {
        "vi": "Vui lòng nhập ít nhất một số liệu hoặc một hoạt động.",
        "en": "Please enter at least one figure or activity.",
    },
    "form.js.draft_restored": {
        "vi": "Đã khôi phục bản nháp chưa gửi.",
        "en": "Your unsent draft was restored.",
    },
    # one text per problem reason of intake's answers (services/intake/domain/problems.py)
    "problem.malformed-json": {
        "vi": "Dữ liệu gửi đi bị lỗi định dạng. Vui lòng tải lại trang và gửi lại.",
        "en": "The data sent was malformed. Reload the page and send again.",
    },
    "problem.not-a-cloudevent": {
        "vi": "Dữ liệu gửi đi không đúng định dạng báo cáo. Vui lòng tải lại trang.",
        "en": "The data sent is not a report. Reload the page.",
    },
    "problem.unauthenticated": {
        "vi": "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Vui lòng đăng nhập lại; báo cáo vẫn được giữ trên máy.",
        "en": "Your session has expired or is not valid. Log in again; the report is kept on this device.",
    },
    "problem.source-mismatch": {
        "vi": "Đồng chí chỉ được báo cáo cho cơ quan, đơn vị của mình.",
        "en": "You may only report for your own agency.",
    },
    "problem.foreign-unit": {
        "vi": "Địa bàn này không thuộc phạm vi quản lý của đơn vị.",
        "en": "This area is not one of your agency's.",
    },
    "problem.indicator-not-assigned": {
        "vi": "Kế hoạch không giao chỉ tiêu này cho đơn vị.",
        "en": "The plan does not assign this indicator to your agency.",
    },
    "problem.too-large": {
        "vi": "Báo cáo quá dài. Vui lòng rút gọn ghi chú hoặc bớt số dòng hoạt động.",
        "en": "The report is too long. Shorten the note or the activities.",
    },
    "problem.unsupported-media-type": {
        "vi": "Trình duyệt gửi sai định dạng. Vui lòng tải lại trang.",
        "en": "The browser sent the wrong format. Reload the page.",
    },
    "problem.unknown-event-type": {
        "vi": "Loại báo cáo không được hỗ trợ. Vui lòng tải lại trang.",
        "en": "This kind of report is not supported. Reload the page.",
    },
    "problem.invalid-event": {"vi": "Giá trị không hợp lệ.", "en": "This value is not valid."},
    "problem.invalid-event.value": {
        "vi": "Số liệu phải là một số không âm (ví dụ: 12 hoặc 2,5).",
        "en": "The figure must be a number, not negative (e.g. 12 or 2.5).",
    },
    "problem.invalid-event.participants": {
        "vi": "Số người tham dự phải là một số nguyên không âm.",
        "en": "Participants must be a whole number, not negative.",
    },
    "problem.invalid-event.date": {
        "vi": "Vui lòng chọn ngày tổ chức hoạt động.",
        "en": "Please choose the day the activity was held.",
    },
    "problem.invalid-event.activity": {
        "vi": "Vui lòng chọn loại hoạt động.",
        "en": "Please choose the type of activity.",
    },
    "problem.invalid-event.note": {
        "vi": "Ghi chú không hợp lệ (tối đa 2.000 ký tự, không chứa ký tự điều khiển).",
        "en": "The note is not valid (at most 2,000 characters, no control characters).",
    },
    "problem.unknown-indicator": {
        "vi": "Chỉ tiêu không có trong kế hoạch.",
        "en": "This indicator is not in the plan.",
    },
    "problem.unknown-activity": {
        "vi": "Vui lòng chọn loại hoạt động có trong kế hoạch.",
        "en": "Please choose an activity type of the plan.",
    },
    "problem.unknown-unit": {"vi": "Địa bàn không có trong kế hoạch.", "en": "This area is not in the plan."},
    "problem.outside-plan-year": {
        "vi": "Ngày hoặc kỳ báo cáo nằm ngoài năm kế hoạch.",
        "en": "The date or period lies outside the plan's year.",
    },
    "problem.value-above-cap": {
        "vi": "Số liệu vượt quá mức tối đa kế hoạch cho phép; vui lòng kiểm tra lại số liệu và đơn vị tính.",
        "en": "The figure is above the plan's maximum; check the figure and its unit.",
    },
    "problem.time-in-future": {
        "vi": "Ngày không được sau ngày hôm nay.",
        "en": "The date must not be after today.",
    },
    "problem.correction-target-unknown": {
        "vi": "Không tìm thấy số liệu cần điều chỉnh.",
        "en": "The figure to correct was not found.",
    },
    "problem.wrong-figure-source": {
        "vi": "Số liệu này được tính từ các hoạt động của đơn vị, không báo cáo trực tiếp.",
        "en": "This figure is counted from your activities, not reported.",
    },
    "problem.personal-data": {
        "vi": "Không được ghi thông tin cá nhân (số định danh, số điện thoại, biển số xe). Vui lòng xóa thông tin đó.",
        "en": "Personal identifiers (ID numbers, phone numbers, licence plates) are not allowed. Please remove them.",
    },
    "problem.rate-limited": {
        "vi": "Hệ thống đang nhận quá nhiều báo cáo. Vui lòng gửi lại sau ít phút.",
        "en": "Too many reports right now. Please send again in a few minutes.",
    },
    "problem.kafka-unavailable": {
        "vi": "Hệ thống tạm thời chưa lưu được báo cáo. Vui lòng gửi lại sau ít phút; báo cáo vẫn được giữ trên máy.",
        "en": "The report cannot be stored right now. Send again in a few minutes; it is kept on this device.",
    },
    "problem.registry-unavailable": {
        "vi": "Hệ thống tạm thời chưa kiểm tra được báo cáo. Vui lòng gửi lại sau ít phút; báo cáo vẫn được giữ trên máy.",
        "en": "The report cannot be checked right now. Send again in a few minutes; it is kept on this device.",
    },
    "problem.internal-error": {
        "vi": "Hệ thống gặp lỗi; báo cáo chưa được tiếp nhận. Vui lòng gửi lại sau hoặc báo bộ phận quản trị.",
        "en": "Intake failed; the report was not accepted. Send again later or tell the operators.",
    },
}


def choose_lang(query: str | None, cookie: str | None) -> Lang:
    """`?lang=` wins over the cookie; anything else is Vietnamese."""
    for value in (query, cookie):
        if value in ("vi", "en"):
            return value  # type: ignore[return-value]
    return DEFAULT_LANG


def translator(lang: Lang, messages: Mapping[str, Mapping[str, str]] = MESSAGES) -> Callable[..., str]:
    """`t("board.title")`, `t("error.unknown_agency", code="X")`; an unknown key is an error
    (a page must never show a key to a person)."""

    def t(key: str, **values: Any) -> str:
        text = messages[key][lang]
        return text.format(**values) if values else text

    return t


def number(value: float | None, lang: Lang = "vi") -> str:
    """A figure as Vietnamese write it (1.234,5) or English (1,234.5); whole numbers lose '.0'."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".") if lang == "vi" else text


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def moment_text(value: str | datetime | None, lang: Lang = "vi", *, with_time: bool = True) -> str:
    """A moment in Vietnam time as people write it: 14/06/2024 09:00 (vi), 2024-06-14 09:00 (en)."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(VIETNAM)
    pattern = ("%d/%m/%Y" if lang == "vi" else "%Y-%m-%d") + (" %H:%M" if with_time else "")
    return moment.strftime(pattern)
