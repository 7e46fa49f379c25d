"""`make demo`: the whole pipeline on local infrastructure, with visible results.

Brings the stack up with the clock pinned to 20 June 2024 (the morning after the June cut-off),
issues agency tokens, replays the first half of 2024's reporting through intake's HTTP API —
most agencies on time, one lagging, one late, one missing its report, plus a duplicate and a
malformed event — then prints the KPI statuses and the leaders' emails, and ends with the
board's address and two logins made for this run (the committee's secretariat and the laggard's
leader; passwords generated and printed once). The pages work until Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
import os
import secrets
import signal
import sys
import time
from collections import Counter
from datetime import datetime

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from services.intake.adapters.accounts import create_accounts
from services.intake.adapters.tokens import issue_tokens
from shared.auth import Role
from shared.labels import kpi_status_label, period_label, report_status_label
from shared.local_stack import STATE_DIR
from shared.plan.loader import load_plan
from shared.plan.periods import Period
from shared.settings import DEFAULT_PLAN
from shared.simulation import Behaviour, Simulation
from shared.stack import StackPaths, down, up
from shared.stack_cli import print_urls

NOW = "2024-06-20T08:00:00+07:00"
LAGGARD = "CA-HUONG-HOA"
BEHAVIOURS = {
    LAGGARD: Behaviour(pace=0.5),  # lagging on drug-crime detections
    "UBND-DAKRONG": Behaviour(pace=0.4, skips_latest_report=True),  # June report never comes
    "CA-DAKRONG": Behaviour(late_days=2),  # June report two days past the deadline
}
# The demo's "day" passes quickly; digests go out within a minute instead of the next morning.
DEMO_ENV = {
    "NOTIFIER_GROUP_WAIT": "PT20S",
    "NOTIFIER_GROUP_INTERVAL": "PT2M",
    "NOTIFIER_REPEAT_INTERVAL": "PT1H",
    "NOTIFIER_CRITICAL_INTERVAL": "PT1M",
    "AGGREGATOR_DEADLINE_CHECK_SECONDS": "2",
}
BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"
STATUS_COLOURS = {
    "achieved": "green",
    "on_track": "green",
    "at_risk": "yellow",
    "lagging": "red",
    "missed": "red",
    "no_data": "yellow",
    "submitted": "green",
    "late": "yellow",
    "missing": "red",
    "pending": "dim",
}
STATUS_ORDER = ["missed", "lagging", "at_risk", "no_data", "on_track", "achieved"]
# The people who log in to the pages during the demo: (login, name, role, agency).
PEOPLE = [
    ("bcd138.thuky", "Thư ký Ban Chỉ đạo 138 (tài khoản thử)", Role.COMMITTEE, None),
    ("cahuonghoa.lanhdao", "Lãnh đạo Công an huyện Hướng Hóa (tài khoản thử)", Role.LEADER, LAGGARD),
]
# Wide enough for the tables when the output is a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 140)


def main() -> int:
    paths = StackPaths(STATE_DIR)
    plan = load_plan(DEFAULT_PLAN)
    interrupted = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with console.status("bringing the stack up ...") as spinner:
            state = up(
                paths, lambda m: (spinner.update(m), console.log(m)), now=NOW, extra_env=DEMO_ENV, fresh=True
            )
        print_urls(state)
        intake = state["components"]["intake"]["url"]
        aggregator = state["components"]["aggregator"]["url"]
        tokens = asyncio.run(
            issue_tokens(
                state["database_url"],
                [a.code for a in plan.agencies if plan.reporting_rule(a.code)],
                datetime.fromisoformat(NOW),
            )
        )
        passwords = _create_people(state["database_url"])
        reader = _bearer(intake, *passwords[0])  # the demo reads the API as the committee's secretariat
        events = Simulation(plan, BEHAVIOURS).events(datetime.fromisoformat(NOW))
        _replay(intake, tokens, events)
        _show_mistakes(intake, tokens, events)
        _await_projection(
            aggregator,
            {t.agency for t in plan.targets} & {e["source"].rsplit("/", 1)[1] for e in events},
            reader,
        )
        _print_kpis(aggregator, plan, reader)
        _print_reports(aggregator, plan, reader)
        _print_emails(paths, expected=2)
        _print_board(aggregator, plan, passwords)
        if sys.stdin.isatty() and not os.environ.get("CI"):
            console.print(
                "\n[bold]The stack keeps running[/] (URLs above, the board with the logins just above). "
                "Press Ctrl-C to stop everything."
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        console.print("\nstopping the stack ...")
        down(paths, console.log)
    return 130 if interrupted and not sys.stdin.isatty() else 0


def _create_people(database_url: str) -> list[tuple[str, str]]:
    """The demo's accounts (`tiendo user create` makes others): (login, password) for each of PEOPLE."""
    passwords = [(login, secrets.token_urlsafe(12)) for login, *_ in PEOPLE]
    accounts = [
        (login, name, role, agency, password)
        for (login, name, role, agency), (_, password) in zip(PEOPLE, passwords)
    ]
    asyncio.run(create_accounts(database_url, accounts, datetime.fromisoformat(NOW)))
    return passwords


def _bearer(intake: str, login: str, password: str) -> dict[str, str]:
    """A person's bearer token from intake's token endpoint (OAuth 2.0 password grant)."""
    response = httpx.post(
        f"{intake}/v1/auth/token",
        data={"grant_type": "password", "username": login, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _print_board(aggregator: str, plan, passwords: list[tuple[str, str]]) -> None:
    """Last, so it stays on screen: where the pages are and who may log in (plain lines, never cut)."""
    console.print(
        f"\n[bold]The board:[/] {aggregator}/board  (log in with one of these; a leader lands on their agency's page)",
        soft_wrap=True,
    )
    for (login, password), (_, name, role, agency) in zip(passwords, PEOPLE):
        sees = f"{plan.agency(agency).name_vi} and the agencies below it" if agency else "every agency"
        console.print(
            f"  login [bold]{login}[/]  password [bold]{escape(password)}[/]  — {name}: {role}, {sees}",
            soft_wrap=True,
        )
    console.print("  (the passwords are shown only now; `tiendo user create` makes other accounts)")


def _replay(intake: str, tokens: dict[str, str], events: list[dict]) -> None:
    """Each agency posts its stream in batches, as an agency system would."""
    by_agency: dict[str, list[dict]] = {}
    for event in events:
        by_agency.setdefault(event["source"].rsplit("/", 1)[1], []).append(event)
    outcomes: dict[str, int] = {}
    with Progress(console=console) as progress, httpx.Client(timeout=30) as client:
        task = progress.add_task("agencies reporting Jan–Jun 2024 through intake", total=len(events))
        for agency, stream in sorted(by_agency.items()):
            for start in range(0, len(stream), 100):
                chunk = stream[start : start + 100]
                response = client.post(
                    f"{intake}/v1/events/batch",
                    json=chunk,
                    headers={"Authorization": f"Bearer {tokens[agency]}", "Content-Type": BATCH},
                )
                response.raise_for_status()
                for result in response.json()["results"]:
                    outcomes[result["status"]] = outcomes.get(result["status"], 0) + 1
                progress.advance(task, len(chunk))
    console.print(f"intake answered: {outcomes}")


def _show_mistakes(intake: str, tokens: dict[str, str], events: list[dict]) -> None:
    """A re-sent event is a duplicate, not an error; a malformed one gets a specific problem."""
    event = events[0]
    agency = event["source"].rsplit("/", 1)[1]
    headers = {"Authorization": f"Bearer {tokens[agency]}", "Content-Type": STRUCTURED}
    again = httpx.post(f"{intake}/v1/events", json=event, headers=headers, timeout=30)
    console.print(f"re-sent event {event['id']!r}: HTTP {again.status_code} {again.json().get('status', '')}")
    broken = {**event, "id": "demo-malformed-1", "data": {**event["data"], "value": -5, "period": "2024-13"}}
    bad = httpx.post(f"{intake}/v1/events", json=broken, headers=headers, timeout=30)
    problem = bad.json()
    console.print(
        f"malformed event: HTTP {bad.status_code} [bold]{problem.get('title')}[/] — {problem.get('detail')}"
    )
    for error in problem.get("errors", []):
        console.print(
            f"   {error.get('pointer') or error.get('path')}: {error.get('detail') or error.get('message')}"
        )


def _await_projection(
    aggregator: str, expected_agencies: set[str], reader: dict[str, str], timeout: float = 90
) -> None:
    """Until every agency with a target shows up and the projection stops changing."""
    with console.status("waiting for the aggregator to project every agency ..."):
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            items = httpx.get(f"{aggregator}/v1/kpis", headers=reader, timeout=10).json()["items"]
            snapshot = sorted((i["agency"], i["indicator"], i["period"], i["actual"]) for i in items)
            if {i["agency"] for i in items} >= expected_agencies and snapshot == last:
                return
            last = snapshot
            time.sleep(1.5)
    console.print("[yellow]the projection was still changing after 90 s; showing it as it stands[/]")


def _print_kpis(aggregator: str, plan, reader: dict[str, str]) -> None:
    """A status summary, then the KPIs a leader should look at: missed, lagging, at risk, without data."""
    now = datetime.fromisoformat(NOW)
    items = [
        k
        for k in httpx.get(f"{aggregator}/v1/kpis", headers=reader, timeout=10).json()["items"]
        if Period.parse(k["period"]).window(plan.cutoff_day)[0] <= now.date()
    ]  # begun periods only
    counts = Counter(k["status"] for k in items)
    console.print(
        "KPI statuses (agency × indicator × period, periods begun by now): "
        + ", ".join(
            f"[{STATUS_COLOURS[s]}]{kpi_status_label(s)}[/] {counts[s]}" for s in STATUS_ORDER if counts[s]
        )
    )
    table = Table(title=f"Behind plan as of {now:%d/%m/%Y %H:%M} (Plan {plan.code}: {plan.title})")
    table.add_column("agency", no_wrap=True)
    table.add_column("indicator", max_width=34, overflow="ellipsis", no_wrap=True)
    table.add_column("period", no_wrap=True)
    for column in ("actual", "expected", "target", "forecast"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for k in sorted(items, key=lambda i: (STATUS_ORDER.index(i["status"]), i["agency"], i["indicator"])):
        if k["status"] not in ("missed", "lagging", "at_risk", "no_data"):
            continue
        whole = plan.indicator(k["indicator"]).kind == "count"  # cases, sessions: whole numbers
        table.add_row(
            k["agency"],
            plan.indicator(k["indicator"]).name_vi,
            period_label(k["period"]),
            *(_num(k[f], whole) for f in ("actual", "expected", "target", "forecast")),
            f"[{STATUS_COLOURS[k['status']]}]{kpi_status_label(k['status'])}[/]",
        )
    console.print(table)


def _print_reports(aggregator: str, plan, reader: dict[str, str]) -> None:
    table = Table(title="Periodic reports that are late or missing")
    for column in ("agency", "period", "deadline", "submitted at", "status"):
        table.add_column(column, no_wrap=True)
    for agency in sorted(a.code for a in plan.agencies if plan.reporting_rule(a.code)):
        card = httpx.get(f"{aggregator}/v1/agencies/{agency}/scorecard", headers=reader, timeout=10).json()
        for report in card.get("reports", []):
            if report["status"] in ("late", "missing"):
                table.add_row(
                    agency,
                    period_label(report["period"]),
                    _local(report["deadline"], plan),
                    _local(report["submitted_at"], plan),
                    f"[{STATUS_COLOURS[report['status']]}]{report_status_label(report['status'])}[/]",
                )
    console.print(table)


def _local(moment: str | None, plan) -> str:
    return "—" if not moment else f"{datetime.fromisoformat(moment).astimezone(plan.tz):%d/%m/%Y %H:%M}"


def _print_emails(paths: StackPaths, expected: int, timeout: float = 90) -> None:
    with console.status("waiting for the notifier's digests (group_wait 20 s) ..."):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(list(paths.mailbox.glob("*.eml"))) < expected:
            time.sleep(1)
    files = sorted(paths.mailbox.glob("*.eml"))
    table = Table(title=f"Emails to leaders ({len(files)}), each an .eml file in {paths.mailbox}")
    table.add_column("to")
    table.add_column("subject")
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        table.add_row(str(message["To"]), str(message["Subject"]))
    console.print(table)


def _num(value, whole: bool = False) -> str:
    if value is None:
        return "—"
    return f"{math.floor(value + 0.5):,}" if whole else f"{value:,.1f}".rstrip("0").rstrip(".")


if __name__ == "__main__":
    sys.exit(main())
