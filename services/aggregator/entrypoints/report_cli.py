"""`tiendo report export --period 2024-H1 --as-of 2024-06-14 --format xlsx|pdf`: the periodic
report from the aggregator's database, the same file `GET /v1/reports/periodic` answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(help="The periodic report sent upward: .xlsx or PDF.", no_args_is_help=True)


class FileFormat(StrEnum):
    xlsx = "xlsx"
    pdf = "pdf"


class Language(StrEnum):
    vi = "vi"
    en = "en"


@app.callback()
def _report() -> None:
    """The periodic report sent upward: .xlsx or PDF."""


@app.command()
def export(
    period: str = typer.Option(..., "--period", help="2024-06, 2024-Q2, 2024-H1 or 2024"),
    as_of: datetime | None = typer.Option(
        None,
        "--as-of",
        formats=["%Y-%m-%d"],
        help="the cut-off day (its end, Vietnam time): the events recorded by then; now when left out",
    ),
    fmt: FileFormat = typer.Option(FileFormat.xlsx, "--format", case_sensitive=False, help="xlsx or pdf"),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        help="the file to write; the report's own name, here, when left out",
    ),
    lang: Language = typer.Option(Language.vi, "--lang", case_sensitive=False, help="vi or en"),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="DATABASE_URL", help="the aggregator's postgresql+asyncpg://..."
    ),
    plan_file: Path | None = typer.Option(None, "--plan", envvar="TIENDO_PLAN_FILE", help="the plan file"),
) -> None:
    """Write the periodic report of a period as it stood at a cut-off day."""
    from rich.console import Console

    from services.aggregator.adapters.codecs import with_lean_codecs
    from services.aggregator.adapters.periodic_reports import load_periodic_report, render
    from services.aggregator.adapters.queries import Queries
    from services.aggregator.domain.kpi import end_of_day
    from services.aggregator.domain.periodic_report import report_period
    from shared.db import make_engine
    from shared.local_stack import NOT_FOUND, recorded
    from shared.plan.book import load_plans
    from shared.plan.index import Rejected
    from shared.settings import DEFAULT_PLAN

    plans = load_plans(plan_file or DEFAULT_PLAN)
    try:
        plan = plans.index_for(period=period)  # the plan of the period's year
        wanted = report_period(period, plan)
    except (ValueError, Rejected) as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    url = database_url or recorded("database_url")
    if not url:
        raise typer.BadParameter(
            f"set DATABASE_URL, pass --database-url or {NOT_FOUND}", param_hint="--database-url"
        )
    moment = end_of_day(as_of.date(), plan.tz) if as_of else datetime.now(UTC)
    console = Console(stderr=True)

    async def read():
        engine = with_lean_codecs(make_engine(url))
        try:
            return await load_periodic_report(Queries(engine, plans), plan, wanted, moment, lang.value)
        finally:
            await engine.dispose()

    with console.status(f"reading the figures of {wanted} as of {moment:%Y-%m-%d %H:%M %z}"):
        report = asyncio.run(read())
    with console.status(f"writing the {fmt.value} file"):
        body = render(report, fmt.value)
        target = output or Path(report.filename(fmt.value))
        target.write_bytes(body)
    console.print(
        f"{len(report.rows)} targets, {len(report.overdue)} reports late or missing: "
        f"wrote {target} ({len(body):,} bytes)"
    )
