"""The alerts page (issue 19, page 3): the open alerts a person may see, acknowledging them, and
for the committee and the operators the silences. Server-rendered in the people's pages' one look
(shared.web), served by the notifier itself from its own tables.

Who may do what is the operator API's rule (access.py), asked through the same functions, and a
change goes through the same use case and audit entry as the API's: the page is another door to
the same room, never a room of its own. The page's paths are under /pages: GET /alerts is the
API's JSON list (docs/security.md).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urljoin

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.notifier.adapters import repository as repo
from services.notifier.adapters.texts import KIND_TITLE
from services.notifier.domain.alerts import FIRING, Alert, AlertKind, Severity
from services.notifier.domain.routing import escalation_level
from services.notifier.domain.silences import InvalidSilence, Silence
from services.notifier.entrypoints.access import (
    ACKNOWLEDGERS,
    ALERT_READERS,
    SILENCERS,
    AlertScope,
    scope_of,
)
from services.notifier.entrypoints.api import SilenceBody
from services.notifier.service_layer import operations
from shared.auth import CSRF_COOKIE, AuthSettings, Principal, Role, page_principal
from shared.http_params import RowId, require_known
from shared.labels import Lang
from shared.web import page_environment, render_page, request_lang, stylesheet_router, translator

ALERTS_PAGE = "/pages/alerts"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_env = page_environment([TEMPLATES])
_env.globals.update(home_url=ALERTS_PAGE)
REPORT_KINDS = {AlertKind.REPORT_MISSING, AlertKind.REPORT_LATE}  # their status is a report's
SEVERITY_ORDER = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
SILENCE_FIELDS = ("agency", "indicator", "period", "hours", "reason")
#: the confirmations a redirect may ask the page to show (?done=...)
DONE = {"acknowledged": "done.acknowledged", "silenced": "done.silenced", "lifted": "done.lifted"}

router = APIRouter(include_in_schema=False)
router.include_router(stylesheet_router())  # public, as on the aggregator: a refusal page needs it too


class PageRefusal(Exception):
    """A refusal the page shows as a page of its own, in the visitor's language."""

    def __init__(self, status: int, key: str, **values: Any) -> None:
        super().__init__(key)
        self.status, self.key, self.values = status, key, values


def install(app: FastAPI) -> None:
    """The pages and their refusals (only the pages raise PageRefusal; the API is untouched)."""
    app.include_router(router)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefusal)
        t = translator(request_lang(request))
        principal = getattr(request.state, "principal", None)
        return _show(
            request,
            principal,
            "page_error.html.j2",
            status_code=exc.status,
            heading=t(f"{exc.key}.title"),
            message=t(exc.key, **exc.values),
        )

    app.add_exception_handler(PageRefusal, refused)


async def _visitor(request: Request) -> Principal:
    """shared.auth's page principal: without a session, 303 to the login page (back to the alerts
    page, not to a form's target); a form posted without the page's CSRF token is refused."""
    try:
        return await page_principal(request)
    except HTTPException as error:
        if error.status_code == 303 and request.method != "GET":
            settings: AuthSettings = request.app.state.auth_settings
            back = str(request.url.replace(path=ALERTS_PAGE, query=""))
            raise HTTPException(
                303, "log in first", headers={"Location": f"{settings.login_url}?{urlencode({'next': back})}"}
            ) from None
        if error.status_code == 403:
            raise PageRefusal(403, "error.csrf") from None
        raise


def _scope(request: Request, principal: Principal, roles: tuple[Role, ...], refusal: str) -> AlertScope:
    """The operator API's rule (access.scope_of); its refusal as a page."""
    try:
        return scope_of(request, principal, roles)
    except HTTPException as error:
        raise PageRefusal(error.status_code, refusal) from None


def _show(
    request: Request, principal: Principal | None, template: str, *, status_code: int = 200, **context: Any
) -> Response:
    """A page with the visitor's name and a logout button (intake's /logout, beside its /login)."""
    settings: AuthSettings = request.app.state.auth_settings
    if principal is not None:
        context["account"] = {
            "name": principal.name,
            "logout_url": urljoin(settings.login_url, "logout"),
            "csrf": request.cookies.get(CSRF_COOKIE, ""),
        }
    timezone = request.app.state.container.directory.timezone
    return render_page(_env, request, template, timezone=timezone, status_code=status_code, **context)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value.strip() for key, value in form.items() if isinstance(value, str)}


def _back(form: dict[str, str], **done: Any) -> RedirectResponse:
    """303 to the alerts page with a confirmation, in the language the form was shown in."""
    query = {**done, **({"lang": form["lang"]} if form.get("lang") in ("vi", "en") else {})}
    return RedirectResponse(f"{ALERTS_PAGE}?{urlencode(query)}", status_code=303)


def _alert_row(c: Any, scope: AlertScope, alert: Alert, lang: Lang, now: datetime) -> dict[str, Any]:
    d = c.directory
    agency = d.agency(alert.agency)
    level = escalation_level(alert, len(agency.chain), c.notifier.policy, now)
    return {
        "id": alert.id,
        "kind": KIND_TITLE[lang][alert.kind],
        "severity": alert.severity.value,
        "agency": agency.name(lang),
        "indicator": d.indicator(alert.indicator).name(lang) if alert.indicator else None,
        "period": alert.period,
        "status": alert.facts.get("status"),
        "report_status": alert.kind in REPORT_KINDS,
        "since": alert.opened_at,
        "level": level,
        "escalated_to": [d.agency(code).name(lang) for code in agency.chain[:level]],
        "acked_by": alert.acked_by,
        "acked_at": alert.acked_at,
        "may_acknowledge": alert.acked_at is None and scope.may_acknowledge(alert),
    }


def _silence_row(c: Any, silence: Silence, lang: Lang) -> dict[str, Any]:
    d = c.directory
    return {
        "id": silence.id,
        "agency": d.agency(silence.agency).name(lang) if silence.agency else None,
        "indicator": d.indicator(silence.indicator).name(lang) if silence.indicator else None,
        "period": silence.period,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "reason": silence.reason,
        "created_by": silence.created_by,
    }


async def _alerts_page(
    request: Request,
    scope: AlertScope,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    c = request.app.state.container
    lang = request_lang(request)
    t = translator(lang)
    now = c.clock.now()
    silencer = scope.principal.role in SILENCERS
    async with c.engine.connect() as conn:
        alerts = scope.alerts(await repo.list_alerts(conn, FIRING))
        silences = await repo.list_silences(conn, now) if silencer else []
    alerts.sort(key=lambda a: (SEVERITY_ORDER.index(a.severity), -a.opened_at.timestamp(), a.agency, a.id))
    done = DONE.get(request.query_params.get("done", ""))
    number = request.query_params.get("id", "")
    notice = t(done, id=number) if done and number.isdigit() else None
    principal = scope.principal
    whole = principal.role in (Role.COMMITTEE, Role.OPERATOR)
    return _show(
        request,
        principal,
        "alerts.html.j2",
        status_code=status_code,
        title=t("alerts.title"),
        intro=t("alerts.scope_all")
        if whole
        else t("alerts.scope_agency", agency=c.directory.agency(principal.agency or "").name(lang)),
        notice=notice,
        alerts=[_alert_row(c, scope, a, lang, now) for a in alerts],
        acknowledger=principal.role in ACKNOWLEDGERS,
        silencer=silencer,
        silences=[_silence_row(c, s, lang) for s in silences],
        agencies=[(code, a.name(lang)) for code, a in c.directory.agencies.items()],
        indicators=[(code, i.name(lang)) for code, i in c.directory.indicators.items()],
        errors=errors or {},
        values=values or {},
        csrf=request.cookies.get(CSRF_COOKIE, ""),
    )


@router.get(ALERTS_PAGE, response_class=HTMLResponse)
async def alerts_page(request: Request) -> Response:
    principal = await _visitor(request)
    return await _alerts_page(request, _scope(request, principal, ALERT_READERS, "alerts.forbidden"))


@router.post(f"{ALERTS_PAGE}/{{alert_id}}/ack")
async def acknowledge(alert_id: Annotated[RowId, PathParam()], request: Request) -> Response:
    """The API's acknowledgement (POST /alerts/{id}/ack): the same rule, use case and audit entry."""
    principal = await _visitor(request)
    scope = _scope(request, principal, ACKNOWLEDGERS, "alerts.ack_refused")
    form = await _form(request)
    c = request.app.state.container
    async with c.engine.connect() as conn:
        found = await repo.alert_by_id(conn, alert_id)
    if found is None:
        raise PageRefusal(404, "alerts.unknown", id=alert_id)
    try:
        await scope.check_acknowledge(request, found)  # a refusal is recorded in the audit log
    except HTTPException:
        raise PageRefusal(403, "alerts.ack_refused") from None
    alert = await c.notifier.acknowledge(alert_id, scope.person, c.clock.now(), subject=principal.subject)
    if alert is None:
        raise PageRefusal(404, "alerts.unknown", id=alert_id)
    await scope.record(request, "acknowledge", alert.agency, alert=alert.id)
    return _back(form, done="acknowledged", id=alert.id)


@router.post("/pages/silences")
async def create_silence(request: Request) -> Response:
    """The API's silence (POST /silences): the same body model, checks and use case; the page's
    fields are the agency, indicator, period, a duration in hours and the reason."""
    principal = await _visitor(request)
    scope = _scope(request, principal, SILENCERS, "silence.refused")
    form = await _form(request)
    values = {name: form.get(name, "") for name in SILENCE_FIELDS}
    errors: dict[str, str] = {}
    t = translator(request_lang(request))
    c = request.app.state.container
    body: SilenceBody | None = None
    try:
        body = SilenceBody.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as invalid:
        for problem in invalid.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "reason"
            errors.setdefault(field if field in SILENCE_FIELDS else "reason", t(f"silence.error.{field}"))
    if body is not None:
        for field, known in (("agency", c.directory.agencies), ("indicator", c.directory.indicators)):
            try:
                require_known(getattr(body, field), known, field)
            except HTTPException:
                errors[field] = t(f"silence.error.{field}")
    if body is not None and not errors:
        try:
            created = await operations.silence(
                c.engine,
                agency=body.agency,
                indicator=body.indicator,
                period=body.period,
                reason=body.reason,
                created_by=scope.person,
                created_by_subject=principal.subject,
                now=c.clock.now(),
                hours=body.hours,
            )
        except (InvalidSilence, ValueError) as invalid:
            field, key = _silence_problem(str(invalid), body.hours)
            errors[field] = t(key)
        else:
            await scope.record(request, "silence", body.agency, silence=created.id)
            return _back(form, done="silenced", id=created.id)
    return await _alerts_page(request, scope, status_code=422, errors=errors, values=values)


def _silence_problem(message: str, hours: float | None) -> tuple[str, str]:
    """The field a refusal of the silence use case is about, and its words (the use case's
    messages are English and for the API; the page words them next to the field)."""
    if "at least an agency" in message:
        return "agency", "silence.error.scope"
    if "reason" in message:
        return "reason", "silence.error.reason"
    return "hours", "silence.error.hours" if hours else "silence.error.hours_missing"


@router.post("/pages/silences/{silence_id}/lift")
async def lift_silence(silence_id: Annotated[RowId, PathParam()], request: Request) -> Response:
    """The API's lifting of a silence (DELETE /silences/{id})."""
    principal = await _visitor(request)
    scope = _scope(request, principal, SILENCERS, "silence.refused")
    form = await _form(request)
    c = request.app.state.container
    if not await operations.lift_silence(c.engine, silence_id, c.clock.now()):
        raise PageRefusal(404, "silence.gone", id=silence_id)
    await scope.record(request, "lift_silence", None, silence=silence_id)
    return _back(form, done="lifted", id=silence_id)
