"""Alerts, silences, leaders' grouping state, the inbox and used ack tokens in PostgreSQL.

Functions on a connection (the API and CLI read with them) and `SqlAlertStore`, the service
layer's `AlertStore` port on one transaction's connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.adapters.tables import alerts, inbox, kpi_status, recipients, silences, used_ack_tokens
from services.notifier.domain.alerts import FIRING, Alert, AlertKind
from services.notifier.domain.digest import RecipientState
from services.notifier.domain.kpi_status import KpiKey, RememberedStatus
from services.notifier.domain.silences import Silence
from services.notifier.service_layer.ports import AtRiskKpi
from shared.events import KpiStatus


async def record_in_inbox(
    conn: AsyncConnection, events: Sequence[tuple[str, str, str]], now: datetime
) -> list[bool]:
    """Per (source, id, type): False if it was in the inbox already, or earlier in `events`."""
    if not events:
        return []
    rows = [
        dict(source=source, id=event_id, type=type_, received_at=now) for source, event_id, type_ in events
    ]
    new = {
        (r.source, r.id)
        for r in await conn.execute(
            insert(inbox).on_conflict_do_nothing().returning(inbox.c.source, inbox.c.id), rows
        )
    }
    fresh = []
    for source, event_id, _ in events:
        fresh.append((source, event_id) in new)
        new.discard((source, event_id))
    return fresh


async def kpi_statuses(conn: AsyncConnection, keys: Iterable[KpiKey]) -> dict[KpiKey, RememberedStatus]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    columns = tuple_(kpi_status.c.agency, kpi_status.c.indicator, kpi_status.c.period)
    rows = await conn.execute(select(kpi_status).where(columns.in_(wanted)))
    return {
        (r.agency, r.indicator, r.period): RememberedStatus(
            KpiStatus(r.status), r.as_of, r.since, dict(r.facts)
        )
        for r in rows
    }


async def save_kpi_statuses(conn: AsyncConnection, statuses: Mapping[KpiKey, RememberedStatus]) -> None:
    if not statuses:
        return
    rows = [
        dict(
            agency=agency,
            indicator=indicator,
            period=period,
            status=s.status.value,
            as_of=s.as_of,
            since=s.since,
            facts=s.facts,
        )
        for (agency, indicator, period), s in sorted(statuses.items())
    ]
    stmt = insert(kpi_status)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[kpi_status.c.agency, kpi_status.c.indicator, kpi_status.c.period],
            set_={c: stmt.excluded[c] for c in ("status", "as_of", "since", "facts")},
            where=kpi_status.c.as_of <= stmt.excluded.as_of,
        ),
        rows,
    )


async def at_risk_kpis(conn: AsyncConnection) -> list[AtRiskKpi]:
    """KPIs whose latest status is at risk."""
    rows = await conn.execute(select(kpi_status).where(kpi_status.c.status == KpiStatus.AT_RISK.value))
    return [AtRiskKpi(r.agency, r.indicator, r.period, r.since, dict(r.facts)) for r in rows]


def _alert(row) -> Alert:
    return Alert(
        kind=AlertKind(row.kind),
        agency=row.agency,
        indicator=row.indicator,
        period=row.period,
        state=row.state,
        opened_at=row.opened_at,
        as_of=row.as_of,
        facts=dict(row.facts),
        resolved_at=row.resolved_at,
        acked_at=row.acked_at,
        acked_by=row.acked_by,
        id=row.id,
        acked_by_subject=row.acked_by_subject,
    )


async def alerts_by_fingerprint(conn: AsyncConnection, fingerprints: Iterable[str]) -> dict[str, Alert]:
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    query = select(alerts).where(alerts.c.fingerprint.in_(wanted)).order_by(alerts.c.fingerprint)
    return {row.fingerprint: _alert(row) for row in await conn.execute(query.with_for_update())}


async def alert_by_id(conn: AsyncConnection, alert_id: int, lock: bool = False) -> Alert | None:
    query = select(alerts).where(alerts.c.id == alert_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    return _alert(row) if row else None


async def save_alerts(conn: AsyncConnection, items: Sequence[Alert]) -> list[Alert]:
    if not items:
        return []
    rows = [
        dict(
            fingerprint=alert.fingerprint,
            kind=alert.kind.value,
            severity=alert.severity.value,
            agency=alert.agency,
            indicator=alert.indicator,
            period=alert.period,
            state=alert.state,
            opened_at=alert.opened_at,
            as_of=alert.as_of,
            resolved_at=alert.resolved_at,
            acked_at=alert.acked_at,
            acked_by=alert.acked_by,
            acked_by_subject=alert.acked_by_subject,
            facts=alert.facts,
        )
        for alert in items
    ]
    stmt = insert(alerts)
    stmt = stmt.on_conflict_do_update(
        index_elements=[alerts.c.fingerprint],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "fingerprint"},
    )
    saved = {row.fingerprint: _alert(row) for row in await conn.execute(stmt.returning(alerts), rows)}
    return [saved[alert.fingerprint] for alert in items]


async def alerts_for(
    conn: AsyncConnection, agencies: Iterable[str] | None, also_ids: Iterable[int] = ()
) -> list[Alert]:
    """Firing alerts of these agencies (None = all), plus the listed alerts whatever their state."""
    firing = alerts.c.state == FIRING
    scope = firing if agencies is None else and_(firing, alerts.c.agency.in_(list(agencies)))
    ids = list(also_ids)
    where = or_(scope, alerts.c.id.in_(ids)) if ids else scope
    rows = await conn.execute(select(alerts).where(where).order_by(alerts.c.id))
    return [_alert(r) for r in rows]


async def list_alerts(
    conn: AsyncConnection, state: str | None = None, agency: str | None = None, limit: int = 500
) -> list[Alert]:
    query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
    if state:
        query = query.where(alerts.c.state == state)
    if agency:
        query = query.where(alerts.c.agency == agency)
    return [_alert(r) for r in await conn.execute(query)]


async def set_acknowledged(conn: AsyncConnection, alert: Alert) -> None:
    await conn.execute(
        update(alerts)
        .where(alerts.c.id == alert.id)
        .values(acked_at=alert.acked_at, acked_by=alert.acked_by, acked_by_subject=alert.acked_by_subject)
    )


def _silence(row) -> Silence:
    return Silence(
        agency=row.agency,
        indicator=row.indicator,
        period=row.period,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        created_by=row.created_by,
        created_by_subject=row.created_by_subject,
        id=row.id,
    )


async def add_silence(conn: AsyncConnection, silence: Silence, now: datetime) -> Silence:
    row = (
        await conn.execute(
            insert(silences)
            .values(
                agency=silence.agency,
                indicator=silence.indicator,
                period=silence.period,
                starts_at=silence.starts_at,
                ends_at=silence.ends_at,
                reason=silence.reason,
                created_by=silence.created_by,
                created_by_subject=silence.created_by_subject,
                created_at=now,
            )
            .returning(silences)
        )
    ).one()
    return _silence(row)


async def list_silences(conn: AsyncConnection, now: datetime | None = None) -> list[Silence]:
    """All silences, or only those not yet over at `now`."""
    query = select(silences).order_by(silences.c.id)
    if now is not None:
        query = query.where(silences.c.ends_at > now)
    return [_silence(r) for r in await conn.execute(query)]


async def expire_silence(conn: AsyncConnection, silence_id: int, now: datetime) -> bool:
    result = await conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.ends_at > now)
        .values(starts_at=func.least(silences.c.starts_at, now), ends_at=now)
    )
    return result.rowcount > 0


async def lock_recipient(conn: AsyncConnection, email: str) -> RecipientState:
    """The leader's grouping state, row-locked: one planner at a time per leader."""
    await conn.execute(insert(recipients).values(email=email, delivered={}).on_conflict_do_nothing())
    return _recipient(
        (await conn.execute(select(recipients).where(recipients.c.email == email).with_for_update())).one()
    )


async def save_recipient(conn: AsyncConnection, state: RecipientState) -> None:
    await conn.execute(
        update(recipients)
        .where(recipients.c.email == state.email)
        .values(
            first_pending_at=state.first_pending_at,
            last_sent_at=state.last_sent_at,
            delivered={str(k): v for k, v in state.delivered.items()},
        )
    )


async def recipient_states(conn: AsyncConnection) -> list[RecipientState]:
    return [_recipient(row) for row in await conn.execute(select(recipients))]


def _recipient(row) -> RecipientState:
    return RecipientState(
        row.email, row.first_pending_at, row.last_sent_at, {int(k): v for k, v in row.delivered.items()}
    )


async def use_ack_nonce(conn: AsyncConnection, nonce: str, alert_id: int, now: datetime) -> bool:
    """False if the link was used before (single use)."""
    result = await conn.execute(
        insert(used_ack_tokens)
        .values(nonce=nonce, alert_id=alert_id, used_at=now)
        .on_conflict_do_nothing()
        .returning(used_ack_tokens.c.nonce)
    )
    return result.first() is not None


class SqlAlertStore:
    """The `AlertStore` port on one transaction's connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record_in_inbox(self, events: Sequence[tuple[str, str, str]], now: datetime) -> list[bool]:
        return await record_in_inbox(self.conn, events, now)

    async def kpi_statuses(self, keys: Iterable[KpiKey]) -> dict[KpiKey, RememberedStatus]:
        return await kpi_statuses(self.conn, keys)

    async def save_kpi_statuses(self, statuses: Mapping[KpiKey, RememberedStatus]) -> None:
        await save_kpi_statuses(self.conn, statuses)

    async def at_risk_kpis(self) -> list[AtRiskKpi]:
        return await at_risk_kpis(self.conn)

    async def alerts_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, Alert]:
        return await alerts_by_fingerprint(self.conn, fingerprints)

    async def alert_by_id(self, alert_id: int, lock: bool = False) -> Alert | None:
        return await alert_by_id(self.conn, alert_id, lock)

    async def save_alerts(self, items: Sequence[Alert]) -> list[Alert]:
        return await save_alerts(self.conn, items)

    async def alerts_for(self, agencies: Iterable[str] | None, also_ids: Iterable[int] = ()) -> list[Alert]:
        return await alerts_for(self.conn, agencies, also_ids)

    async def set_acknowledged(self, alert: Alert) -> None:
        await set_acknowledged(self.conn, alert)

    async def add_silence(self, silence: Silence, now: datetime) -> Silence:
        return await add_silence(self.conn, silence, now)

    async def list_silences(self, now: datetime | None = None) -> list[Silence]:
        return await list_silences(self.conn, now)

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        return await expire_silence(self.conn, silence_id, now)

    async def lock_recipient(self, email: str) -> RecipientState:
        return await lock_recipient(self.conn, email)

    async def save_recipient(self, state: RecipientState) -> None:
        await save_recipient(self.conn, state)

    async def recipient_states(self) -> list[RecipientState]:
        return await recipient_states(self.conn)

    async def use_ack_nonce(self, nonce: str, alert_id: int, now: datetime) -> bool:
        return await use_ack_nonce(self.conn, nonce, alert_id, now)
