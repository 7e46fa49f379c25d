"""Swagger UI (`/docs`) and ReDoc (`/redoc`) served with their assets from this process, not a CDN,
so the API pages work on a machine without internet. The assets are those the `fastapi-offline`
package ships (Swagger UI bundle and CSS, ReDoc standalone, a favicon); FastAPI's own pages would
load them, Google Fonts and a favicon from the internet."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_URL = "/api-docs-assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> str:
    return str(files("fastapi_offline").joinpath("static"))


def serve_api_docs(app: FastAPI) -> None:
    """Replace FastAPI's CDN-backed /docs and /redoc (wherever the app put them; none if it turned
    them off) by pages whose every asset is served by the app itself, under ASSETS_URL."""
    docs_url, redoc_url, redirect_url = app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url
    ours = {docs_url, redoc_url, redirect_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in ours]
    app.docs_url = app.redoc_url = None  # FastAPI must not add its own again
    openapi_url, title = app.openapi_url or "/openapi.json", app.title
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="api-docs-assets")

    def root(request: Request) -> str:  # behind a proxy that strips a prefix, as FastAPI's pages do
        return request.scope.get("root_path", "").rstrip("/")

    if docs_url:

        @app.get(docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            at = root(request)
            return get_swagger_ui_html(
                openapi_url=at + openapi_url,
                title=f"{title} - Swagger UI",
                oauth2_redirect_url=at + redirect_url if redirect_url else None,
                swagger_js_url=f"{at}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{at}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{at}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None},
            )  # no call to validator.swagger.io

        if redirect_url:

            @app.get(redirect_url, include_in_schema=False)
            async def swagger_ui_redirect() -> HTMLResponse:
                return get_swagger_ui_oauth2_redirect_html()

    if redoc_url:

        @app.get(redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            at = root(request)
            return get_redoc_html(
                openapi_url=at + openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{at}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{at}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
