"""Rendered sample emails for docs/samples/: a fixed clock, the shipped plan (its targets, periods
and deadlines), made-up figures.

`tiendo notifier render-samples` regenerates them; the output is byte-for-byte reproducible.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from services.notifier.adapters.rendering import RenderContext, render
from services.notifier.domain import ack
from services.notifier.domain.alerts import FIRING, RESOLVED, Alert, AlertKind
from services.notifier.domain.digest import Digest
from services.notifier.domain.directory import Directory, Leader
from services.notifier.domain.silences import Silence
from shared.plan import Plan, load_plan
from shared.plan.periods import Period
from shared.settings import DEFAULT_PLAN

VN = timezone(timedelta(hours=7))
NOW = datetime(2024, 6, 21, 7, 0, tzinfo=VN)
ESCALATED_AT = datetime(2024, 6, 25, 7, 0, tzinfo=VN)  # a week after the June reports fell due
SAMPLE_SECRET = b"sample-secret-not-used-anywhere"


def _alert(
    id_: int,
    kind: AlertKind,
    agency: str,
    indicator: str | None,
    period: str,
    opened: datetime,
    state: str = FIRING,
    now: datetime = NOW,
    **facts,
) -> Alert:
    return Alert(
        kind,
        agency,
        indicator,
        period,
        state,
        opened,
        opened,
        facts,
        id=id_,
        resolved_at=now - timedelta(hours=5) if state == RESOLVED else None,
    )


def _digests(directory: Directory, plan: Plan) -> dict[str, Digest]:
    """The figures are made up; the targets, periods and deadlines are the plan's."""

    def deadline(agency: str, period: str) -> str:  # the plan's deadline for that report
        return plan.deadline(agency, Period.parse(period)).isoformat()

    def target(agency: str, indicator: str, period: str) -> float:
        return plan.indicator(indicator).whole(plan.target(agency, indicator, period).target_value(40))

    def ago(days: float, now: datetime = NOW) -> datetime:
        return now - timedelta(days=days)

    province = Leader("Nguyễn Hữu Cường", "pc04.congan@quangtri.example")
    for agency in directory.agencies.values():  # the plan's own leader, when it has one
        if agency.code == "CA-TINH" and agency.leaders:
            province = agency.leaders[0]
    silence = Silence(
        "CA-DONG-HA",
        "drug_cases_detected",
        "2024",
        NOW - timedelta(hours=3),
        NOW + timedelta(days=2),
        "Đang đối soát số liệu bắt giữ với Công an thành phố",
        "Thường trực BCĐ 138",
    )
    cases = "drug_cases_detected"
    # Yearly targets, under their year; judged at the June cut-off (14 June), so about 47 % is due.
    vi = Digest(
        province,
        NOW,
        "update",
        new=[
            _alert(
                1,
                AlertKind.LAGGING,
                "CA-TINH",
                cases,
                "2024",
                ago(0.5),
                actual=41,
                target=target("CA-TINH", cases, "2024"),
                expected=90,
                forecast=87.4,
                deadline=None,
            ),
            _alert(
                2,
                AlertKind.LAGGING,
                "CA-HUONG-HOA",
                cases,
                "2024",
                ago(3.2),
                actual=6,
                target=target("CA-HUONG-HOA", cases, "2024"),
                expected=25,
                forecast=12.8,
                deadline=None,
            ),
            _alert(
                3,
                AlertKind.REPORT_MISSING,
                "CA-DAKRONG",
                None,
                "2024-06",
                ago(5.2),
                deadline=deadline("CA-DAKRONG", "2024-06"),
                status="missing",
            ),
        ],
        still_open=[
            _alert(
                4,
                AlertKind.AT_RISK_REPEATED,
                "CA-TINH",
                "compulsory_rehab_dossiers",
                "2024",
                ago(31),
                actual=15,
                target=target("CA-TINH", "compulsory_rehab_dossiers", "2024"),
                expected=20,
                forecast=31.9,
                deadline=None,
            )
        ],
        resolved=[
            _alert(
                5,
                AlertKind.REPORT_LATE,
                "CA-DONG-HA",
                None,
                "2024-05",
                ago(35),
                RESOLVED,
                deadline=deadline("CA-DONG-HA", "2024-05"),
                submitted_at=datetime(2024, 5, 17, 10, 30, tzinfo=VN).isoformat(),
            )
        ],
        silences=[silence],
        inhibited=[],
        created_at=NOW,
    )
    committee = directory.agency("BCD138").leaders or (
        Leader("Lê Văn An", "truongban.bcd138@quangtri.example"),
    )
    # 1 session a quarter for a district, 1 a month for a commune: none held, so missed once the
    # June reports were due (communes 15 June, districts 17 June); a week on, at the committee.
    sessions = "propaganda_sessions"

    def missed(id_: int, agency: str, period: str, due: datetime) -> Alert:
        return _alert(
            id_,
            AlertKind.MISSED,
            agency,
            sessions,
            period,
            due + timedelta(minutes=5),
            now=ESCALATED_AT,
            actual=0,
            target=target(agency, sessions, period),
            expected=target(agency, sessions, period),
            forecast=0,
            deadline=None,
        )

    escalated = Digest(
        committee[0],
        ESCALATED_AT,
        "first",
        new=[
            missed(6, "UBND-HUONG-HOA", "2024-Q2", plan.deadline("UBND-HUONG-HOA", Period.parse("2024-06"))),
            missed(7, "UBND-LAO-BAO", "2024-06", plan.deadline("UBND-LAO-BAO", Period.parse("2024-06"))),
            missed(8, "UBND-KHE-SANH", "2024-06", plan.deadline("UBND-KHE-SANH", Period.parse("2024-06"))),
        ],
        still_open=[],
        resolved=[],
        silences=[],
        inhibited=[],
        created_at=ESCALATED_AT,
    )
    english = replace(province, language="en")  # the same leader, had they chosen English
    en = Digest(
        english,
        NOW,
        "first",
        new=[
            _alert(
                9,
                AlertKind.FORECAST_BELOW_TARGET,
                "CA-TINH",
                cases,
                "2024",
                ago(0.2),
                actual=96,
                target=target("CA-TINH", cases, "2024"),
                expected=90,
                forecast=172.8,
                deadline=None,
            )
        ],
        still_open=[],
        resolved=[],
        silences=[],
        inhibited=[],
        created_at=NOW,
    )
    return {"digest-vi": vi, "digest-escalated-vi": escalated, "digest-en": en}


def write_samples(
    directory: Directory, out: Path, public_url: str = "http://localhost:8083", plan: Plan | None = None
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, digest in _digests(directory, plan or load_plan(DEFAULT_PLAN)).items():

        def link(alert: Alert, digest: Digest = digest) -> str:
            claim = ack.AckClaim(
                alert.id,
                digest.recipient.email,
                digest.created_at + timedelta(days=14),
                ack.nonce_for(SAMPLE_SECRET, digest.idempotency_key, str(alert.id)),
            )
            return f"{public_url}/ack/{ack.issue(SAMPLE_SECRET, claim)}"

        message = render(
            digest,
            RenderContext(directory, "Tiendo <tiendo@quangtri.example>", ack_link=link),
            domain="quangtri.example",
        )
        eml, html = out / f"{name}.eml", out / f"{name}.html"
        eml.write_bytes(message.as_bytes())
        html.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
        written += [eml, html]
    return written
