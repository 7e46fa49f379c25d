"""Who may do what (issue 17): principals and roles, JWT bearer tokens and sessions, FastAPI
dependencies. See docs/security.md for every endpoint's rule."""

from shared.auth.dependencies import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthSettings,
    CurrentPrincipal,
    PagePrincipal,
    authenticate,
    current_principal,
    install_auth,
    page_principal,
    require,
)
from shared.auth.principal import Principal, Role
from shared.auth.tokens import InvalidCredentials, TokenIssuer, TokenVerifier

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "AuthSettings",
    "CurrentPrincipal",
    "InvalidCredentials",
    "PagePrincipal",
    "Principal",
    "Role",
    "TokenIssuer",
    "TokenVerifier",
    "authenticate",
    "current_principal",
    "install_auth",
    "page_principal",
    "require",
]
