"""HTTP routes: the signed acknowledgement link, and the alerts/silences API for operators.

The link's GET only shows a confirmation button: mail scanners that prefetch links must not
acknowledge on the leader's behalf (nor burn the single-use token). The POST acknowledges.
Who may call the rest: `access.py` (docs/security.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from services.notifier.adapters import outbox
from services.notifier.adapters import repository as repo
from services.notifier.adapters.rendering import TEMPLATES
from services.notifier.adapters.texts import KIND_TITLE
from services.notifier.domain.alerts import Alert
from services.notifier.domain.silences import InvalidSilence, Silence
from services.notifier.entrypoints.access import Acknowledger, AlertReader, Operator, link_principal
from services.notifier.service_layer import operations
from shared.audit import AuditEntry
from shared.http_params import ERRORS, Code, Moment, Period, RowId, require_known, text
from shared.labels import period_label

router = APIRouter()
Token = Annotated[str, Path(max_length=1000)]
#: a duration's ceiling (a year); a longer silence is given by its ends_at
MAX_SILENCE_HOURS = 24 * 366
LINK_ERRORS = {
    400: {"description": "An invalid or expired link (a page saying so)", "content": {"text/html": {}}}
}
Reason = text(2000)
_pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]))
PAGE = {
    "vi": {
        "confirm": "Xác nhận đã nhận cảnh báo",
        "confirm_msg": "Bấm nút dưới đây để xác nhận đã nhận và đang xử lý. Cảnh báo sẽ không được chuyển lên cấp trên nữa.",
        "button": "Đã nhận / đang xử lý",
        "ok": "Đã ghi nhận",
        "ok_msg": "Cảm ơn đồng chí. Cảnh báo đã được xác nhận; việc chuyển lên cấp trên đã dừng.",
        "used": "Liên kết đã được sử dụng",
        "used_msg": "Liên kết xác nhận chỉ dùng được một lần.",
        "bad": "Liên kết không hợp lệ",
        "expired": "Liên kết đã hết hạn",
        "bad_msg": "Vui lòng dùng liên kết trong thư mới nhất hoặc liên hệ bộ phận thường trực.",
    },
    "en": {
        "confirm": "Acknowledge the alert",
        "confirm_msg": "Press the button to acknowledge: received, working on it. The alert will no longer be escalated.",
        "button": "Received / working on it",
        "ok": "Acknowledged",
        "ok_msg": "Thank you. The alert is acknowledged; escalation has stopped.",
        "used": "Link already used",
        "used_msg": "An acknowledgement link works only once.",
        "bad": "Invalid link",
        "expired": "Link expired",
        "bad_msg": "Please use the link in the latest email or contact the secretariat.",
    },
}


def _c(request: Request):
    return request.app.state.container


def _page(
    lang: str,
    heading: str,
    message: str,
    alert: str | None = None,
    form: bool = False,
    button: str = "",
    status: int = 200,
) -> HTMLResponse:
    html = _pages.get_template("ack.html.j2").render(
        lang=lang, heading=heading, message=message, alert=alert, form=form, button=button
    )
    return HTMLResponse(html, status_code=status)


def _describe(container, alert: Alert | None, lang: str) -> str | None:
    if alert is None:
        return None
    d = container.directory
    what = KIND_TITLE[lang][alert.kind]
    indicator = f"{d.indicator(alert.indicator).name(lang)} — " if alert.indicator else ""
    return f"{what}: {indicator}{d.agency(alert.agency).name(lang)} — {period_label(alert.period, lang)}"


def _lang(container, email: str | None) -> str:
    leader = container.directory.leader(email) if email else None
    return leader.language if leader and leader.language in PAGE else "vi"


@router.get("/ack/{token}", response_class=HTMLResponse, tags=["acknowledgement"], responses=LINK_ERRORS)
async def ack_form(token: Token, request: Request) -> HTMLResponse:
    c = _c(request)
    reason, claim = c.notifier.peek_token(token, c.clock.now())
    lang = _lang(c, claim.recipient if claim else None)
    p = PAGE[lang]
    if claim is None:
        return _page(lang, p["expired" if reason == "expired" else "bad"], p["bad_msg"], status=400)
    async with c.engine.connect() as conn:
        alert = await repo.alert_by_id(conn, claim.alert_id)
    return _page(
        lang, p["confirm"], p["confirm_msg"], _describe(c, alert, lang), form=True, button=p["button"]
    )


@router.post(
    "/ack/{token}",
    response_class=HTMLResponse,
    tags=["acknowledgement"],
    responses={
        **LINK_ERRORS,
        409: {"description": "The link was used already", "content": {"text/html": {}}},
    },
)
async def ack_submit(token: Token, request: Request) -> HTMLResponse:
    c = _c(request)
    now = c.clock.now()
    _, claim = c.notifier.peek_token(token, now)
    lang = _lang(c, claim.recipient if claim else None)
    p = PAGE[lang]
    outcome, alert = await c.notifier.acknowledge_with_token(token, now)
    if outcome == "ok" and alert is not None and claim is not None:
        principal = link_principal(c.directory, claim.recipient, alert.agency)
        await request.app.state.audit.record(
            AuditEntry.of(
                request,
                principal,
                "acknowledge",
                agency=alert.agency,
                detail={"alert": alert.id, "via": "link"},
            )
        )
        return _page(lang, p["ok"], p["ok_msg"], _describe(c, alert, lang))
    if outcome == "used":
        return _page(lang, p["used"], p["used_msg"], _describe(c, alert, lang), status=409)
    return _page(lang, p["expired" if outcome == "expired" else "bad"], p["bad_msg"], status=400)


def alert_json(alert: Alert) -> dict:
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "agency": alert.agency,
        "indicator": alert.indicator,
        "period": alert.period,
        "state": alert.state,
        "opened_at": alert.opened_at,
        "resolved_at": alert.resolved_at,
        "acked_at": alert.acked_at,
        "acked_by": alert.acked_by,
        "acked_by_subject": alert.acked_by_subject,
        "facts": alert.facts,
    }


@router.get("/alerts", tags=["alerts"], responses=ERRORS)
async def list_alerts(
    request: Request,
    scope: AlertReader,
    state: Literal["firing", "resolved"] | None = None,
    agency: Annotated[Code | None, Query()] = None,
) -> list[dict]:
    require_known(agency, _c(request).directory.agencies, "agency")
    async with _c(request).engine.connect() as conn:
        return [alert_json(a) for a in scope.alerts(await repo.list_alerts(conn, state, agency))]


class AckBody(BaseModel):
    """Nothing to say: who acknowledges is the authenticated principal, never a typed name."""

    model_config = ConfigDict(extra="forbid")


@router.post("/alerts/{alert_id}/ack", tags=["alerts"], responses=ERRORS)
async def ack_alert(
    alert_id: Annotated[RowId, Path()], request: Request, scope: Acknowledger, body: AckBody | None = None
) -> dict:
    c = _c(request)
    async with c.engine.connect() as conn:
        found = await repo.alert_by_id(conn, alert_id)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id}")
    await scope.check_acknowledge(request, found)
    alert = await c.notifier.acknowledge(
        alert_id, scope.person, c.clock.now(), subject=scope.principal.subject
    )
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    await scope.record(request, "acknowledge", alert.agency, alert=alert.id)
    return alert_json(alert)


class SilenceBody(BaseModel):
    """Who silences is the authenticated principal: a `created_by` in the body is refused."""

    model_config = ConfigDict(extra="forbid")
    agency: Code | None = None
    indicator: Code | None = None
    period: Period | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    hours: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SILENCE_HOURS,
        allow_inf_nan=False,
        description="duration, if ends_at is not given",
    )
    reason: Reason


def silence_json(s: Silence) -> dict:
    return {
        "id": s.id,
        "agency": s.agency,
        "indicator": s.indicator,
        "period": s.period,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "reason": s.reason,
        "created_by": s.created_by,
        "created_by_subject": s.created_by_subject,
    }


@router.post("/silences", status_code=201, tags=["silences"], responses=ERRORS)
async def post_silence(body: SilenceBody, request: Request, scope: Operator) -> dict:
    c = _c(request)
    require_known(body.agency, c.directory.agencies, "agency")
    require_known(body.indicator, c.directory.indicators, "indicator")
    try:
        created = silence_json(
            await operations.silence(
                c.engine,
                agency=body.agency,
                indicator=body.indicator,
                period=body.period,
                reason=body.reason,
                created_by=scope.person,
                created_by_subject=scope.principal.subject,
                now=c.clock.now(),
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                hours=body.hours,
            )
        )
    except (InvalidSilence, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    await scope.record(request, "silence", body.agency, silence=created["id"])
    return created


@router.get("/silences", tags=["silences"], responses=ERRORS)
async def get_silences(request: Request, scope: Operator, active: bool = True) -> list[dict]:
    c = _c(request)
    async with c.engine.connect() as conn:
        return [silence_json(s) for s in await repo.list_silences(conn, c.clock.now() if active else None)]


@router.delete("/silences/{silence_id}", tags=["silences"], responses=ERRORS)
async def delete_silence(silence_id: Annotated[RowId, Path()], request: Request, scope: Operator) -> dict:
    c = _c(request)
    if not await operations.lift_silence(c.engine, silence_id, c.clock.now()):
        raise HTTPException(404, f"no active silence {silence_id}")
    await scope.record(request, "lift_silence", None, silence=silence_id)
    return {"id": silence_id, "expired": True}


@router.get("/outbox", tags=["operations"], responses=ERRORS)
async def get_outbox(
    request: Request, scope: Operator, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict]:
    async with _c(request).engine.connect() as conn:
        return await outbox.list_outbox(conn, limit)
