"""Builders shared by the notifier tests: status events, directories, settings."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from services.notifier.domain.directory import Agency, Directory, Indicator, Leader
from services.notifier.domain.policy import DigestPolicy
from shared.events import KpiStatus, ReportStatus
from shared.events.models import KpiStatusChangedEvent, ReportStatusChangedEvent
from shared.events.types import EventType

VN = timezone(timedelta(hours=7))
T0 = datetime(2024, 6, 20, 9, 0, tzinfo=VN)  # a Thursday morning in Quảng Trị
SECRET = "test-ack-secret-0123456789abcdef"
# what the plan gives the notifier (Plan.timezone, Plan.cutoff_day): the sample plan's values
PLAN_ZONE = "Asia/Ho_Chi_Minh"
PLAN_CUTOFF_DAY = 14


# A daily rhythm: a burst gathered for 30 minutes, then one email a day; critical news every 2 h
# at most; unacknowledged alerts climb after 3 and 7 days.
DAILY_POLICY = DigestPolicy(
    timezone=PLAN_ZONE,
    group_wait=timedelta(minutes=30),
    group_interval=timedelta(hours=24),
    critical_interval=timedelta(hours=2),
    repeat_interval=timedelta(hours=24),
    escalation_delays=(timedelta(days=3), timedelta(days=7)),
)


def kpi_event(
    agency="CA-TINH",
    indicator="drug_cases_detected",
    period="2024-06",
    status=KpiStatus.LAGGING,
    previous=KpiStatus.ON_TRACK,
    actual=41.0,
    target=191.0,
    expected=80.0,
    forecast=150.0,
    as_of=T0,
    event_id=None,
    deadline=datetime(2024, 6, 20, 17, 0, tzinfo=VN),
) -> KpiStatusChangedEvent:
    return KpiStatusChangedEvent.model_validate(
        kpi_status_json(
            event_id=event_id or str(uuid.uuid4()),
            time=as_of,
            agency=agency,
            indicator=indicator,
            period=period,
            status=status,
            previous_status=previous,
            actual=actual,
            target=target,
            expected=expected,
            forecast=forecast,
            deadline=deadline,
        )
    )


def kpi_status_json(
    *, event_id: str = "kpi-1", time: Any = "2024-06-20T08:00:00+07:00", **data: Any
) -> dict[str, Any]:
    """A kpi.status_changed CloudEvent as JSON, the way the aggregator writes one (`as_of` is its
    time unless `data` says otherwise): the decoders' tests start from it rather than a model."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/services/aggregator",
        "time": time,
        "type": EventType.KPI_STATUS_CHANGED.value,
        "data": {
            "agency": "CA-TINH",
            "indicator": "drug_cases_detected",
            "period": "2024",
            "status": "lagging",
            "previous_status": None,
            "actual": 5,
            "target": 191.1,
            "expected": 80,
            "forecast": 11,
            "as_of": time,
            **data,
        },
    }


def report_event(
    agency="CA-TINH", period="2024-06", status=ReportStatus.MISSING, as_of=T0, event_id=None
) -> ReportStatusChangedEvent:
    return ReportStatusChangedEvent(
        specversion="1.0",
        id=event_id or str(uuid.uuid4()),
        source="/services/aggregator",
        time=as_of,
        type=EventType.REPORT_STATUS_CHANGED,
        data={
            "agency": agency,
            "period": period,
            "status": status,
            "previous_status": ReportStatus.PENDING,
            "deadline": datetime(2024, 6, 19, 17, 0, tzinfo=VN),
            "as_of": as_of,
        },
    )


def small_directory() -> Directory:
    """Committee ← provincial police ← district police; committee ← district PC ← commune PC."""

    def leader(who: str, lang: str = "vi") -> Leader:
        return Leader(f"Lãnh đạo {who}", f"{who.lower()}@qt.example", "Trưởng", lang)

    agencies = [
        Agency(
            "BCD138", "Ban Chỉ đạo 138 tỉnh Quảng Trị", "Steering Committee 138", (leader("BCD"),), None, ()
        ),
        Agency(
            "CA-TINH", "Công an tỉnh Quảng Trị", "Provincial Police", (leader("CAT"),), "BCD138", ("BCD138",)
        ),
        Agency(
            "CA-HUONG-HOA",
            "Công an huyện Hướng Hóa",
            "Huong Hoa District Police",
            (leader("CAHH"),),
            "CA-TINH",
            ("CA-TINH", "BCD138"),
        ),
        Agency(
            "UBND-HUONG-HOA",
            "Ủy ban nhân dân huyện Hướng Hóa",
            "Huong Hoa PC",
            (leader("UBHH", "en"),),
            "BCD138",
            ("BCD138",),
        ),
        Agency(
            "UBND-LAO-BAO",
            "Ủy ban nhân dân thị trấn Lao Bảo",
            "Lao Bao PC",
            (leader("UBLB"),),
            "UBND-HUONG-HOA",
            ("UBND-HUONG-HOA", "BCD138"),
        ),
    ]
    indicators = [
        Indicator(
            "drug_cases_detected",
            "Số vụ phạm tội về ma túy được phát hiện, bắt giữ",
            "Drug crime cases detected",
            "vụ",
            "cases",
        ),
        Indicator(
            "propaganda_sessions",
            "Số buổi tuyên truyền phòng, chống ma túy",
            "Drug-prevention propaganda sessions",
            "buổi",
            "sessions",
        ),
    ]
    return Directory(
        {a.code: a for a in agencies},
        {i.code: i for i in indicators},
        cutoff_day=PLAN_CUTOFF_DAY,
        timezone=PLAN_ZONE,
    )


def settings(database_url: str, kafka_bootstrap: str, smtp_port: int, topic: str = "unused", **overrides):
    from services.notifier.settings import NotifierSettings

    values = dict(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        status_topic=topic,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        ack_secret=SECRET,
        consumer_group=f"test-notifier-{uuid.uuid4().hex[:6]}",
        group_wait=timedelta(0),
        quiet_hours="off",
        digest_time="off",
        retry_base=0.05,
        retry_cap=0.2,
        public_url="http://notifier.test",
    )
    values.update(overrides)
    return NotifierSettings(**values)


class Inbox:
    """The messages the session's SMTP server stored after this point."""

    def __init__(self, server) -> None:
        self.server = server
        self.before = set(server.paths())

    def paths(self):
        return [p for p in self.server.paths() if p not in self.before]

    def messages(self, to: str | None = None):
        import email.policy
        from email.parser import BytesParser

        parsed = [BytesParser(policy=email.policy.default).parsebytes(p.read_bytes()) for p in self.paths()]
        return [m for m in parsed if to is None or to.lower() in str(m["To"]).lower()]


async def empty_tables(engine) -> None:
    """Every notifier table emptied (the schema's tables as the service declares them)."""
    from sqlalchemy import text

    from services.notifier.adapters.tables import metadata

    names = ", ".join(table.fullname for table in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names}"))
