"""`tiendo stack up|status|down`."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from shared.local_stack import STATE_DIR
from shared.stack import StackPaths, down, status, up

app = typer.Typer(
    help="The local stack: Kafka, PostgreSQL, SMTP and the three services.", no_args_is_help=True
)
console = Console()


def print_urls(state: dict) -> None:
    table = Table(title="Tiendo stack", show_lines=False)
    table.add_column("component")
    table.add_column("where")
    table.add_column("log")
    for name, c in state["components"].items():
        where = c.get("url") or c.get("bootstrap") or c.get("url") or f"{c.get('host')}:{c.get('port')}"
        if name == "postgres":
            where = c["url"]
        table.add_row(name, where, c.get("log", ""))
    console.print(table)
    for name in ("intake", "aggregator", "notifier"):
        if name in state["components"]:
            c = state["components"][name]
            console.print(f"  {name}: API docs {c['docs']}  metrics {c['metrics']}")
    console.print(f"  mailbox (every email as .eml): {state['mailbox']}")


@app.command("up")
def up_command(
    now: str = typer.Option(None, envvar="TIENDO_NOW", help="pin the clock, e.g. 2024-06-20T08:00:00+07:00"),
    clock_speed: float = typer.Option(
        1.0, envvar="TIENDO_CLOCK_SPEED", help="how fast the pinned clock runs"
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="discard the previous run's Kafka log, database and mailbox"
    ),
    brokers: int = typer.Option(
        1,
        "--brokers",
        min=1,
        help="Kafka nodes: 1, or 3 for a replicated cluster (replication 3, min.insync.replicas=2)",
    ),
) -> None:
    """Start everything in the background and print where it is."""
    paths = StackPaths(STATE_DIR)
    with console.status("starting the stack ...") as spinner:
        state = up(
            paths,
            lambda msg: (spinner.update(msg), console.log(msg)),
            now=now,
            clock_speed=clock_speed,
            fresh=fresh,
            brokers=brokers,
        )
    print_urls(state)
    console.print(f"recorded in {paths.state}; stop with `tiendo stack down`")


@app.command("status")
def status_command(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show what runs and whether it answers."""
    rows = status(StackPaths(STATE_DIR))
    if as_json:
        typer.echo(json.dumps([dict(zip(("component", "state", "where"), r)) for r in rows], indent=2))
        return
    if not rows:
        console.print("no stack is running")
        raise typer.Exit(1)
    table = Table("component", "state", "where")
    for name, state, where in rows:
        colour = "green" if state in ("ready", "running") else "red"
        table.add_row(name, f"[{colour}]{state}[/]", where)
    console.print(table)


@app.command("down")
def down_command() -> None:
    """Stop every process of the stack cleanly."""
    down(StackPaths(STATE_DIR), console.log)
