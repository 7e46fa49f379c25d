"""`tiendo intake serve`: run the intake service (migrations first)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The intake service (HTTP + Kafka raw-topic forwarder).", no_args_is_help=True)


@app.command("serve")
def serve() -> None:
    """Apply intake's migrations, then serve on INTAKE_HTTP_PORT (env: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, ...)."""
    from services.intake.__main__ import main

    main()


@app.command("openapi")
def openapi(
    path: str = typer.Argument(None, help="where to write (default docs/openapi-intake.json)"),
) -> None:
    """Write the OpenAPI document."""
    from pathlib import Path

    from services.intake.entrypoints import openapi_docs

    target = Path(path) if path else openapi_docs.DOC_PATH
    target.write_text(openapi_docs.render(openapi_docs._app_for_docs()), encoding="utf-8")
    typer.echo(target)
