"""`tiendo db upgrade`: apply every service's migrations."""

from __future__ import annotations

import typer

from shared.db import SERVICES, upgrade
from shared.local_stack import NOT_FOUND, recorded

app = typer.Typer(help="Database schema (Alembic migrations, one tree per service).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    service: str = typer.Argument("all", help="intake, aggregator, notifier or all"),
    database_url: str = typer.Option(None, envvar="DATABASE_URL", help="postgresql+asyncpg://..."),
) -> None:
    """Apply migrations up to head."""
    database_url = database_url or recorded("database_url")
    if not database_url:
        raise typer.BadParameter(
            f"set DATABASE_URL, pass --database-url or {NOT_FOUND}", param_hint="--database-url"
        )
    for name in SERVICES if service == "all" else (service,):
        typer.echo(f"migrating {name} ...")
        upgrade(name, database_url)
    typer.echo("database is at head")
