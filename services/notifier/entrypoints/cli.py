"""`tiendo notifier ...`: run the service, regenerate the sample emails."""

from __future__ import annotations

from pathlib import Path

import typer

from shared.settings import DEFAULT_PLAN, REPO_ROOT

app = typer.Typer(help="The notifier service: leaders' alert emails.", no_args_is_help=True)


@app.command()
def run() -> None:
    """Apply the notifier's migrations and serve (settings from the environment)."""
    from services.notifier.__main__ import main

    main()


@app.command("render-samples")
def render_samples(
    out: Path = typer.Option(REPO_ROOT / "docs" / "samples", help="output folder"),
    plan: Path = typer.Option(DEFAULT_PLAN, help="plan file"),
) -> None:
    """Render the sample digests (.eml and an HTML preview) from the plan with fixed data."""
    from services.notifier.adapters.plan_directory import load_directory
    from services.notifier.samples import write_samples
    from shared.plan import load_plan

    for path in write_samples(load_directory(plan), out, plan=load_plan(plan)):
        typer.echo(path)
