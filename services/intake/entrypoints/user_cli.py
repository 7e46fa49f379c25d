"""`tiendo user create|list|disable`: people's local accounts (issue 17), the embedded identity.

The database is found as for `tiendo agency token` (--database-url, DATABASE_URL, else the running
local stack's). A password is never an argument (it would stay in the shell's history and in
`ps`): it is asked for twice, or read from the first line of `--password-file`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer

from services.intake.adapters.accounts import (
    AccountError,
    AccountRepository,
    check_password,
    check_role,
    normal_login,
)
from services.intake.entrypoints.cli import DB, PLAN, with_repository
from shared.plan.book import load_plans

app = typer.Typer(
    help="People's accounts (committee, leaders, operators) of the local identity store.",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    typer.echo(f"tiendo: {message}", err=True)
    raise typer.Exit(2)


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            _fail(f"cannot read the password file {password_file}: {error.strerror}")
        password = lines[0] if lines else ""
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except AccountError as error:
        _fail(str(error))
    return password


@app.command("create")
def create(
    login: str = typer.Argument(..., help="the login, e.g. le.van.an (lower case, never reused)"),
    name: str = typer.Option(..., "--name", help='the display name, e.g. "Lê Văn An"'),
    role: str = typer.Option(..., "--role", help="committee, leader or operator"),
    agency: str = typer.Option(None, "--agency", help="a leader's agency code, e.g. CA-TINH"),
    password_file: Path = typer.Option(
        None, "--password-file", help="read the password from this file's first line (else a prompt)"
    ),
    database_url: str = DB,
    plan: Path = PLAN,
) -> None:
    """Create a person's account; the password is asked for (twice) or read from a file."""
    try:
        normal_login(login)
        chosen = check_role(role, agency, set(load_plans(plan).agency_codes))
    except AccountError as error:
        _fail(str(error))
    password = _password(password_file)

    async def make(repo: AccountRepository):
        return await repo.create(login, name, chosen, agency, password, datetime.now(UTC))

    try:
        account = asyncio.run(with_repository(database_url, AccountRepository, make))
    except AccountError as error:
        _fail(str(error))
    scope = f" of {account.agency}" if account.agency else ""
    typer.echo(f"created {account.login}: {account.display_name}, {account.role}{scope}")


@app.command("list")
def list_(database_url: str = DB) -> None:
    """Every account, with its role, agency and state (never a password or its hash)."""
    accounts = asyncio.run(with_repository(database_url, AccountRepository, lambda repo: repo.list()))
    if not accounts:
        typer.echo("no accounts; create one with `tiendo user create LOGIN --name ... --role ...`")
    for a in accounts:
        state = f"disabled {a.disabled_at:%Y-%m-%d %H:%M:%S%z}" if a.disabled_at else "active"
        typer.echo(f"{a.login}  {a.role}  {a.agency or '-'}  {a.display_name}  {state}")


@app.command("disable")
def disable(login: str = typer.Argument(..., help="the login"), database_url: str = DB) -> None:
    """Disable an account: it cannot log in any more (tokens already issued expire within their lifetime)."""
    done = asyncio.run(
        with_repository(database_url, AccountRepository, lambda repo: repo.disable(login, datetime.now(UTC)))
    )
    if not done:
        _fail(f"no active account with the login {login!r} (see `tiendo user list`)")
    typer.echo(f"disabled {login.strip().lower()}")
