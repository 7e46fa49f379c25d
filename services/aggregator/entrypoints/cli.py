"""`tiendo aggregator run | web | rebuild`."""

from __future__ import annotations

import asyncio

import typer

app = typer.Typer(help="The aggregator: KPI projections, status events, read API.", no_args_is_help=True)


@app.command()
def run() -> None:
    """Apply migrations, then serve the read API with the consumer, relay and deadline checks."""
    from services.aggregator.__main__ import main

    main()


@app.command()
def web() -> None:
    """Serve the read API and the people's pages only: no consumer, relay or KPI gauges (the
    replica people reach; `run` replicas keep the projections)."""
    from services.aggregator.__main__ import main

    main(background=False)


@app.command()
def rebuild(
    swap: bool = typer.Option(True, help="Swap the rebuilt tables in (--no-swap only compares)"),
) -> None:
    """Recompute every projection from the events topic's beginning into fresh tables, compare
    their checksum with the live projection, and swap them in."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.aggregator.adapters.codecs import with_lean_codecs
    from services.aggregator.adapters.rebuild import rebuild as run_rebuild
    from services.aggregator.settings import AggregatorSettings
    from shared.db import make_engine, upgrade_async
    from shared.local_stack import stack_environment
    from shared.plan.book import load_plans

    settings = AggregatorSettings(**stack_environment())  # the environment first, then the local stack
    console = Console()

    async def go():
        await upgrade_async("aggregator", settings.database_url)
        engine = with_lean_codecs(make_engine(settings.database_url))
        try:
            with Progress(
                TextColumn("replaying {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(settings.events_topic, total=None)
                return await run_rebuild(
                    engine,
                    settings.kafka_bootstrap_servers,
                    settings.events_topic,
                    load_plans(settings.plan_file),
                    settings.clock().now(),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    swap=swap,
                )
        finally:
            await engine.dispose()

    result = asyncio.run(go())
    console.print(
        f"{result.events} records in {result.seconds:.1f} s "
        f"({result.events / max(result.seconds, 1e-9):,.0f}/s)"
    )
    console.print(f"rebuilt checksum {result.rebuilt_checksum}")
    console.print(f"live checksum    {result.live_checksum}")
    console.print(
        "[green]equal to the live projection[/green]"
        if result.equal
        else "[yellow]differs from the live projection (events since, or a changed plan/clock)[/yellow]"
    )
    console.print("swapped in" if result.swapped else "not swapped (--no-swap)")
    if result.poison:
        shown = ", ".join(result.poison[:20]) + (
            f" and {len(result.poison) - 20} more" if len(result.poison) > 20 else ""
        )
        console.print(
            f"[yellow]{len(result.poison)} poison record(s) skipped (recorded as dead letters, "
            f"as the live consumer does): {shown}[/yellow]"
        )
    else:
        console.print("no poison records")
