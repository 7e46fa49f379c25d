"""Authentication and authorization as FastAPI dependencies: one place per service.

`install_auth(app, settings)` once in a service's app factory; routes then take
`principal: CurrentPrincipal` (APIs: 401 without valid credentials) or `PagePrincipal` (pages: a
redirect to the login page), and routers add `dependencies=[require(Role.COMMITTEE, ...)]`.

Credentials: `Authorization: Bearer <JWT>`, or for the people's pages the same JWT in the
HttpOnly session cookie. A request authenticated by the cookie that changes something must also
prove it came from our own page (CSRF, double submit): the `tiendo_csrf` cookie's value in the
`X-CSRF-Token` header or the form field `csrf`.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth.principal import Principal, Role
from shared.auth.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    ClaimNames,
    InvalidCredentials,
    KeySource,
    TokenVerifier,
)

log = logging.getLogger(__name__)
SESSION_COOKIE = "tiendo_session"
CSRF_COOKIE = "tiendo_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthSettings(BaseSettings):
    """The same variables for every service (a service's own settings class does not repeat them)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=None, extra="ignore")

    issuer: str = Field(default=DEFAULT_ISSUER, description="the JWT `iss` every token must carry")
    audience: str = Field(default=DEFAULT_AUDIENCE, description="the JWT `aud` every token must carry")
    jwks_file: Path | None = Field(default=None, description="the issuer's public keys (local issuer)")
    jwks_url: str | None = Field(default=None, description="the issuer's JWKS URL (OpenID Connect)")
    role_claim: str = Field(default="tiendo_role", description="claim (dotted path) holding the role")
    agency_claim: str = Field(default="tiendo_agency", description="claim holding the agency code")
    name_claim: str = Field(default="name", description="claim holding the person's display name")
    login_url: str = Field(default="/login", description="where pages send a visitor to log in")

    def verifier(self) -> TokenVerifier | None:
        if not self.jwks_file and not self.jwks_url:
            return None
        return TokenVerifier(
            KeySource(self.jwks_file, self.jwks_url),
            issuer=self.issuer,
            audience=self.audience,
            claims=ClaimNames(role=self.role_claim, agency=self.agency_claim, name=self.name_claim),
        )


def install_auth(app: FastAPI, settings: AuthSettings | None = None) -> None:
    """Attach the verifier to `app`. With no JWKS configured every protected route answers 401:
    a service without an issuer is closed, never open."""
    settings = settings or AuthSettings()
    app.state.auth_settings = settings
    app.state.auth_verifier = settings.verifier()
    if app.state.auth_verifier is None:
        log.warning("no AUTH_JWKS_FILE or AUTH_JWKS_URL: every authenticated route answers 401")


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tiendo"'})


def _presented(request: Request) -> tuple[str | None, bool]:
    """The token and whether it came from the session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("the Authorization header must be 'Bearer <token>'")
        return token.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def _check_csrf(request: Request) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    offered: object = request.headers.get(CSRF_HEADER)
    if offered is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        offered = (await request.form()).get(CSRF_FIELD)  # cached by Starlette for the route
    if not expected or not isinstance(offered, str) or not hmac.compare_digest(expected, offered):
        raise HTTPException(403, "the request did not come from a Tiendo page (CSRF token missing or wrong)")


async def authenticate(request: Request) -> Principal | None:
    """The principal behind the request, None when it carries no credentials, 401 when they are bad."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    token, from_cookie = _presented(request)
    if token is None:
        return None
    verifier: TokenVerifier | None = getattr(request.app.state, "auth_verifier", None)
    if verifier is None:
        raise _unauthenticated("authentication is not configured on this service")
    try:
        principal = verifier.verify(token)
    except InvalidCredentials as error:
        raise _unauthenticated(str(error)) from None
    if from_cookie and request.method not in SAFE_METHODS:
        await _check_csrf(request)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    principal = await authenticate(request)
    if principal is None:
        raise _unauthenticated("credentials are required: a bearer token or a session")
    return principal


async def page_principal(request: Request) -> Principal:
    try:
        principal = await authenticate(request)
    except HTTPException as error:
        if error.status_code != 401:
            raise
        principal = None  # an expired session: log in again
    if principal is None:
        settings: AuthSettings = getattr(request.app.state, "auth_settings", None) or AuthSettings()
        target = f"{settings.login_url}?next={quote(str(request.url), safe='')}"
        raise HTTPException(303, "log in first", headers={"Location": target})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PagePrincipal = Annotated[Principal, Depends(page_principal)]


def require(*roles: Role) -> Any:
    """A dependency refusing (403) every role but `roles`; authenticates first (401)."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(allowed))
            raise HTTPException(403, f"this needs the role {names}; you are {principal.role}")
        return principal

    return Depends(check)


async def check_csrf(request: Request) -> None:
    """403 unless the request came from a Tiendo page (double submit), for a route that changes
    something without, or before, a session: logging in (login CSRF) and logging out."""
    await _check_csrf(request)
