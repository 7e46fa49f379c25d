"""`tiendo agency token create|list|revoke AGENCY`: the operators' side of API tokens (and
`tiendo agency kafka-credentials create AGENCY`, `kafka_cli`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tokens import TokenRepository
from services.intake.entrypoints.kafka_cli import app as kafka_credentials_app
from shared.db import make_engine, upgrade_async
from shared.local_stack import NOT_FOUND, recorded
from shared.plan.book import load_plans
from shared.settings import DEFAULT_PLAN

R = TypeVar("R")
T = TypeVar("T")

app = typer.Typer(help="Agencies that send events: their API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Per-agency API tokens (only their hashes are stored).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(kafka_credentials_app, name="kafka-credentials")

DB = typer.Option(None, "--database-url", envvar="DATABASE_URL", help="postgresql+asyncpg://...")
PLAN = typer.Option(
    DEFAULT_PLAN,
    "--plan",
    envvar="TIENDO_PLAN_FILE",
    help="the plan file, or a folder of them, naming the agencies",
)


def _check_agency(agency: str, plan_file: Path) -> None:
    codes = sorted(load_plans(plan_file).agency_codes)
    if agency not in codes:
        raise typer.BadParameter(
            f"{agency!r} is not an agency of {plan_file.name}; one of: {', '.join(codes)}",
            param_hint="AGENCY",
        )


async def with_repository(
    database_url: str | None, repository: Callable[[AsyncEngine], R], action: Callable[[R], Awaitable[T]]
) -> T:
    """`action(repository(engine))` on intake's database (migrated first: the first token or
    account may precede the service), the URL given or recorded by `make demo`'s stack."""
    database_url = database_url or recorded("database_url")
    if not database_url:
        raise typer.BadParameter(
            f"set DATABASE_URL, pass --database-url or {NOT_FOUND}", param_hint="--database-url"
        )
    await upgrade_async("intake", database_url)
    engine = make_engine(database_url)
    try:
        return await action(repository(engine))
    finally:
        await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)  # audit time of an operator action: real time, not the plan clock


@token_app.command("create")
def create(
    agency: str = typer.Argument(..., help="agency code, e.g. CA-TINH"),
    database_url: str = DB,
    plan: Path = PLAN,
) -> None:
    """Issue a token; it is printed once and cannot be shown again."""
    _check_agency(agency, plan)
    token = asyncio.run(
        with_repository(database_url, TokenRepository, lambda repo: repo.create(agency, _now()))
    )
    typer.echo(token)
    typer.echo(
        f"# API token for {agency}: store it now, it is not shown again. "
        "Send it as `Authorization: Bearer <token>`.",
        err=True,
    )


@token_app.command("list")
def list_(
    agency: str = typer.Argument(..., help="agency code"), database_url: str = DB, plan: Path = PLAN
) -> None:
    """Token ids of an agency, with their creation and revocation times (never the secrets)."""
    _check_agency(agency, plan)
    tokens = asyncio.run(with_repository(database_url, TokenRepository, lambda repo: repo.list(agency)))
    if not tokens:
        typer.echo(f"{agency} has no tokens")
    for t in tokens:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M:%S%z}" if t.revoked_at else "active"
        typer.echo(f"{t.token_id}  created {t.created_at:%Y-%m-%d %H:%M:%S%z}  {state}")


@token_app.command("revoke")
def revoke(
    agency: str = typer.Argument(..., help="agency code"),
    token_id: str = typer.Argument(None, help="the token id (from `list`); omit to revoke all"),
    database_url: str = DB,
    plan: Path = PLAN,
) -> None:
    """Revoke one token, or every active token of the agency (effective within the token cache TTL)."""
    _check_agency(agency, plan)
    revoked = asyncio.run(
        with_repository(database_url, TokenRepository, lambda repo: repo.revoke(agency, _now(), token_id))
    )
    if not revoked:
        typer.echo(f"no active token {'with id ' + token_id + ' ' if token_id else ''}for {agency}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked for {agency}: {', '.join(revoked)}")
