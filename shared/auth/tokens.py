"""Bearer tokens: JWTs signed by an issuer and verified against its JWKS (joserfc).

One verification path for both sources of identity: the embedded local issuer (intake's account
store signs with a key from `AUTH_SIGNING_KEY_FILE`, everyone verifies with the public JWKS in
`AUTH_JWKS_FILE`), or a province's OpenID Connect provider (`AUTH_JWKS_URL`, e.g. Keycloak's
`/realms/<realm>/protocol/openid-connect/certs`). Roles are read from a configurable claim, which
may be a dotted path to a list (Keycloak: `realm_access.roles`).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from shared.auth.principal import Principal, Role

ALGORITHM = "ES256"
DEFAULT_ISSUER = "tiendo-local"
DEFAULT_AUDIENCE = "tiendo"


class InvalidCredentials(Exception):
    """A token that does not prove who is asking; the message says why (never echoes the token)."""


def generate_signing_key(directory: Path) -> tuple[Path, Path]:
    """A new P-256 signing key in `directory`: signing-key.jwk (private, 0600) and jwks.json."""
    directory.mkdir(parents=True, exist_ok=True)
    kid = f"tiendo-{time.strftime('%Y%m%d')}-{secrets.token_hex(4)}"
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True)
    private, public = directory / "signing-key.jwk", directory / "jwks.json"
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(key.as_dict(private=True), out)
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}, indent=2))
    return private, public


def load_signing_key(path: Path) -> ECKey:
    try:
        key = ECKey.import_key(json.loads(path.read_text()))
    except (OSError, ValueError, JoseError) as error:
        raise ValueError(f"cannot read the signing key {path}: {error}") from None
    if not key.is_private:
        raise ValueError(f"{path} holds a public key; the issuer needs the private one")
    return key


@dataclass(frozen=True)
class ClaimNames:
    role: str = "tiendo_role"
    agency: str = "tiendo_agency"
    name: str = "name"


class TokenIssuer:
    """Signs tokens for the local account store (and for tests)."""

    def __init__(
        self,
        key: ECKey,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        lifetime_seconds: int = 3600,
        claims: ClaimNames = ClaimNames(),
    ) -> None:
        self._key, self._issuer, self._audience = key, issuer, audience
        self.lifetime_seconds, self._claims = lifetime_seconds, claims

    def issue(self, principal: Principal, lifetime_seconds: int | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.subject,
            "iat": now,
            "nbf": now,
            "exp": now + (lifetime_seconds or self.lifetime_seconds),
            "jti": secrets.token_urlsafe(12),
            self._claims.name: principal.name,
            self._claims.role: str(principal.role),
        }
        if principal.agency:
            claims[self._claims.agency] = principal.agency
        return jwt.encode({"alg": ALGORITHM, "kid": self._key.kid}, claims, self._key)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class KeySource:
    """The issuer's public keys, from a file or a URL; refetched (at most every 60 s) on an unknown kid."""

    def __init__(self, jwks_file: Path | None = None, jwks_url: str | None = None) -> None:
        if not jwks_file and not jwks_url:
            raise ValueError("no JWKS configured: set AUTH_JWKS_FILE or AUTH_JWKS_URL")
        self._file, self._url = jwks_file, jwks_url
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> KeySet:
        try:
            if self._file:
                document = json.loads(self._file.read_text())
            else:
                assert self._url
                document = httpx.get(self._url, timeout=5.0).raise_for_status().json()
            return KeySet.import_key_set(document)
        except (OSError, ValueError, httpx.HTTPError, JoseError) as error:
            raise InvalidCredentials(f"the issuer's keys cannot be read ({error})") from None

    def keys(self, kid: str | None) -> KeySet:
        with self._lock:
            stale = self._keys is None or (
                kid is not None
                and not any(key.kid == kid for key in self._keys)
                and time.monotonic() - self._fetched_at > 60
            )
            if stale:
                self._keys, self._fetched_at = self._load(), time.monotonic()
            assert self._keys is not None
            return self._keys


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        claims: ClaimNames = ClaimNames(),
        leeway_seconds: int = 30,
    ) -> None:
        self._keys, self._claims = keys, claims
        self._registry = jwt.JWTClaimsRegistry(
            leeway=leeway_seconds,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    def verify(self, token: str) -> Principal:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError):
            raise InvalidCredentials("the bearer token is not a JWT") from None
        try:
            decoded = jwt.decode(token, self._keys.keys(kid), algorithms=[ALGORITHM, "RS256"])
            self._registry.validate(decoded.claims)
        except JoseError as error:
            raise InvalidCredentials(
                f"the bearer token is not valid: {error.description or error.error}"
            ) from None
        except ValueError:
            raise InvalidCredentials("the bearer token is not a JWT") from None
        return self._principal(decoded.claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        raw_role = _claim(claims, self._claims.role)
        offered = raw_role if isinstance(raw_role, list) else [raw_role]
        roles = [Role(r) for r in offered if isinstance(r, str) and r in Role.__members__.values()]
        if not roles:
            raise InvalidCredentials(f"the token names no Tiendo role in claim {self._claims.role!r}")
        agency = _claim(claims, self._claims.agency)
        name = _claim(claims, self._claims.name) or claims.get("preferred_username") or claims["sub"]
        try:
            return Principal(
                subject=str(claims["sub"]),
                name=str(name),
                role=roles[0],
                agency=str(agency) if agency else None,
            )
        except ValueError as error:
            raise InvalidCredentials(str(error)) from None
