"""The embedded identity's doors on intake (issue 17): the OAuth 2.0 token endpoint, the issuer's
public keys, and the people's login page with its session and CSRF cookies.

- `POST /v1/auth/token` (RFC 6749 §3.2, form body): `grant_type=password` (a person's login and
  password, §4.3) or `grant_type=client_credentials` (an agency system, §4.4: its API token
  `tdo_...` as the client secret, in the form, as HTTP Basic or as `Authorization: Bearer`);
  answers a JWT signed by intake's key, or an RFC 6749 §5.2 JSON error.
- `GET /.well-known/jwks.json`: the public keys every service verifies those JWTs with.
- `GET|POST /login`, `POST /logout`: the pages' session (`tiendo_session`, the JWT, HttpOnly) and
  the double-submit CSRF cookie (`tiendo_csrf`, readable by pages); the login form is itself
  CSRF-checked, so no other site can log a person in under someone else's account.

Every guess costs the guesser, not intake: the same `AuthGuard` as the events' tokens charges
each attempt to the client's address and to the login (or token id) before argon2 runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.intake.adapters.tokens import Denied
from services.intake.bootstrap import Container
from services.intake.domain.ratelimit import AuthGuard
from shared.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, Role, authenticate, install_auth
from shared.auth.dependencies import check_csrf
from shared.auth.tokens import load_signing_key
from shared.messages import catalogue
from shared.web import page_environment, render_page, request_lang, stylesheet_router, translator

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
NO_KEY = (
    "the local issuer has no signing key: set AUTH_SIGNING_KEY_FILE (make one with "
    "`tiendo auth keys create DIR`), or use the province's identity provider"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'",  # no login form framed by another site
    "X-Frame-Options": "DENY",
}

LOGIN_MESSAGES = catalogue("login")
_env = page_environment([TEMPLATES])


def safe_next(target: str | None, allowed_origins: frozenset[str]) -> str | None:
    """`target` if it is a path on this site or on a configured origin, else None (no open redirect)."""
    if not target or len(target) > 2048 or any(ord(c) < 0x21 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if not parts.scheme and not parts.netloc:
        return target if target.startswith("/") and not target.startswith("//") else None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return target if origin in allowed_origins else None


def _origins(setting: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in setting.split(",") if o.strip())


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})},
    )


async def _small_form(request: Request) -> FormData | None:
    """The urlencoded body, or None when it is not one or is too large (never read unbounded)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        return None
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        return None
    return await request.form()


def install_login(app: FastAPI, container: Container, guard: AuthGuard) -> None:
    settings = container.settings
    install_auth(app, container.auth)  # GET /login recognises a valid session
    allowed = _origins(settings.login_next_origins)

    def next_of(request: Request, target: str | None) -> str | None:
        # This site's own pages (the reporting form) send absolute URLs of its own origin.
        own = str(request.base_url).rstrip("/").lower()
        return safe_next(target, allowed | {own})

    app.include_router(stylesheet_router())

    def client_of(request: Request) -> str:
        return request.client.host if request.client else ""

    def issue(principal: Principal, lifetime: int) -> str:
        assert container.issuer is not None
        return container.issuer.issue(principal, lifetime_seconds=lifetime)

    # ------------------------------------------------------------------ keys
    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks() -> Response:
        if settings.auth_signing_key_file is None:
            return JSONResponse({"detail": NO_KEY}, 503)
        keys: dict[str, Any] = {}
        # Keys still trusted during a rotation (AUTH_JWKS_FILE), then the one signing now.
        if container.auth.jwks_file is not None and container.auth.jwks_file.is_file():
            for key in json.loads(container.auth.jwks_file.read_text()).get("keys", []):
                keys[key.get("kid", "")] = key
        signing = load_signing_key(settings.auth_signing_key_file).as_dict(private=False)
        keys[signing.get("kid", "")] = signing
        return JSONResponse({"keys": list(keys.values())}, headers={"Cache-Control": "public, max-age=300"})

    # ------------------------------------------------------------------ token endpoint
    @app.post("/v1/auth/token", include_in_schema=False)
    async def token(request: Request) -> Response:
        if container.issuer is None:
            return oauth_error(503, "temporarily_unavailable", NO_KEY)
        form = await _small_form(request)
        if form is None:
            return oauth_error(
                400,
                "invalid_request",
                f"send the parameters as {FORM} (at most {MAX_FORM_BYTES // 1024} KiB)",
            )
        repeated = sorted({k for k in form if len(form.getlist(k)) > 1})
        if repeated:
            return oauth_error(400, "invalid_request", f"parameters given twice: {', '.join(repeated)}")
        grant = form.get("grant_type")
        if grant == "password":
            return await password_grant(request, form)
        if grant == "client_credentials":
            return await client_credentials_grant(request, form)
        if not grant:
            return oauth_error(400, "invalid_request", "grant_type is required")
        return oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be password (people) or client_credentials (agency systems)",
        )

    def granted(principal: Principal) -> JSONResponse:
        lifetime = settings.access_token_lifetime_s
        return JSONResponse(
            {"access_token": issue(principal, lifetime), "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def slow_down(wait: float) -> JSONResponse:
        seconds = max(1, math.ceil(wait))
        return oauth_error(
            429,
            "slow_down",
            f"too many failed attempts from this address or for this account; retry in {seconds} s",
            {"Retry-After": str(seconds)},
        )

    async def password_grant(request: Request, form: FormData) -> Response:
        login, password = form.get("username"), form.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or not login or not password:
            return oauth_error(400, "invalid_request", "the password grant needs username and password")
        assert container.accounts is not None
        result = await container.accounts.authenticate(
            login, password, client_of(request), guard, container.monotonic()
        )
        if isinstance(result, Denied):
            if result.retry_after is not None:
                return slow_down(result.retry_after)
            return oauth_error(
                400, "invalid_grant", "the login or the password is wrong, or the account is disabled"
            )
        return granted(result)

    async def client_credentials_grant(request: Request, form: FormData) -> Response:
        secret, client_id, scheme = _client_secret(request, form)
        challenge = {"WWW-Authenticate": f'{scheme or "Basic"} realm="tiendo-intake"'}
        if not secret:
            return oauth_error(
                401,
                "invalid_client",
                "an agency system authenticates with its API token (tdo_...) as client_secret, "
                "HTTP Basic or `Authorization: Bearer`",
                challenge,
            )
        agency = await container.tokens.authenticate(secret, client_of(request), guard)
        if isinstance(agency, Denied) and agency.retry_after is not None:
            return slow_down(agency.retry_after)
        if isinstance(agency, Denied) or agency not in container.plan.agency_codes:
            return oauth_error(
                401, "invalid_client", "the API token is not valid: unknown, mistyped or revoked", challenge
            )
        if client_id and client_id != agency:
            return oauth_error(401, "invalid_client", "client_id is not the token's agency", challenge)
        name = container.plan.agency(agency).display_name("vi")
        return granted(Principal(f"agency-system:{agency}", f"{name} (hệ thống)", Role.AGENCY_SYSTEM, agency))

    # ------------------------------------------------------------------ the login page
    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def page(
        request: Request,
        *,
        status: int = 200,
        error: str | None = None,
        login: str = "",
        next_url: str | None = None,
        who: Principal | None = None,
        csrf: str | None = None,
    ) -> Response:
        """The form with a CSRF cookie: the one the browser has, or a new one set here."""
        token = csrf or request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = render_page(
            _env,
            request,
            "login.html.j2",
            timezone=container.plan.timezone,
            status_code=status,
            say=translator(request_lang(request), LOGIN_MESSAGES),
            error=error,
            login=login,
            next=next_url or "",
            who=who,
            csrf=token,
            available=container.issuer is not None,
        )
        response.headers.update(PAGE_HEADERS)
        if request.cookies.get(CSRF_COOKIE) != token:
            set_csrf(response, request, token)
        return response

    def set_csrf(response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            max_age=settings.session_lifetime_s,
            path="/",
            secure=secure(request),
            httponly=False,  # the pages read it to send it back (double submit)
            samesite="lax",
        )

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        say = translator(request_lang(request), LOGIN_MESSAGES)
        if container.issuer is None:
            return page(request, status=503, error=say("login.unavailable"))
        try:
            who = await authenticate(request)
        except HTTPException:
            who = None  # an expired or foreign session: log in again
        done = say("login.logged_out") if request.query_params.get("logged_out") and not who else None
        return page(request, error=done, who=who, next_url=next_of(request, request.query_params.get("next")))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        say = translator(request_lang(request), LOGIN_MESSAGES)
        if container.issuer is None:
            return page(request, status=503, error=say("login.unavailable"))
        form = await _small_form(request)
        if form is None:
            return page(request, status=400, error=say("login.bad_request"))
        login_name = str(form.get("login") or "")[:64]
        next_url = next_of(request, str(form.get("next") or ""))
        try:
            await check_csrf(request)
        except HTTPException:
            # a form from before the cookie, or from another site: a fresh form, nothing checked
            return page(
                request,
                status=403,
                error=say("login.stale_form"),
                login=login_name,
                next_url=next_url,
                csrf=secrets.token_urlsafe(32),
            )
        assert container.accounts is not None
        result = await container.accounts.authenticate(
            login_name, str(form.get("password") or ""), client_of(request), guard, container.monotonic()
        )
        if isinstance(result, Denied):
            if result.retry_after is not None:
                seconds = max(1, math.ceil(result.retry_after))
                response = page(
                    request,
                    status=429,
                    error=say("login.too_many", seconds=seconds),
                    login=login_name,
                    next_url=next_url,
                )
                response.headers["Retry-After"] = str(seconds)
                return response
            return page(request, status=401, error=say("login.failed"), login=login_name, next_url=next_url)
        response = RedirectResponse(next_url or settings.login_home, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            issue(result, settings.session_lifetime_s),
            max_age=settings.session_lifetime_s,
            path="/",
            secure=secure(request),
            httponly=True,
            samesite="lax",
        )
        set_csrf(response, request, secrets.token_urlsafe(32))  # a new one per session
        response.headers.update(PAGE_HEADERS)
        log.info("login: %s (%s)", result.subject, result.role)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if await _small_form(request) is None and "x-csrf-token" not in request.headers:
            return page(
                request,
                status=400,
                error=translator(request_lang(request), LOGIN_MESSAGES)("login.bad_request"),
            )
        try:
            await check_csrf(request)
        except HTTPException:
            return page(
                request,
                status=403,
                error=translator(request_lang(request), LOGIN_MESSAGES)("login.bad_request"),
            )
        response = RedirectResponse(f"/login?lang={request_lang(request)}&logged_out=1", status_code=303)
        for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
            response.delete_cookie(name, path="/", secure=secure(request), httponly=httponly, samesite="lax")
        response.headers.update(PAGE_HEADERS)
        return response


def _client_secret(request: Request, form: FormData) -> tuple[str | None, str | None, str | None]:
    """(secret, client_id, the Authorization scheme used): RFC 6749 §2.3.1, and Bearer for agency
    systems that already send their token that way to /v1/events."""
    header = request.headers.get("authorization")
    client_id = form.get("client_id")
    client_id = client_id if isinstance(client_id, str) and client_id else None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None, client_id, "Bearer"
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None, client_id, "Basic"
            user, _, password = decoded.partition(":")
            return unquote(password) or None, unquote(user) or client_id, "Basic"
        return None, client_id, "Basic"
    secret = form.get("client_secret")
    return (secret if isinstance(secret, str) and secret else None), client_id, None
