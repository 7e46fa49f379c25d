"""Who is told about an alert: the agency's leaders, then up the escalation chain over time."""

from __future__ import annotations

from datetime import datetime

from services.notifier.domain.alerts import ESCALATES, Alert
from services.notifier.domain.directory import Directory, Leader
from services.notifier.domain.policy import DigestPolicy


def escalation_level(alert: Alert, chain_length: int, policy: DigestPolicy, now: datetime) -> int:
    """How many steps up the chain the alert has climbed; acknowledgement freezes the climb."""
    if not alert.firing or alert.kind not in ESCALATES:
        return 0
    until = min(now, alert.acked_at) if alert.acked_at else now
    elapsed = until - alert.opened_at
    level = 0
    for step in range(chain_length):
        if elapsed >= policy.escalation_delay(step, chain_length):
            level = step + 1
    return level


def recipients(alert: Alert, directory: Directory, policy: DigestPolicy, now: datetime) -> list[Leader]:
    agency = directory.agency(alert.agency)
    level = escalation_level(alert, len(agency.chain), policy, now)
    out: dict[str, Leader] = {}
    for code in (agency.code, *agency.chain[:level]):
        for leader in directory.agency(code).leaders:
            out.setdefault(leader.email.lower(), leader)
    return list(out.values())


def reached_at(alert: Alert, email: str, directory: Directory, policy: DigestPolicy) -> datetime:
    """When the alert reached this leader: when it opened, or when it escalated to them."""
    agency = directory.agency(alert.agency)
    for step, code in enumerate((agency.code, *agency.chain)):
        if any(lead.email.lower() == email.lower() for lead in directory.agency(code).leaders):
            return (
                alert.opened_at
                if step == 0
                else alert.opened_at + policy.escalation_delay(step - 1, len(agency.chain))
            )
    return alert.opened_at


def reachable_agencies(email: str, directory: Directory) -> set[str]:
    """Agencies whose alerts may ever reach this leader (their own, or via escalation)."""
    own = directory.led_by(email)
    return {a.code for a in directory.agencies.values() if a.code in own or own & set(a.chain)}


def next_escalation(
    alert: Alert, directory: Directory, policy: DigestPolicy, now: datetime
) -> datetime | None:
    """When the alert will climb next (for the API and the digest), None if it will not."""
    if not alert.firing or alert.acked_at or alert.kind not in ESCALATES:
        return None
    chain = directory.agency(alert.agency).chain
    level = escalation_level(alert, len(chain), policy, now)
    if level >= len(chain):
        return None
    return alert.opened_at + policy.escalation_delay(level, len(chain))
