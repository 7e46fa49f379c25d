"""Rendering a people's page: one Jinja environment over the shared layout and a service's own
templates, the language of the request, and the stylesheet served by the service itself."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.labels import Lang, kpi_status_label, period_label, report_status_label
from shared.web.i18n import LANG_COOKIE, choose_lang, moment_text, number, translator

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES = WEB_DIR / "templates"
STYLESHEET = WEB_DIR / "static" / "tiendo.css"
STYLESHEET_URL = "/static/web/tiendo.css"
LANG_COOKIE_SECONDS = 365 * 86_400


def page_environment(template_dirs: Sequence[Path] = ()) -> Environment:
    """A service's templates first, then the shared layout (`base.html.j2`, `macros.html.j2`)."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader([*template_dirs]), FileSystemLoader(TEMPLATES)]),
        autoescape=select_autoescape(["j2", "html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(stylesheet_url=STYLESHEET_URL)
    return env


def request_lang(request: Request) -> Lang:
    return choose_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def _with_lang(request: Request, lang: Lang) -> str:
    """This page's own address (relative) in the other language."""
    url = request.url.include_query_params(lang=lang)
    return f"{url.path}?{url.query}"


def render_page(
    env: Environment,
    request: Request,
    template: str,
    *,
    timezone: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page in the request's language, its moments in `timezone` (the plan's); a `?lang=`
    choice is remembered in a cookie."""
    lang = request_lang(request)
    html = env.get_template(template).render(
        request=request,
        lang=lang,
        t=translator(lang),
        num=lambda value: number(value, lang),
        when=lambda value, with_time=True: moment_text(value, lang, timezone, with_time=with_time),
        kpi_status=lambda status: kpi_status_label(status, lang),
        report_status=lambda status: report_status_label(status, lang),
        period=lambda value: period_label(value, lang),
        lang_urls={code: _with_lang(request, code) for code in ("vi", "en")},
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_SECONDS, samesite="lax", httponly=True)
    return response


def stylesheet_router() -> APIRouter:
    """The one stylesheet, from the service's own process (no CDN, no build chain)."""
    router = APIRouter(include_in_schema=False)

    @router.get(STYLESHEET_URL)
    async def stylesheet() -> FileResponse:
        return FileResponse(
            STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    return router
