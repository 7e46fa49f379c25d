"""Per-agency API tokens: `tdo_<id>_<secret>`; only an argon2id hash of the secret is stored.

Argon2 (~80 ms of CPU) is what a client without a credential could make intake spend, so it
runs only when nothing cheaper can answer: a token verified before is recognised by its SHA-256
(its row re-read, not re-hashed, every `cache_ttl_s`, so a revocation bites within that TTL);
a malformed token, an unknown token id or a token that just failed is refused without it; and
any other attempt is charged to the client's address (and, before argon2, to the token id:
`AuthGuard`), so a client guessing secrets gets 429 after a few tries. An agency's token that
was verified before is never limited, however hard its token id is attacked. Hashing runs in
a thread, one at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.domain.ratelimit import AuthGuard

TOKEN = re.compile(r"^tdo_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,100})$")
# OWASP's argon2id minimum (19 MiB, 2 passes): ~80 ms here. The secrets are 256-bit random, so
# the hash guards a stolen table, not guessable passwords; argon2-cffi's default costs ~0.7 s.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    agency: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Denied:
    """Not authenticated: `retry_after` seconds when the client must wait (429), else None (401)."""

    retry_after: float | None = None


@dataclass
class _Verified:
    agency: str
    token_id: str
    secret_hash: str
    checked: float  # when the row was last seen unrevoked (monotonic)


class TokenRepository:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        cache_ttl_s: float = 30.0,
        max_cached: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = cache_ttl_s
        self._max = max_cached
        self._monotonic = monotonic
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()  # by SHA-256 of the whole token
        self._failed: OrderedDict[bytes, float] = OrderedDict()  # ... → until when it is refused unchecked
        self._hashing = asyncio.Semaphore(1)  # at most one core on argon2, whatever is thrown at it

    async def create(self, agency: str, now: datetime) -> str:
        """A new token for `agency`; the plaintext is returned once and never stored."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        digest = await asyncio.to_thread(_hasher.hash, secret)
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO intake.api_tokens (token_id, agency, secret_hash, created_at) "
                    "VALUES (:id, :agency, :hash, :now)"
                ),
                {"id": token_id, "agency": agency, "hash": digest, "now": now},
            )
        return f"tdo_{token_id}_{secret}"

    async def list(self, agency: str) -> list[TokenInfo]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT token_id, agency, created_at, revoked_at FROM intake.api_tokens "
                    "WHERE agency = :agency ORDER BY created_at, token_id"
                ),
                {"agency": agency},
            )
            return [TokenInfo(*row) for row in rows]

    async def revoke(self, agency: str, now: datetime, token_id: str | None = None) -> list[str]:
        """Revoke one token of `agency` (or all of them); returns the ids revoked."""
        query = (
            "UPDATE intake.api_tokens SET revoked_at = :now WHERE agency = :agency AND revoked_at IS NULL"
            + (" AND token_id = :id" if token_id else "")
            + " RETURNING token_id"
        )
        async with self._engine.begin() as conn:
            rows = await conn.execute(text(query), {"now": now, "agency": agency, "id": token_id})
            return [r[0] for r in rows]

    async def authenticate(self, presented: str, client: str, guard: AuthGuard) -> str | Denied:
        """The agency a presented token belongs to, or why not (unknown, wrong, revoked, limited)."""
        key = hashlib.sha256(presented.encode()).digest()
        now = self._monotonic()
        known = self._verified.get(key)
        if known is not None:
            if now - known.checked < self._ttl:
                return known.agency
            row = await self._row(known.token_id)
            if row is not None and row.secret_hash == known.secret_hash:
                known.checked = now
                return known.agency
            del self._verified[key]  # revoked: refused below like any wrong token
        failed = self._failed.get(key)
        if failed is not None and failed > now:
            return Denied()  # the same token again (a revoked one, say): costs nothing, so not charged
        wait = guard.attempt_from(client, now)
        if wait > 0:
            return Denied(wait)
        match = TOKEN.match(presented)
        row = None if match is None else await self._row(match["id"])
        if row is None:
            return self._refuse(key, now)
        wait = guard.attempt_on(match["id"], now)
        if wait > 0:
            return Denied(wait)
        if not await self._secret_matches(row.secret_hash, match["secret"]):
            return self._refuse(key, now)
        guard.succeeded(client, match["id"])
        self._verified[key] = _Verified(row.agency, match["id"], row.secret_hash, now)
        while len(self._verified) > self._max:
            self._verified.popitem(last=False)
        return row.agency

    async def _row(self, token_id: str):
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT agency, secret_hash FROM intake.api_tokens "
                        "WHERE token_id = :id AND revoked_at IS NULL"
                    ),
                    {"id": token_id},
                )
            ).first()

    async def _secret_matches(self, secret_hash: str, secret: str) -> bool:
        async with self._hashing:
            try:
                return await asyncio.to_thread(_hasher.verify, secret_hash, secret)
            except (VerificationError, InvalidHashError):
                return False

    def _refuse(self, key: bytes, now: float) -> Denied:
        self._failed[key] = now + self._ttl
        self._failed.move_to_end(key)
        while len(self._failed) > self._max:
            self._failed.popitem(last=False)
        return Denied()


async def issue_tokens(database_url: str, agencies: Iterable[str], now: datetime) -> dict[str, str]:
    """A fresh token per agency, plaintext (shown once): for the demo, tests and benchmarks."""
    from shared.db import make_engine

    engine = make_engine(database_url)
    try:
        repository = TokenRepository(engine)
        return {agency: await repository.create(agency, now) for agency in agencies}
    finally:
        await engine.dispose()
