"""`tiendo plan check [FILE]`: validate a plan file and summarise it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from shared.plan.loader import PlanError, load_plan
from shared.plan.periods import MONTHS_PER

DEFAULT_PLAN = Path(__file__).resolve().parents[2] / "plans" / "quang-tri-2024.yaml"

app = typer.Typer(help="The plan file: check it before services read it.", no_args_is_help=True)


@app.callback()
def _plan() -> None:
    """The plan file: check it before services read it."""


def _shown(path: Path) -> str:
    # Relative paths read better in error lines and let editors jump to file:line.
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@app.command()
def check(
    file: Path = typer.Argument(
        DEFAULT_PLAN, envvar="TIENDO_PLAN_FILE", help="plan YAML (default: the shipped plan)"
    ),
) -> None:
    """Validate FILE; print a summary when valid, else every problem with its line (exit 1)."""
    console = Console(highlight=False)
    try:
        plan = load_plan(_shown(file))
    except PlanError as err:
        for issue in err.errors:
            console.print(f"[red]{escape(str(issue))}[/red]", soft_wrap=True)  # "[3]" is not markup
        console.print(f"[bold red]{len(err.errors)} problem(s) in {_shown(file)}[/bold red]")
        raise typer.Exit(code=1) from None
    kinds = Counter(u.kind for u in plan.units)
    target_kinds = Counter(t.kind for t in plan.targets)
    # coarse to fine: the year, its halves, quarters, then months
    periods = sorted(
        {t.as_period for t in plan.targets}, key=lambda p: (-MONTHS_PER[p.kind], p.year, p.index)
    )
    committee = plan.steering_committee()
    lines = [
        f"{plan.code} — {plan.title} ({plan.year}, cut-off day {plan.cutoff_day}, {plan.timezone})",
        f"units: {len(plan.units)} ({', '.join(f'{n} {k}' for k, n in kinds.items())})",
        f"agencies: {len(plan.agencies)} (steering committee {committee.code}),"
        f" reporting rules: {len(plan.reporting)}",
        f"indicators: {len(plan.indicators)}, activity types: {len(plan.activity_types)}",
        f"targets: {len(plan.targets)} ({', '.join(f'{n} {k}' for k, n in target_kinds.items())}),"
        f" {sum(t.sample for t in plan.targets)} with sample figures",
        f"periods: {', '.join(map(str, periods))}",
    ]
    console.print(f"[green]✓ {_shown(file)} is valid[/green]")
    for line in lines:
        console.print(f"[green]  {escape(line)}[/green]", soft_wrap=True)
