"""People's local accounts (issue 17): the embedded identity store that needs nothing else running.

Only an argon2id hash of each password is stored. Logging in costs argon2 (~80 ms), so, as for
agency tokens (adapters/tokens.py), every attempt is charged first to the client's address and to
the login (`AuthGuard`) and answered 429 beyond the budget; a successful login gives the charge
back. An unknown login is checked against a dummy hash, so the answer's timing does not tell
which logins exist; unknown login, wrong password and disabled account get the same answer.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tokens import Denied
from services.intake.domain.ratelimit import AuthGuard
from shared.auth import Principal, Role

# OWASP's argon2id minimum (19 MiB, 2 passes), as for agency tokens; passwords are guessable,
# so the per-address and per-login budgets, not the hash's cost, are what stop an online guesser.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
PEOPLE_ROLES = (Role.COMMITTEE, Role.LEADER, Role.OPERATOR)
MIN_PASSWORD = 12
MAX_PASSWORD = 256


class AccountError(ValueError):
    """A request the account store refuses (the message says why, for the operator)."""


@dataclass(frozen=True)
class Account:
    login: str
    display_name: str
    role: Role
    agency: str | None
    created_at: datetime
    disabled_at: datetime | None

    def principal(self) -> Principal:
        return Principal(subject=self.login, name=self.display_name, role=self.role, agency=self.agency)


def normal_login(login: str) -> str:
    value = login.strip().lower()
    if not LOGIN.match(value):
        raise AccountError(
            f"{login!r} is not a login: 2 to 64 characters, letters a-z, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")


def check_role(role: str, agency: str | None, agencies: frozenset[str] | set[str]) -> Role:
    """The role of a person's account, and the agency rule that goes with it."""
    try:
        chosen = Role(role)
    except ValueError:
        chosen = None
    if chosen not in PEOPLE_ROLES:
        hint = (
            " (agency systems use `tiendo agency token create AGENCY`)" if role == Role.AGENCY_SYSTEM else ""
        )
        raise AccountError(
            f"unknown role {role!r}; a person's role is one of: {', '.join(PEOPLE_ROLES)}{hint}"
        )
    if chosen is Role.LEADER and not agency:
        raise AccountError("a leader's account needs the agency they lead: --agency CODE")
    if chosen is not Role.LEADER and agency:
        raise AccountError(f"a {chosen} account sees every agency; --agency is only for leaders")
    if agency and agency not in agencies:
        raise AccountError(f"{agency!r} is not an agency of the plan; one of: {', '.join(sorted(agencies))}")
    return chosen


class AccountRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._hashing = asyncio.Semaphore(1)  # at most one core on argon2, whatever is thrown at it

    async def create(
        self, login: str, display_name: str, role: Role, agency: str | None, password: str, now: datetime
    ) -> Account:
        login = normal_login(login)
        check_password(password)
        if not display_name.strip():
            raise AccountError('the display name is empty: --name "Lê Văn An"')
        digest = await asyncio.to_thread(_hasher.hash, password)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO intake.accounts (login, display_name, role, agency, password_hash, "
                        "created_at) VALUES (:login, :name, :role, :agency, :hash, :now)"
                    ),
                    {
                        "login": login,
                        "name": display_name.strip(),
                        "role": str(role),
                        "agency": agency,
                        "hash": digest,
                        "now": now,
                    },
                )
        except IntegrityError:
            raise AccountError(f"the login {login!r} exists already (logins are never reused)") from None
        return Account(login, display_name.strip(), role, agency, now, None)

    async def list(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT login, display_name, role, agency, created_at, disabled_at "
                    "FROM intake.accounts ORDER BY login"
                )
            )
            return [Account(r[0], r[1], Role(r[2]), r[3], r[4], r[5]) for r in rows]

    async def disable(self, login: str, now: datetime) -> bool:
        """Disable an account (it can no longer log in); False if no active account has that login."""
        async with self._engine.begin() as conn:
            row = await conn.execute(
                text(
                    "UPDATE intake.accounts SET disabled_at = :now "
                    "WHERE login = :login AND disabled_at IS NULL RETURNING login"
                ),
                {"login": login.strip().lower(), "now": now},
            )
            return row.first() is not None

    async def authenticate(
        self, login: str, password: str, client: str, guard: AuthGuard, now: float
    ) -> Principal | Denied:
        """The person behind a login and password, or why not (Denied: 401, or 429 with a wait)."""
        key = "login:" + login.strip().lower()[:64]  # never collides with a token id (hex only)
        wait = guard.attempt_from(client, now) or guard.attempt_on(key, now)
        if wait > 0:
            return Denied(wait)
        if not password or len(password) > MAX_PASSWORD:
            return Denied()
        row = None
        if LOGIN.match(login.strip().lower()):
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT login, display_name, role, agency, created_at, disabled_at, "
                            "password_hash FROM intake.accounts WHERE login = :login"
                        ),
                        {"login": login.strip().lower()},
                    )
                ).first()
        matches = await self._matches(row[6] if row is not None else _DUMMY_HASH, password)
        if row is None or not matches or row[5] is not None:
            return Denied()
        guard.succeeded(client, key)
        return Account(row[0], row[1], Role(row[2]), row[3], row[4], row[5]).principal()

    async def _matches(self, password_hash: str, password: str) -> bool:
        async with self._hashing:
            try:
                return await asyncio.to_thread(_hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False


async def create_accounts(
    database_url: str, accounts: list[tuple[str, str, Role, str | None, str]], now: datetime
) -> None:
    """Accounts (login, name, role, agency, password) in one go: for the demo and tests."""
    from shared.db import make_engine

    engine = make_engine(database_url)
    try:
        repository = AccountRepository(engine)
        for login, name, role, agency, password in accounts:
            await repository.create(login, name, role, agency, password, now)
    finally:
        await engine.dispose()
