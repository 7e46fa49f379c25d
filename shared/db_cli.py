"""`tiendo db upgrade`: apply every service's migrations."""

from __future__ import annotations

import typer

from shared.db import SERVICES, upgrade
from shared.local_stack import NOT_FOUND, recorded

app = typer.Typer(help="Database schema (Alembic migrations, one tree per service).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    service: str = typer.Argument("all", help="intake, aggregator, notifier or all"),
    database_url: str | None = typer.Option(None, envvar="DATABASE_URL", help="postgresql+asyncpg://..."),
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


@app.command("provision")
def provision_command(
    database_url: str = typer.Option(
        None,
        envvar="DATABASE_URL",
        help="the superuser's postgresql+asyncpg://... (password: DATABASE_PASSWORD_FILE)",
    ),
) -> None:
    """As the superuser: each service's role (no superuser; password from <SERVICE>_DATABASE_PASSWORD_FILE),
    its schema owned by it; then each service's migrations, run by its own role."""
    import asyncio
    import os
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from shared.db import connect_args
    from shared.infra.postgres import provision_database, provision_roles, with_role

    if not database_url:
        raise typer.BadParameter("set DATABASE_URL (the superuser's)", param_hint="--database-url")
    admin = connect_args(database_url)  # the superuser's password from its file; TLS from the environment
    admin_url = make_url(database_url).set(password=admin.get("password") or make_url(database_url).password)
    admin_url_text = admin_url.render_as_string(hide_password=False)
    passwords = {}
    for name in SERVICES:
        variable = f"{name.upper()}_DATABASE_PASSWORD_FILE"
        if not os.environ.get(variable):
            raise typer.BadParameter(f"set {variable} (the file holding the {name} role's password)")
        passwords[name] = Path(os.environ[variable]).read_text(encoding="utf-8").strip()
    asyncio.run(provision_roles(admin_url_text, passwords))
    asyncio.run(provision_database(admin_url_text))
    for name in SERVICES:
        typer.echo(f"migrating {name} as its own role ...")
        upgrade(name, with_role(admin_url_text, name, passwords[name]))
    typer.echo("roles provisioned; database is at head")
