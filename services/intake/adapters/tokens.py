"""Per-agency API tokens: `tdo_<id>_<secret>`; only an argon2id hash of the secret is stored.

The id half finds the row without hashing, so a wrong token costs one indexed lookup, not an
argon2 verification. Verification (~50 ms) runs in a thread and its result is cached for a
short TTL, so throughput is not bound by hashing and a revocation bites within that TTL.
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


class TokenRepository:
    def __init__(self, engine: AsyncEngine, *, cache_ttl_s: float = 30.0, max_cached: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._ttl = cache_ttl_s
        self._max = max_cached
        self._monotonic = monotonic
        self._cache: OrderedDict[bytes, tuple[str | None, float]] = OrderedDict()

    async def create(self, agency: str, now: datetime) -> str:
        """A new token for `agency`; the plaintext is returned once and never stored."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        digest = await asyncio.to_thread(_hasher.hash, secret)
        async with self._engine.begin() as conn:
            await conn.execute(text("INSERT INTO intake.api_tokens (token_id, agency, secret_hash, created_at) "
                                    "VALUES (:id, :agency, :hash, :now)"),
                               {"id": token_id, "agency": agency, "hash": digest, "now": now})
        return f"tdo_{token_id}_{secret}"

    async def list(self, agency: str) -> list[TokenInfo]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(text("SELECT token_id, agency, created_at, revoked_at FROM intake.api_tokens "
                                           "WHERE agency = :agency ORDER BY created_at, token_id"), {"agency": agency})
            return [TokenInfo(*row) for row in rows]

    async def revoke(self, agency: str, now: datetime, token_id: str | None = None) -> list[str]:
        """Revoke one token of `agency` (or all of them); returns the ids revoked."""
        query = ("UPDATE intake.api_tokens SET revoked_at = :now WHERE agency = :agency AND revoked_at IS NULL"
                 + (" AND token_id = :id" if token_id else "") + " RETURNING token_id")
        async with self._engine.begin() as conn:
            rows = await conn.execute(text(query), {"now": now, "agency": agency, "id": token_id})
            return [r[0] for r in rows]

    async def agency_of(self, presented: str) -> str | None:
        """The agency a presented token belongs to, or None (unknown, wrong or revoked)."""
        key = hashlib.sha256(presented.encode()).digest()
        now = self._monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        agency = await self._verify(presented)
        self._cache[key] = (agency, now + self._ttl)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return agency

    async def _verify(self, presented: str) -> str | None:
        match = TOKEN.match(presented)
        if match is None:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(text("SELECT agency, secret_hash FROM intake.api_tokens "
                                           "WHERE token_id = :id AND revoked_at IS NULL"), {"id": match["id"]})).first()
        if row is None:
            return None
        try:
            await asyncio.to_thread(_hasher.verify, row.secret_hash, match["secret"])
        except (VerificationError, InvalidHashError):
            return None
        return row.agency


async def issue_tokens(database_url: str, agencies: Iterable[str], now: datetime) -> dict[str, str]:
    """A fresh token per agency, plaintext (shown once): for the demo, tests and benchmarks."""
    from shared.db import make_engine

    engine = make_engine(database_url)
    try:
        repository = TokenRepository(engine)
        return {agency: await repository.create(agency, now) for agency in agencies}
    finally:
        await engine.dispose()
