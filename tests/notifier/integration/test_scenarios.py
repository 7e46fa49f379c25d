"""Grouping, escalation, acknowledgement (signed link and API), silences and quiet hours on real
PostgreSQL and SMTP, the clock driven by hand and the scheduler's `tick(now)` called directly.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from services.notifier.adapters.tables import outbox
from services.notifier.bootstrap import bootstrap
from services.notifier.entrypoints.app import create_app
from shared.auth import Role
from shared.auth.testing import auth_settings, bearer
from shared.clock import ManualClock
from tests.notifier.helpers import T0, VN, Inbox, empty_tables, kpi_event, report_event, settings

pytestmark = pytest.mark.infra
D = timedelta(days=1)
DISTRICT = "truongcong-an.huonghoa@quangtri.example"
PROVINCE = "pc04.congan@quangtri.example"
COMMITTEE = {"truongban.bcd138@quangtri.example", "thuongtruc.bcd138@quangtri.example"}


@pytest.fixture
async def world(notifier_db, kafka_bootstrap, smtp_server):
    clock = ManualClock(T0)
    c = bootstrap(
        settings(
            notifier_db,
            kafka_bootstrap,
            smtp_server.port,
            group_interval=timedelta(hours=1),
            critical_interval=timedelta(hours=1),
            repeat_interval=30 * D,
            escalation_delays=[3 * D, 7 * D],
            quiet_hours="21:00-07:00",
        ),
        clock=clock,
    )
    await empty_tables(c.engine)
    app = create_app(c, run_loops=False, auth=auth_settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://notifier.test",
        headers=bearer(Role.COMMITTEE),
    ) as http:
        yield c, clock, http
    await c.engine.dispose()


async def deliver(c) -> None:
    while await c.sender.run_once():
        pass


async def recipients_queued(c) -> list[str]:
    async with c.engine.connect() as conn:
        return [r.recipient for r in await conn.execute(select(outbox.c.recipient).order_by(outbox.c.id))]


async def test_escalation_climbs_unless_acknowledged_through_the_signed_link(world, smtp_server):
    c, clock, http = world
    mail = Inbox(smtp_server)
    await c.notifier.handle(kpi_event(agency="CA-HUONG-HOA"), clock.now())
    await c.notifier.handle(kpi_event(agency="CA-DAKRONG"), clock.now())  # the control: never acknowledged
    await deliver(c)
    [first] = mail.messages(to=DISTRICT)
    link = re.search(r"http://notifier\.test(/ack/\S+)", first.get_body(("plain",)).get_content())[1]

    clock.advance(3 * D)
    await c.notifier.tick(clock.now())
    await deliver(c)
    [escalated] = mail.messages(to=PROVINCE)
    body = escalated.get_body(("plain",)).get_content()
    assert "Công an huyện Hướng Hóa" in body and "Công an huyện Đakrông" in body
    assert "Chuyển lên vì Công an huyện Hướng Hóa chưa xác nhận sau 3 ngày" in body

    form = await http.get(link)
    assert form.status_code == 200 and '<form method="post">' in form.text and "Hướng Hóa" in form.text
    done = await http.post(link)
    assert done.status_code == 200 and "Đã ghi nhận" in done.text
    assert (await http.post(link)).status_code == 409  # single use
    assert (await http.post(link[:-3] + "xyz")).status_code == 400

    clock.advance(4 * D)  # seven days after opening
    await c.notifier.tick(clock.now())
    await deliver(c)
    to_committee = [m for m in mail.messages() if m["To"].addresses[0].addr_spec in COMMITTEE]
    assert len(to_committee) == 2  # both committee leaders, about Đakrông only
    for message in to_committee:
        text_body = message.get_body(("plain",)).get_content()
        assert "Công an huyện Đakrông" in text_body and "Công an huyện Hướng Hóa" not in text_body
    alerts = (await http.get("/alerts", params={"state": "firing"})).json()
    acked = {a["agency"]: a["acked_by"] for a in alerts}
    assert acked == {"CA-HUONG-HOA": DISTRICT, "CA-DAKRONG": None}


async def test_api_acknowledgement_and_a_silence_shown_in_the_footer(world, smtp_server):
    c, clock, http = world
    mail = Inbox(smtp_server)
    created = await http.post(
        "/silences",
        json={
            "agency": "CA-TINH",
            "indicator": "drug_cases_detected",
            "hours": 48,
            "reason": "Đang đối soát số liệu với Bộ Công an",
        },
        headers=bearer(Role.OPERATOR, name="Trực ban Nguyễn Thị Hoa"),
    )
    assert created.status_code == 201
    assert (
        await http.post("/silences", json={"reason": "x", "hours": 1})
    ).status_code == 422  # no agency, indicator nor period
    typed = {"agency": "CA-TINH", "reason": "x", "hours": 1, "created_by": "Lê Văn An"}
    assert (await http.post("/silences", json=typed)).status_code == 422  # a typed name is refused
    await c.notifier.handle(kpi_event(agency="CA-TINH", indicator="drug_cases_detected"), clock.now())
    assert await recipients_queued(c) == []  # silenced: nothing to send
    await c.notifier.handle(kpi_event(agency="CA-TINH", indicator="propaganda_sessions"), clock.now())
    await deliver(c)
    [message] = mail.messages(to=PROVINCE)
    body = message.get_body(("plain",)).get_content()
    assert "Chậm tiến độ: Số buổi tuyên truyền" in body and "Chậm tiến độ: Số vụ phạm tội" not in body
    assert "lý do: Đang đối soát số liệu với Bộ Công an (bởi Trực ban Nguyễn Thị Hoa)" in body

    [alert] = [a for a in (await http.get("/alerts")).json() if a["indicator"] == "propaganda_sessions"]
    forged = await http.post(f"/alerts/{alert['id']}/ack", json={"by": "Lê Văn An (Trưởng Ban)"})
    assert forged.status_code == 422  # the person is the token's, never a typed name
    leader = bearer(Role.LEADER, "CA-TINH", name="Lãnh đạo Công an tỉnh")
    acked = await http.post(f"/alerts/{alert['id']}/ack", headers=leader)
    assert acked.status_code == 200
    assert (acked.json()["acked_by"], acked.json()["acked_by_subject"]) == (
        "Lãnh đạo Công an tỉnh",
        "test-leader-CA-TINH",
    )
    assert (await http.post("/alerts/999999/ack")).status_code == 404
    silence_id = created.json()["id"]
    assert (await http.delete(f"/silences/{silence_id}")).status_code == 200
    assert (await http.get("/silences")).json() == []
    clock.advance(timedelta(hours=2))
    await c.notifier.tick(clock.now())  # the silence is gone: the muted alert now goes out
    await deliver(c)
    latest = mail.messages(to=PROVINCE)[-1].get_body(("plain",)).get_content()
    assert "Chậm tiến độ: Số vụ phạm tội" in latest and "Đang tạm ẩn" not in latest


async def test_nothing_at_night_the_digest_goes_at_seven(world, smtp_server):
    c, clock, http = world
    evening = datetime(2024, 6, 20, 22, 30, tzinfo=VN)
    clock.set(evening)
    await c.notifier.handle(report_event(agency="CA-TINH", period="2024-06"), clock.now())
    await c.notifier.handle(kpi_event(agency="BDBP", indicator="drug_cases_detected"), clock.now())
    clock.set(datetime(2024, 6, 21, 6, 59, tzinfo=VN))
    await c.notifier.tick(clock.now())
    assert await recipients_queued(c) == []
    clock.set(datetime(2024, 6, 21, 7, 0, tzinfo=VN))
    await c.notifier.tick(clock.now())
    assert sorted(await recipients_queued(c)) == ["chihuytruong.bdbp@quangtri.example", PROVINCE]
    await c.notifier.tick(clock.now() + timedelta(minutes=5))
    assert len(await recipients_queued(c)) == 2  # no second digest
    await deliver(c)
    health = await http.get("/healthz")
    ready = await http.get("/readyz")
    metrics = (await http.get("/metrics/")).text
    assert health.status_code == 200 and ready.status_code == 200
    assert "notifier_emails_sent_total 2.0" in metrics and 'notifier_alerts{acknowledged="false"' in metrics


async def test_resolved_notice_inhibition_and_a_risk_that_persists(world, smtp_server):
    from shared.events import KpiStatus

    c, clock, _http = world
    mail = Inbox(smtp_server)
    # The report is missing: the figures derived from it are held back, the footer says so.
    await c.notifier.handle(report_event(agency="CA-TINH", period="2024-06"), clock.now())
    await c.notifier.handle(kpi_event(agency="CA-TINH", period="2024"), clock.now())
    # Another agency at risk since the 10th of June.
    june10 = datetime(2024, 6, 10, 9, 0, tzinfo=VN)
    await c.notifier.handle(
        kpi_event(agency="BDBP", period="2024", status=KpiStatus.AT_RISK, forecast=500, as_of=june10),
        clock.now(),
    )
    await deliver(c)
    [first] = mail.messages(to=PROVINCE)
    body = first.get_body(("plain",)).get_content()
    assert "Chưa nộp báo cáo" in body and "Chậm tiến độ" not in body
    # At risk once is no alert yet; the first tick notices that the 14 June cut-off has passed.
    assert mail.messages(to="chihuytruong.bdbp@quangtri.example") == []
    await c.notifier.tick(clock.now() + timedelta(hours=1))
    assert len(mail.messages(to=PROVINCE)) == 1  # the held-back lagging alert makes no email of its own

    clock.advance(timedelta(hours=2))  # the report arrives (late): the missing alert resolves
    from shared.events import ReportStatus

    await c.notifier.handle(
        report_event(agency="CA-TINH", period="2024-06", status=ReportStatus.LATE, as_of=clock.now()),
        clock.now(),
    )
    await c.notifier.tick(clock.now())
    await deliver(c)
    second = mail.messages(to=PROVINCE)[-1].get_body(("plain",)).get_content()
    assert "== Đã khắc phục ==" in second and "Chưa nộp báo cáo" in second.split("== Đã khắc phục ==")[1]
    assert "Chậm tiến độ: Số vụ" in second  # no longer held back

    # T0 is 20 June: BDBP has been at risk since the 10th, across the 14 June cut-off.
    await c.notifier.tick(clock.now() + timedelta(hours=3))
    await deliver(c)
    [risk] = mail.messages(to="chihuytruong.bdbp@quangtri.example")
    assert str(risk["Subject"]).startswith("[Tiendo] 1 chỉ tiêu có nguy cơ chậm 2 kỳ liên tiếp — Bộ Chỉ huy")


async def test_group_wait_then_a_reminder_after_the_repeat_interval(
    notifier_db, kafka_bootstrap, smtp_server
):
    clock = ManualClock(T0)
    c = bootstrap(
        settings(
            notifier_db,
            kafka_bootstrap,
            smtp_server.port,
            group_wait=timedelta(minutes=10),
            repeat_interval=D,
        ),
        clock=clock,
    )
    await empty_tables(c.engine)
    mail = Inbox(smtp_server)
    await c.notifier.handle(kpi_event(agency="SYT", indicator="propaganda_sessions"), clock.now())
    await c.notifier.handle(
        kpi_event(agency="SYT", indicator="propaganda_participants"), clock.now() + timedelta(minutes=4)
    )
    for minutes, expected in [
        (5, 0),
        (9, 0),
        (10, 1),
        (60, 1),
        (24 * 60 + 9, 1),
        (24 * 60 + 10, 2),
        (24 * 60 + 30, 2),
    ]:
        await c.notifier.tick(T0 + timedelta(minutes=minutes))
        await deliver(c)
        assert len(mail.messages(to="giamdoc.syt@quangtri.example")) == expected, minutes
    first, reminder = mail.messages(to="giamdoc.syt@quangtri.example")
    assert str(first["Subject"]) == "[Tiendo] 2 chỉ tiêu chậm tiến độ — Sở Y tế — Tháng 6/2024"
    assert str(reminder["Subject"]) == "[Tiendo] Nhắc lại: 2 chỉ tiêu chậm tiến độ — Sở Y tế — Tháng 6/2024"
    assert "== Chưa được khắc phục ==" in reminder.get_body(("plain",)).get_content()
    await c.engine.dispose()
