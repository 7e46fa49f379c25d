"""The `tiendo` command. Each area registers its sub-commands here, one typer app each.

Ordinary mistakes (a database that does not answer, a `postgresql://` URL, a missing setting, a
plan file that cannot be read, ...) end in one line saying what is wrong and how to fix it, never
a traceback (`TIENDO_DEBUG=1` shows one); see `explain`.
"""

from __future__ import annotations

import os
import socket
import sys

import typer

app = typer.Typer(
    help="Tiendo: inter-agency progress reporting.", no_args_is_help=True, pretty_exceptions_enable=False
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"tiendo {version('tiendo')}")
        except PackageNotFoundError:
            typer.echo("tiendo (not installed: run from a source tree)")
        raise typer.Exit()


@app.callback()
def _root(
    _: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Tiendo: inter-agency progress reporting."""


def _register() -> None:
    # Imported lazily so `tiendo --help` stays fast and one broken area cannot hide the others.
    import importlib

    for module, name in [
        ("shared.plan.cli", "plan"),
        ("shared.db_cli", "db"),
        ("shared.stack_cli", "stack"),
        ("shared.dlq_cli", "dlq"),
        ("services.intake.entrypoints.cli", "agency"),
        ("services.intake.entrypoints.cli_service", "intake"),
        ("services.intake.entrypoints.user_cli", "user"),
        ("services.intake.entrypoints.auth_cli", "auth"),
        ("services.aggregator.entrypoints.cli", "aggregator"),
        ("services.aggregator.entrypoints.report_cli", "report"),
        ("services.notifier.entrypoints.cli", "notifier"),
        ("services.notifier.entrypoints.cli_alerts", "alerts"),
    ]:
        try:
            sub = importlib.import_module(module).app
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that area has no commands yet
            raise
        app.add_typer(sub, name=name)


_DB_HINT = "check DATABASE_URL (or --database-url); `tiendo stack status` shows the local stack's database"


def explain(exc: BaseException) -> str | None:
    """One line for an ordinary mistake, or None for a fault of Tiendo's (then a traceback helps)."""
    from pydantic import ValidationError

    from shared.plan.loader import PlanError

    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in ("psycopg", "psycopg2"):
        return (
            "the database URL names a driver Tiendo does not use: write it postgresql+asyncpg://user:password"
            "@host:port/database (not postgresql://)"
        )
    if isinstance(exc, socket.gaierror):
        return f"the database (or broker) host is unknown ({exc.strerror}); {_DB_HINT}"
    if isinstance(exc, (ConnectionRefusedError, TimeoutError)) or type(exc).__name__ in (
        "CannotConnectNowError",
        "InvalidPasswordError",
        "InvalidCatalogNameError",
        "InvalidAuthorizationSpecificationError",
    ):
        return f"PostgreSQL does not answer or refuses the connection ({exc}); {_DB_HINT}"
    if isinstance(exc, ValidationError):
        missing = [str(e["loc"][0]).upper() for e in exc.errors() if e["type"] == "missing" and e["loc"]]
        if missing:
            return f"set {', '.join(missing)} in the environment (the running local stack's values: `tiendo stack status`)"
        first = exc.errors()[0]
        return f"setting {'.'.join(map(str, first['loc'])).upper()}: {first['msg']}"
    if isinstance(exc, PlanError):
        return f"{exc} (TIENDO_PLAN_FILE or --plan names the plan file)"
    if type(exc).__name__ in ("InfraError", "StackRefused"):
        return str(exc).splitlines()[0]
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return None


def main() -> None:
    _register()
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        if callable(getattr(exc, "format_message", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            # a usage error or bad parameter (typer's own click): its message, on one line
            ctx = getattr(exc, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            message, exit_code = exc.format_message(), exc.exit_code  # type: ignore[attr-defined]
            typer.echo(f"tiendo: {' '.join(message.split())}{where}", err=True)
            sys.exit(exit_code)
        line = explain(exc) or explain(exc.__cause__ or exc.__context__ or exc)
        if line is None or os.environ.get("TIENDO_DEBUG"):
            raise
        typer.echo(f"tiendo: {line}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
