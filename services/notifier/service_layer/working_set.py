"""What one transaction of the notifier reads and changes, held in memory between one read and
one write per table: a batch of status events costs a handful of statements, not five per event.

Reads go through to what the batch changed before (an event's previous-period status may be
the one an earlier event of the batch set); `save` writes each changed KPI status and alert once,
in its last state. Alerts are read locked, so the transaction owns them until it commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.notifier.domain import kpi_status
from services.notifier.domain.alerts import Alert
from services.notifier.domain.kpi_status import KpiKey, RememberedStatus
from services.notifier.service_layer.ports import AlertStore
from shared.events import KpiStatus


class WorkingSet:
    def __init__(self) -> None:
        self._kpis: dict[KpiKey, RememberedStatus] = {}
        self._alerts: dict[str, Alert] = {}
        self._changed_kpis: set[KpiKey] = set()
        self._changed_alerts: dict[str, Alert] = {}

    async def load_kpis(self, store: AlertStore, keys: Iterable[KpiKey]) -> None:
        missing = {k for k in keys if k not in self._kpis}
        self._kpis.update(await store.kpi_statuses(missing))

    async def load_alerts(self, store: AlertStore, fingerprints: Iterable[str]) -> None:
        missing = {f for f in fingerprints if f not in self._alerts}
        self._alerts.update(await store.alerts_by_fingerprint(missing))

    def status_of(self, key: KpiKey) -> KpiStatus | None:
        """As remembered (`load_kpis` first)."""
        remembered = self._kpis.get(key)
        return remembered.status if remembered else None

    def remember(self, key: KpiKey, status: KpiStatus, as_of: datetime, facts: dict[str, Any]) -> None:
        after = kpi_status.remember(self._kpis.get(key), status, as_of, facts)
        if after is not None:
            self._kpis[key] = after
            self._changed_kpis.add(key)

    def alert(self, fingerprint: str) -> Alert | None:
        """As stored or changed (`load_alerts` first)."""
        return self._alerts.get(fingerprint)

    def change(self, alert: Alert) -> None:
        self._alerts[alert.fingerprint] = self._changed_alerts[alert.fingerprint] = alert

    async def save(self, store: AlertStore) -> None:
        """Write what changed."""
        await store.save_kpi_statuses({k: self._kpis[k] for k in sorted(self._changed_kpis)})
        await store.save_alerts([self._changed_alerts[f] for f in sorted(self._changed_alerts)])
        self._changed_kpis.clear()
        self._changed_alerts.clear()
