"""Rendered sample emails for docs/samples/: a fixed clock, the shipped plan, made-up figures.

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

VN = timezone(timedelta(hours=7))
NOW = datetime(2024, 6, 21, 7, 0, tzinfo=VN)
SAMPLE_SECRET = b"sample-secret-not-used-anywhere"


def _alert(id_: int, kind: AlertKind, agency: str, indicator: str | None, period: str, days_open: float,
           state: str = FIRING, **facts) -> Alert:
    opened = NOW - timedelta(days=days_open)
    return Alert(kind, agency, indicator, period, state, opened, opened, facts, id=id_,
                 resolved_at=NOW - timedelta(hours=5) if state == RESOLVED else None)


def _digests(directory: Directory) -> dict[str, Digest]:
    deadline = datetime(2024, 6, 19, 17, 0, tzinfo=VN).isoformat()
    cases = dict(actual=41, target=191.1, expected=88.4, forecast=163.2, deadline=deadline)
    province = Leader("Nguyễn Hữu Cường", "pc04.congan@quangtri.example")
    for agency in directory.agencies.values():  # the plan's own leader, when it has one
        if agency.code == "CA-TINH" and agency.leaders:
            province = agency.leaders[0]
    silence = Silence("CA-DONG-HA", "propaganda_sessions", "2024-06", NOW - timedelta(hours=3), NOW + timedelta(days=2),
                      "Đang đối soát số liệu tuyên truyền với Công an thành phố", "Thường trực BCĐ 138")
    vi = Digest(province, NOW, "update",
                new=[_alert(1, AlertKind.LAGGING, "CA-TINH", "drug_cases_detected", "2024-06", 0.5, **cases),
                     _alert(2, AlertKind.LAGGING, "CA-HUONG-HOA", "drug_cases_detected", "2024-06", 3.2,
                            actual=6, target=49.4, expected=22.9, forecast=21, deadline=deadline),
                     _alert(3, AlertKind.REPORT_MISSING, "CA-DAKRONG", None, "2024-06", 3.5, deadline=deadline)],
                still_open=[_alert(4, AlertKind.AT_RISK_REPEATED, "CA-TINH", "compulsory_rehab_dossiers", "2024-06", 31,
                                   actual=18, target=40, expected=23.3, forecast=34, deadline=deadline)],
                resolved=[_alert(5, AlertKind.REPORT_LATE, "CA-DONG-HA", None, "2024-05", 35, RESOLVED,
                                 deadline=deadline)],
                silences=[silence], inhibited=[], created_at=NOW)
    committee = directory.agency("BCD138").leaders or (Leader("Lê Văn An", "truongban.bcd138@quangtri.example"),)
    district = dict(actual=3, target=12, expected=6, forecast=7, deadline=deadline)
    escalated = Digest(committee[0], NOW, "first",
                       new=[_alert(6, AlertKind.LAGGING, "UBND-HUONG-HOA", "propaganda_sessions", "2024-Q2", 7.1, **district),
                            _alert(7, AlertKind.LAGGING, "UBND-LAO-BAO", "propaganda_sessions", "2024-Q2", 7.1, **district),
                            _alert(8, AlertKind.LAGGING, "UBND-KHE-SANH", "propaganda_sessions", "2024-Q2", 7.1, **district)],
                       still_open=[], resolved=[], silences=[], inhibited=[], created_at=NOW)
    english = replace(province, language="en")  # the same leader, had they chosen English
    en = Digest(english, NOW, "first",
                new=[_alert(9, AlertKind.FORECAST_BELOW_TARGET, "CA-TINH", "drug_cases_detected", "2024", 0.2,
                            actual=96, target=191.1, expected=95.5, forecast=172.8, deadline=None)],
                still_open=[], resolved=[], silences=[], inhibited=[], created_at=NOW)
    return {"digest-vi": vi, "digest-escalated-vi": escalated, "digest-en": en}


def write_samples(directory: Directory, out: Path, public_url: str = "http://localhost:8083") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, digest in _digests(directory).items():
        def link(alert: Alert, digest: Digest = digest) -> str:
            claim = ack.AckClaim(alert.id, digest.recipient.email, NOW + timedelta(days=14),
                                 ack.nonce_for(SAMPLE_SECRET, digest.idempotency_key, str(alert.id)))
            return f"{public_url}/ack/{ack.issue(SAMPLE_SECRET, claim)}"
        message = render(digest, RenderContext(directory, "Tiendo <tiendo@quangtri.example>", ack_link=link),
                         domain="quangtri.example")
        eml, html = out / f"{name}.eml", out / f"{name}.html"
        eml.write_bytes(message.as_bytes())
        html.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
        written += [eml, html]
    return written
