"""`tiendo alerts list|ack|silence|silences|unsilence`: operators' commands against the database."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime

import typer

app = typer.Typer(help="Leaders' alerts: list, acknowledge, silence.", no_args_is_help=True)
DB = typer.Option(..., envvar="DATABASE_URL", help="postgresql+asyncpg://... (env DATABASE_URL)")


def _now() -> datetime:
    """The configured clock (TIENDO_NOW pins it, as for the services)."""
    from shared.clock import clock_from_config

    pinned = os.environ.get("TIENDO_NOW")
    return clock_from_config(datetime.fromisoformat(pinned) if pinned else None).now()


async def _with_engine(database_url: str, work):
    from shared.db import make_engine

    engine = make_engine(database_url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _dump(rows: list[dict]) -> None:
    typer.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=2))


@app.command("list")
def list_(
    database_url: str = DB,
    state: str = typer.Option(None, help="firing | resolved"),
    agency: str = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Alerts, newest first."""
    from services.notifier.adapters import repository as repo
    from services.notifier.entrypoints.api import alert_json

    async def work(engine):
        async with engine.connect() as conn:
            return [alert_json(a) for a in await repo.list_alerts(conn, state, agency)]

    rows = asyncio.run(_with_engine(database_url, work))
    if as_json:
        return _dump(rows)
    for r in rows:
        acked = f"acked by {r['acked_by']}" if r["acked_by"] else "not acked"
        typer.echo(
            f"{r['id']:>6}  {r['state']:<8} {r['severity']:<8} {r['kind']:<22} {r['agency']:<16} "
            f"{r['indicator'] or '-':<26} {r['period']:<8} {acked}"
        )


@app.command()
def ack(alert_id: int, by: str = typer.Option(..., help="who acknowledges"), database_url: str = DB) -> None:
    """Acknowledge an alert: stops its escalation (the alert stays on record)."""
    from services.notifier.adapters.repository import SqlAlertStore
    from services.notifier.service_layer import operations

    async def work(engine):
        async with engine.begin() as conn:
            return await operations.acknowledge(SqlAlertStore(conn), alert_id, by, _now())

    alert = asyncio.run(_with_engine(database_url, work))
    if alert is None:
        typer.echo(f"no alert {alert_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"alert {alert_id} acknowledged by {alert.acked_by} at {alert.acked_at.isoformat()}")


@app.command()
def silence(
    reason: str = typer.Option(...),
    by: str = typer.Option(..., help="who silences"),
    agency: str = typer.Option(None),
    indicator: str = typer.Option(None),
    period: str = typer.Option(None),
    hours: float = typer.Option(24.0, help="duration"),
    database_url: str = DB,
) -> None:
    """Silence alerts by agency/indicator/period for a while, with a reason (shown in digest footers)."""
    from services.notifier.domain.silences import InvalidSilence
    from services.notifier.service_layer import operations

    async def work(engine):
        return await operations.silence(
            engine,
            agency=agency,
            indicator=indicator,
            period=period,
            reason=reason,
            created_by=by,
            now=_now(),
            hours=hours,
        )

    try:
        created = asyncio.run(_with_engine(database_url, work))
    except (InvalidSilence, ValueError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"silence {created.id} until {created.ends_at.isoformat()}")


@app.command()
def silences(database_url: str = DB) -> None:
    """Silences not yet over."""
    from services.notifier.adapters import repository as repo
    from services.notifier.entrypoints.api import silence_json

    async def work(engine):
        async with engine.connect() as conn:
            return [silence_json(s) for s in await repo.list_silences(conn, _now())]

    _dump(asyncio.run(_with_engine(database_url, work)))


@app.command()
def unsilence(silence_id: int, database_url: str = DB) -> None:
    """End a silence now."""
    from services.notifier.service_layer import operations

    if not asyncio.run(_with_engine(database_url, lambda e: operations.lift_silence(e, silence_id, _now()))):
        typer.echo(f"no active silence {silence_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"silence {silence_id} ended")
