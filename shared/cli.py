"""The `tiendo` command. Each area registers its sub-commands here, one typer app each."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tiendo: inter-agency progress reporting.", no_args_is_help=True)


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
        ("services.aggregator.entrypoints.cli", "aggregator"),
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


def main() -> None:
    _register()
    app()
