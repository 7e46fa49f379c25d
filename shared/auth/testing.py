"""Tokens for tests and local tools: one signing key per process, its JWKS in a temporary file."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

from shared.auth.dependencies import AuthSettings
from shared.auth.principal import Principal, Role
from shared.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key


@functools.cache
def _keys() -> tuple[Path, Path]:
    directory = Path(tempfile.mkdtemp(prefix="tiendo-auth-"))
    return generate_signing_key(directory)


def jwks_file() -> Path:
    """Point a service's AUTH_JWKS_FILE here to accept `issue_for` tokens."""
    return _keys()[1]


def signing_key_file() -> Path:
    return _keys()[0]


def issue_for(role: Role | str, agency: str | None = None, name: str | None = None) -> str:
    role = Role(role)
    principal = Principal(
        subject=f"test-{role}-{agency or 'all'}",
        name=name or f"Test {role}",
        role=role,
        agency=agency,
    )
    return TokenIssuer(load_signing_key(signing_key_file())).issue(principal)


def bearer(role: Role | str, agency: str | None = None, name: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_for(role, agency, name)}"}


def auth_settings() -> AuthSettings:
    """A service's AuthSettings accepting `issue_for` tokens (for an app built in process)."""
    return AuthSettings(jwks_file=jwks_file())


def discard_keys() -> None:
    """Remove the signing key's directory (a test session leaves nothing behind); a later call
    of `issue_for` makes a new key."""
    if _keys.cache_info().currsize:
        shutil.rmtree(_keys()[0].parent, ignore_errors=True)
        _keys.cache_clear()
