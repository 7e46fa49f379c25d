"""`tiendo plan check [FILE|FOLDER]`: validate a plan file, or every plan of a folder and how
their years fit together, and summarise each; `tiendo plan show`: the targets it makes, rule by
rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.labels import Lang
from shared.messages import words as catalogue_words
from shared.plan.amendments import Amendment
from shared.plan.book import load_plans
from shared.plan.diff import Change, amended_targets, shown
from shared.plan.diff import diff as plan_diff
from shared.plan.entries import Target
from shared.plan.loader import PlanError, load_plan
from shared.plan.model import Plan
from shared.plan.periods import MONTHS_PER

DEFAULT_PLAN = Path(__file__).resolve().parents[2] / "plans" / "quang-tri-2024.yaml"

T = TypeVar("T")

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


_FILE = typer.Argument(
    DEFAULT_PLAN, envvar="TIENDO_PLAN_FILE", help="plan YAML, or a folder of them (default: the shipped plan)"
)


def _load(console: Console, file: Path, load: Callable[[str], T]) -> T:
    """`load(file)`, or every problem it finds printed with its line, and exit 1."""
    try:
        return load(_shown(file))
    except PlanError as err:
        for issue in err.errors:
            console.print(f"[red]{escape(str(issue))}[/red]", soft_wrap=True)  # "[3]" is not markup
        console.print(f"[bold red]{len(err.errors)} problem(s) in {_shown(file)}[/bold red]")
        raise typer.Exit(code=1) from None


def _one_plan(console: Console, file: Path, year: int | None) -> Plan:
    """The plan of a file, or of a folder the one for `year` (the newest when not given)."""
    if not file.is_dir():
        if year is not None:
            raise typer.BadParameter("a year chooses among the plans of a folder", param_hint="--year")
        return _load(console, file, load_plan)
    plans = {f.plan.year: f.plan for f in _load(console, file, load_plans).files}
    if year is None:
        return plans[max(plans)]
    if year not in plans:
        known = ", ".join(str(y) for y in sorted(plans))
        raise typer.BadParameter(
            f"no plan for {year} in {_shown(file)} (its years: {known})", param_hint="--year"
        )
    return plans[year]


@app.command()
def check(file: Path = _FILE) -> None:
    """Validate FILE, or every plan of a FOLDER (one per reporting year, windows apart); print a
    summary of each when valid, else every problem with its line (exit 1)."""
    console = Console(highlight=False)
    book = _load(console, file, load_plans)
    for f in book.files:
        console.print(f"[green]✓ {escape(f.path)} is valid[/green]", soft_wrap=True)
        for line in _summary(f.plan):
            console.print(f"[green]  {escape(line)}[/green]", soft_wrap=True)
    if file.is_dir():
        windows = ", ".join(f"{f.plan.year}: {f.window[0]}..{f.window[1]}" for f in book.files)
        console.print(
            f"[green]✓ {len(book)} plan(s), one per reporting year ({escape(windows)})[/green]",
            soft_wrap=True,
        )


def _summary(plan: Plan) -> list[str]:
    kinds = Counter(u.kind for u in plan.units)
    target_kinds = Counter(t.kind for t in plan.targets)
    # coarse to fine: the year, its halves, quarters, then months
    periods = sorted(
        {t.as_period for t in plan.targets}, key=lambda p: (-MONTHS_PER[p.kind], p.year, p.index)
    )
    committee = plan.steering_committee()
    return [
        f"{plan.code} — {plan.title} ({plan.year}, cut-off day {plan.cutoff_day}, {plan.timezone})",
        f"units: {len(plan.units)} ({', '.join(f'{n} {k}' for k, n in kinds.items())})",
        f"agencies: {len(plan.agencies)} (steering committee {committee.code}),"
        f" reporting rules: {len(plan.reporting)}",
        f"indicators: {len(plan.indicators)}, activity types: {len(plan.activity_types)}",
        f"targets: {len(plan.targets)} ({', '.join(f'{n} {k}' for k, n in target_kinds.items())}),"
        f" {sum(t.sample for t in plan.targets)} with sample figures,"
        f" {sum(t.rule is not None for t in plan.targets)} made by {len(plan.target_rules)} target rule(s)",
        f"periods: {', '.join(map(str, periods))}",
    ]


_COLUMNS = ("rule", "agency", "indicator", "period", "target", "notes")


def _language(lang: str) -> Lang:
    if lang not in ("vi", "en"):
        raise typer.BadParameter("vi or en", param_hint="--lang")
    return "vi" if lang == "vi" else "en"


@app.command()
def show(
    file: Path = _FILE,
    agency: str | None = typer.Option(None, "--agency", help="only this agency's targets"),
    rule: str | None = typer.Option(None, "--rule", help="only what this target rule makes"),
    lang: str = typer.Option("vi", "--lang", help="vi or en"),
    year: int | None = typer.Option(
        None, "--year", help="of a folder: this year's plan (default: the newest)"
    ),
) -> None:
    """Print the plan's targets as the services see them: what each target rule expands to, its
    per-agency figures, and the explicit rows (with --rule: also the rule's targets they replace)."""
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: one target a line reads better than wrapped cells
        console = Console(highlight=False, width=max(console.width, 180))
    plan = _one_plan(console, file, year)
    language = _language(lang)
    words = catalogue_words("plan_cli", language)
    codes = {a.code for a in plan.agencies}
    if agency is not None and agency not in codes:
        raise typer.BadParameter(f"unknown agency {agency!r}", param_hint="--agency")
    chosen = None if rule is None else plan.target_rule(rule)
    if rule is not None and chosen is None:
        known = ", ".join(r.id for r in plan.target_rules) or "none"
        raise typer.BadParameter(f"unknown target rule {rule!r} (the plan's: {known})", param_hint="--rule")
    rows = [t for t in plan.targets if agency in (None, t.agency) and rule in (None, t.rule)]
    replaced = (
        [] if rule is None else [(t, r) for t, r in plan.replaced_by_rows(rule) if agency in (None, t.agency)]
    )
    title = f"{plan.code} — {words['show.title'].format(n=len(rows))}"
    if chosen is not None:
        title += f" — {chosen.id}: {chosen.note or ''}".rstrip(": ")
    table = Table(*(words[f"show.col.{c}"] for c in _COLUMNS), title=title)
    for t in rows:
        table.add_row(*_row(plan, t, words, language), _source(plan, t, words))
    for t, row in replaced:
        cells = [f"[dim]{escape(c)}[/dim]" for c in _row(plan, t, words, language)]
        table.add_row(*cells, f"[dim]{escape(words['show.replaced'].format(row=row))}[/dim]")
    console.print(table)
    for line in _rename_lines(plan, plan.amendments, words, language, agency):
        console.print(escape(line), soft_wrap=True)


@app.command()
def diff(
    old: Path = typer.Argument(..., help="the plan as it stands"),
    new: Path = typer.Argument(..., help="the amended plan"),
    lang: str = typer.Option("vi", "--lang", help="vi or en"),
) -> None:
    """Show what NEW changes from OLD: targets as the services see them (rules expanded), then
    units, agencies, indicators, reporting rules and the plan's settings, field by field."""
    console = Console(highlight=False)
    language = _language(lang)
    words = catalogue_words("plan_cli", language)
    before, after = _load(console, old, load_plan), _load(console, new, load_plan)
    changes = plan_diff(before, after)
    for change in changes:
        colour = {"added": "green", "removed": "red", "changed": "yellow"}[change.kind]
        lines = [f"{words['diff.' + change.kind]}: {change.section} {change.name}"]
        if change.section == "targets":
            lines = _target_lines(change, before, after, words, language, lines[0])
        elif change.section == "amendments" and change.kind != "removed":
            lines = _amendment_lines(change, after, words, language, lines[0])
        lines += [f"    {name}: {shown(was)} → {shown(now)}" for name, was, now in change.fields]
        console.print(f"[{colour}]{escape(lines[0])}[/{colour}]", soft_wrap=True)
        for line in lines[1:]:
            console.print(escape(line), soft_wrap=True)
    console.print(words["diff.total"].format(n=len(changes)) if changes else words["diff.none"])


def _target_lines(
    change: Change, before: Plan, after: Plan, words: dict[str, str], language: Lang, head: str
) -> list[str]:
    """A target's change in the leader's words: its agency, indicator and period by name, the rule
    that makes it, and for a changed one the figure to reach before and after."""
    shown_in = before if change.kind == "removed" else after
    target = shown_in.target(*change.key)
    if target is None:
        return [head]
    names = ", ".join(_row(shown_in, target, words, language)[1:4])
    head += f" — {names}" + (f" ({words['diff.rule']} {target.rule})" if target.rule else "")
    if change.kind != "changed":
        return [head]
    figures = [_row(p, t, words, language)[4] for p in (before, after) if (t := p.target(*change.key))]
    return [head, f"    {words['diff.figure']}: {' → '.join(figures)}"]


def _amendment_lines(
    change: Change, after: Plan, words: dict[str, str], language: Lang, head: str
) -> list[str]:
    """An amendment with the day it takes effect, its reason and every target it changes."""
    amendment = after.amendment(change.key[0])
    if amendment is None:
        return [head]
    head += " — " + words["diff.effective"].format(
        day=amendment.effective.strftime("%d/%m/%Y"), reason=amendment.reason
    )
    lines = [head, *(f"    {line}" for line in _rename_lines(after, [amendment], words, language))]
    for was, now in amended_targets(after, amendment.id):
        names = ", ".join(_row(after, now, words, language)[1:4])
        figures = ("" if was is None else f"{_row(after, was, words, language)[4]} → ") + _row(
            after, now, words, language
        )[4]
        lines.append(f"    {names}: {figures}")
    return lines


def _rename_lines(
    plan: Plan, amendments: list[Amendment], words: dict[str, str], lang: Lang, agency: str | None = None
) -> list[str]:
    """Each rename of the amendments (with `agency`, of it and its unit only): the name before,
    the name after, from which day."""
    lines = []
    for a in amendments:
        before = a.effective - timedelta(days=1)
        for r in a.renames:
            if agency is not None and agency != r.agency and plan.agency(agency).unit != r.unit:
                continue
            if r.agency is not None:
                entry = plan.agency(r.agency)
                old, new = entry.display_name(lang, before), entry.display_name(lang, a.effective)
            else:
                unit = plan.unit(str(r.unit))
                old, new = unit.name_on(before), unit.name_on(a.effective)
            day = a.effective.strftime("%d/%m/%Y")
            lines.append(words["rename"].format(old=old, new=new, day=day, amendment=a.id))
    return lines


def _percent(factor: float, lang: Lang) -> str:
    """52.5 % stays 52.5 % (not 52 %), written with the language's decimal mark."""
    text = f"{round(factor * 100, 2):g}%"
    return text.replace(".", ",") if lang == "vi" else text


def _row(plan: Plan, t: Target, words: dict[str, str], lang: Lang) -> list[str]:
    """Rule, agency, indicator, period, the figure to reach, in the leader's words."""
    indicator = plan.indicator(t.indicator)
    unit = indicator.unit_label(lang)
    factor = _percent(t.factor or 0, lang)
    if t.kind == "baseline_relative" and t.recorded_baseline:
        figure = words["show.recorded"].format(factor=factor, year=t.baseline_year)
    elif t.kind == "baseline_relative":
        goal = indicator.whole(t.target_value() or 0)
        figure = f"≥ {factor} × {t.baseline_value:g} ({t.baseline_year}) = {goal:g} {unit}"
    elif t.kind == "ratio":
        denominator = plan.indicator(t.denominator or "").display_name(lang)
        figure = words["show.ratio"].format(factor=factor, denominator=denominator.lower())
    else:
        figure = f"≥ {t.value:g} {unit}"
        if t.due is not None:
            figure += " " + words["show.due"].format(day=f"{t.due:%d/%m/%Y}")
    rule = t.rule or f"— ({words['show.own_row']})"
    return [
        rule,
        plan.agency(t.agency).display_name(lang),
        indicator.display_name(lang),
        t.as_period.label(lang),
        figure,
    ]


def _source(plan: Plan, t: Target, words: dict[str, str]) -> str:
    """Whether the figure is a sample, and whether the agency has figures of its own in the rule."""
    sample = words["show.sample"] if t.sample else ""
    rule = plan.target_rule(t.rule) if t.rule else None
    if rule is not None and ({t.agency, plan.agency(t.agency).unit} & set(rule.per_agency)):
        sample = ", ".join(x for x in (sample, words["show.own_figures"]) if x)
    return sample
