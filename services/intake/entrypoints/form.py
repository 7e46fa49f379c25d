"""The reporting form (issue 19, page 4): for a leader of an agency without an IT system, served by
intake itself, so that what the form sends goes through the one door every agency uses.

- `GET /report`: the indicators the plan has the leader's agency report in the period being
  reported (targets, units), activities one per line (the plan's activity types the agency may
  record), a note. Anonymous → the login page (303); a session of any other role → 403: only a
  leader reports, and only for their own agency.
- The browser makes the CloudEvents (ids from `crypto.randomUUID`, made once per draft) and posts
  each to `POST /v1/events` with the session cookie and `X-CSRF-Token` (http.py accepts a leader's
  session as the credential of the leader's agency). Before sending any, it asks
  `POST /report/check` for the same checks `POST /v1/events` makes (`Intake.check`: schema,
  authorization, the plan's rules), so a report with one wrong field sends nothing.
- `/report/sw.js`, `/report/form.js`, `/report/form.css`: the page's own script, service worker
  (it keeps the page and its assets for when the connection is down) and styles: no CDN, no
  build chain. The draft and the queue of a report waiting for the network live in the
  browser's localStorage (form.js).

Intake keeps no figures (only the ids of accepted events), so "the last value" a field shows is
the last one this browser sent, from its own storage; the figures themselves are the aggregator's.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from services.intake.bootstrap import Container
from services.intake.domain.parsing import parse_json
from services.intake.domain.problems import PROBLEM_JSON, REASONS, Problem
from shared.auth import PagePrincipal, Principal, Role, current_principal
from shared.auth.dependencies import SESSION_COOKIE
from shared.events.models import agency_source
from shared.labels import period_label
from shared.plan.book import Plans
from shared.plan.index import PlanIndex, Rejected
from shared.plan.periods import Period
from shared.web import page_environment, render_page, request_lang, translator
from shared.web.i18n import MESSAGES, Lang, moment_text, number

INTAKE_DIR = Path(__file__).resolve().parents[1]
STATIC = INTAKE_DIR / "static" / "report"
FORM_ROUTES = ("/report", "/report/check", "/report/sw.js", "/report/form.js", "/report/form.css")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Only the page's own script and styles: the configuration is JSON, never executed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
}
_ASSETS = {"sw.js": "text/javascript", "form.js": "text/javascript", "form.css": "text/css"}
log = logging.getLogger("tiendo.intake.form")
_env = page_environment([INTAKE_DIR / "templates"])


def reporting_period(plan: PlanIndex, agency: str, today: date) -> Period | None:
    """The period the agency is reporting now: the last one whose window closed, until its
    deadline passes; then the one in progress. Kept inside the plan year and the agency's time in
    force (before them, the first period; after them, the last). None for an agency with no
    reporting rule."""
    periods = list(plan.reporting_periods(agency))
    if not periods:
        return None
    kind = periods[0].kind
    current = Period.containing(today, kind, plan.cutoff_day)
    if current.year < plan.year:
        return periods[0]
    if current.year > plan.year:
        return periods[-1]
    if current not in periods:  # before or after the agency's time in force (a reform)
        early = current.window(plan.cutoff_day)[1] < periods[0].window(plan.cutoff_day)[1]
        return periods[0] if early else periods[-1]
    at = periods.index(current)
    if at > 0 and today <= plan.deadline(agency, periods[at - 1]).date():
        return periods[at - 1]
    return current


def tenure_text(plan: PlanIndex, agency: str, today: date, lang: Lang) -> str | None:
    """For an agency of a reform: that it has ended and who reports for its work now, or when it
    starts and its first period; None for one in force."""
    start, end = plan.agency_span(agency)
    day = lambda d: moment_text(d.isoformat(), lang, plan.timezone, with_time=False)  # noqa: E731
    if end is not None and today > end:
        after = end + timedelta(days=1)
        heirs = ", ".join(
            plan.agency(c).display_name(lang, today) for c in plan.agency_successors_on(agency, after)
        )
        return translator(lang)("form.ended", day=day(end), next_day=day(after), heirs=heirs or "—")
    periods = plan.reporting_periods(agency)
    if start is not None and today < start and periods:
        first = period_label(str(periods[0]), lang)
        first = first[0].lower() + first[1:] if lang == "vi" else first  # "tháng 7/2025" mid-sentence
        return translator(lang)("form.starts", day=day(start), period=first)
    return None


def plan_reported_now(plans: Plans, agency: str, today: date) -> PlanIndex:
    """The plan whose period the agency is reporting today: that of today's reporting year, or
    the year before's until the deadline of its last period passes (its December is reported in
    the new year's first weeks); the newest plan when no plan holds today."""
    try:
        plan = plans.index_for(day=today.isoformat())
    except Rejected:
        return plans.latest
    at = plans.indexes.index(plan)
    if at > 0:
        before = plans.indexes[at - 1]
        periods = before.reporting_periods(agency)
        if periods and today <= before.deadline(agency, periods[-1]).date():
            return before
    return plan


def _target_of(plan: PlanIndex, agency: str, indicator: str, period: Period, today: date) -> Any | None:
    """The plan's target for the indicator over a period covering this one (the period's own
    first, then the longer ones), if the plan sets one: as in force today (amendments)."""
    mine = [t for t in plan.targets_on(today, agency) if t.indicator == indicator]
    covering = [t for t in mine if Period.parse(t.period).covers(period)]
    return min(covering, key=lambda t: len(Period.parse(t.period).months()), default=None)


def activity_types_for(plan: PlanIndex, agency: str) -> list[Any]:
    """The activity types the agency may record: those that count into none of the figures it
    reports (intake refuses the others: they would count the same work twice)."""
    allowed = []
    for activity in plan.activity_types:
        try:
            plan.check_figure_source(agency, activity=activity.code)
        except Rejected:
            continue
        allowed.append(activity)
    return allowed


def form_model(plan: PlanIndex, agency: str, period: Period, lang: Any, today: date) -> dict[str, Any]:
    """What the page and its script need: the indicators, their targets (as in force today) and
    units, the activity types, the period's window and deadline."""
    indicators = []
    for code in sorted(plan.indicators_of(agency), key=_rule_order(plan, agency)):
        if plan.figure_source(agency, code) != "reported":
            continue  # counted from the agency's activities: entered as activities below
        indicator = plan.indicator(code)
        target = _target_of(plan, agency, code, period, today)
        goal = target.target_value() if target is not None else None
        goal = None if goal is None else indicator.whole(goal)  # as the aggregator judges: whole cases
        indicators.append(
            {
                "code": code,
                "name": indicator.display_name(lang),
                "unit": indicator.unit_label(lang),
                "kind": indicator.kind,
                "target": None
                if target is None
                else {
                    "period": target.period,
                    "period_label": period_label(target.period, lang),
                    "value": goal,
                    "text": None if goal is None else number(goal, lang),
                },
            }
        )
    start, end = period.window(plan.cutoff_day)
    return {
        "indicators": indicators,
        "activities": [
            {"code": a.code, "name": a.display_name(lang)} for a in activity_types_for(plan, agency)
        ],
        "window": (start, end),
        "deadline": plan.deadline(agency, period),
    }


def _rule_order(plan: PlanIndex, agency: str) -> Any:
    rule = plan.reporting_rule(agency)
    order = {code: i for i, code in enumerate(rule.indicators if rule else ())}
    return lambda code: (order.get(code, len(order)), code)


def _script_messages(lang: Any) -> dict[str, str]:
    """The texts the script shows, in the page's language: its own and one per problem reason."""
    return {key: texts[lang] for key, texts in MESSAGES.items() if key.startswith(("form.js.", "problem."))}


def install_form(app: FastAPI, container: Container) -> None:
    plan, plans, settings = container.plan, container.plans, container.settings

    def forbidden(
        request: Request, who: Principal, status: int = 403, message: str = "form.not_leader"
    ) -> Response:
        """Why this person has no form: not an agency's leader (403), or no reporting rule (404)."""
        t = translator(request_lang(request))
        response = render_page(
            _env,
            request,
            "report_forbidden.html.j2",
            timezone=plan.timezone,
            status_code=status,
            message=t(message),
            who=who,
        )
        response.headers.update(PAGE_HEADERS)
        return response

    async def figures_on_record(request: Request, agency: str, lang: Any) -> dict[str, str]:
        """`indicator@period` → the KPI's actual on record, from the aggregator's read API with the
        leader's own session (so its scope rule and audit log apply); {} when it does not answer."""
        base, token = settings.figures_url, request.cookies.get(SESSION_COOKIE)
        if not base or not token:
            return {}
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                answer = await client.get(
                    f"{base.rstrip('/')}/v1/kpis",
                    params={"agency": agency},
                    headers={"Authorization": f"Bearer {token}"},
                )
            answer.raise_for_status()
            items = answer.json()["items"]
            return {
                f"{k['indicator']}@{k['period']}": number(k["actual"], lang)
                for k in items
                if k.get("agency") == agency and k.get("actual") is not None
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("the figures on record could not be read from %s: %s", base, error)
            return {}

    @app.get("/report", include_in_schema=False)
    async def report_form(request: Request, who: PagePrincipal) -> Response:
        agency, lang = who.agency, request_lang(request)
        if who.role is not Role.LEADER or agency is None or agency not in plans.agency_codes:
            return forbidden(request, who)
        now = container.clock.now()
        today = now.astimezone(plan.tz).date()
        chosen = request.query_params.get("period")
        try:  # a period asked for by name is reported by its own year's plan
            reported = plans.index_for(period=chosen) if chosen else plan_reported_now(plans, agency, today)
        except (Rejected, ValueError):
            reported = plan_reported_now(plans, agency, today)
        periods = [str(p) for p in reported.reporting_periods(agency)]
        current = reporting_period(reported, agency, today)
        if current is None:
            return forbidden(request, who, 404, "form.no_rule")
        period = Period.parse(chosen) if chosen in periods else current
        model = form_model(reported, agency, period, lang, today)
        start, end = model["window"]
        activity_day = min(max(today, start), end)  # an activity defaults to a day of the period
        config = {
            "agency": agency,
            "source": agency_source(agency),
            "period": str(period),
            "lang": lang,
            "server_now": now.isoformat(timespec="milliseconds"),
            "render_id": secrets.token_hex(8),  # tells a fresh page from the service worker's copy
            "activity_day": activity_day.isoformat(),
            "indicators": [{"code": i["code"], "kind": i["kind"]} for i in model["indicators"]],
            "activities": model["activities"],
            "period_labels": {p: period_label(p, lang) for p in periods},
            "messages": _script_messages(lang),
        }
        response = render_page(
            _env,
            request,
            "report.html.j2",
            timezone=plan.timezone,
            who=who,
            agency_name=reported.agency(agency).display_name(lang, today),
            period_code=str(period),
            periods=periods,
            model=model,
            window_text=(
                moment_text(start.isoformat(), lang, plan.timezone, with_time=False),
                moment_text(end.isoformat(), lang, plan.timezone, with_time=False),
            ),
            deadline_text=moment_text(model["deadline"], lang, plan.timezone),
            tenure=tenure_text(reported, agency, today, lang),
            config=config,
            figures=await figures_on_record(request, agency, lang),
        )
        response.headers.update(PAGE_HEADERS)
        return response

    @app.post("/report/check", include_in_schema=False)
    async def check_report(request: Request) -> Response:
        """The checks `POST /v1/events` makes on each event, with nothing sent: `{"results":
        [{"index", "id", "problem"|null}]}`, a problem as `POST /v1/events` would answer it."""
        try:
            who = await current_principal(request)  # the session, CSRF-checked (a POST)
        except HTTPException as error:
            reason = "unauthenticated"
            body = Problem(reason, str(error.detail)).as_dict()
            return JSONResponse(body, 401, media_type=PROBLEM_JSON)
        if who.role is not Role.LEADER or who.agency not in plans.agency_codes:
            body = Problem(
                "source-mismatch", "only a leader of an agency of the plan reports from a session"
            ).as_dict()
            return JSONResponse(body, REASONS["source-mismatch"][0], media_type=PROBLEM_JSON)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > settings.max_batch_bytes:
            problem = Problem("too-large", f"a report may be at most {settings.max_batch_bytes} bytes")
            return JSONResponse(problem.as_dict(), problem.status, media_type=PROBLEM_JSON)
        documents = parse_json(await request.body())
        if isinstance(documents, Problem) or not isinstance(documents, list):
            problem = (
                documents
                if isinstance(documents, Problem)
                else Problem("not-a-cloudevent", "a report is a JSON array of CloudEvents")
            )
            return JSONResponse(problem.as_dict(), problem.status, media_type=PROBLEM_JSON)
        if len(documents) > settings.max_batch_events:
            problem = Problem("too-large", f"a report holds at most {settings.max_batch_events} events")
            return JSONResponse(problem.as_dict(), problem.status, media_type=PROBLEM_JSON)
        now: datetime = container.clock.now()
        results = []
        for index, document in enumerate(documents):
            try:
                checked: Any = container.intake.check(document, who.agency, now)
            except Exception:  # as POST /v1/events answers an event it cannot check
                checked = Problem("internal-error", "the event could not be checked")
            answer = checked.as_dict() if isinstance(checked, Problem) else None
            ident = document.get("id") if isinstance(document, dict) else None
            results.append({"index": index, "id": ident, "problem": answer})
        return JSONResponse({"results": results}, headers={"Cache-Control": "no-store"})

    def asset(name: str) -> Any:
        async def serve() -> FileResponse:
            headers = {"Cache-Control": "no-cache"}  # revalidated: a new release reaches the phones
            if name == "sw.js":
                headers["Service-Worker-Allowed"] = "/report"  # its scope covers /report itself
            return FileResponse(STATIC / name, media_type=_ASSETS[name], headers=headers)

        return serve

    for name in _ASSETS:
        app.add_api_route(f"/report/{name}", asset(name), methods=["GET"], include_in_schema=False)
