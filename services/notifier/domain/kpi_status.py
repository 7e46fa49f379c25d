"""What the notifier remembers of each KPI's status: the newest by `as_of`, and since when it has
held that status (an at-risk KPI two reporting windows running is an alert of its own)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import KpiStatus

KpiKey = tuple[str, str, str]  # agency, indicator, period


@dataclass(frozen=True)
class RememberedStatus:
    status: KpiStatus
    as_of: datetime
    since: datetime  # as_of of the change into this status
    facts: dict[str, Any] = field(default_factory=dict)


def remember(
    old: RememberedStatus | None, status: KpiStatus, as_of: datetime, facts: dict[str, Any]
) -> RememberedStatus | None:
    """The status to keep after a report of `status` at `as_of`; None when `old` is newer (an older
    status arriving late changes nothing). `since` moves only when the status changes."""
    if old is None:
        return RememberedStatus(status, as_of, as_of, dict(facts))
    if as_of < old.as_of:
        return None
    return RememberedStatus(status, as_of, old.since if old.status == status else as_of, dict(facts))
