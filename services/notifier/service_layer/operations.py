"""Operator actions shared by the API and the CLI: acknowledge, silence, lift a silence."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters import repository as repo
from services.notifier.domain import alerts as alert_rules
from services.notifier.domain.alerts import Alert
from services.notifier.domain.silences import InvalidSilence, Silence
from services.notifier.service_layer.ports import AlertStore
from shared.http_params import bounded_moment


async def acknowledge(
    store: AlertStore, alert_id: int, by: str, now: datetime, subject: str | None = None
) -> Alert | None:
    """None if there is no such alert; the first acknowledgement stands."""
    alert = await store.alert_by_id(alert_id, lock=True)
    if alert is None:
        return None
    after = alert_rules.acknowledge(alert, by, now, subject)
    if after != alert:
        await store.set_acknowledged(after)
    return after


async def silence(
    engine: AsyncEngine,
    *,
    agency: str | None,
    indicator: str | None,
    period: str | None,
    reason: str,
    created_by: str,
    now: datetime,
    created_by_subject: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    hours: float | None = None,
) -> Silence:
    starts = starts_at or now
    try:
        ends = ends_at or (starts + timedelta(hours=hours) if hours else None)
    except (OverflowError, ValueError):  # hours=1e300 or NaN: no datetime holds the end
        raise InvalidSilence(f"a duration of {hours} hours is out of range") from None
    if ends is None:
        raise InvalidSilence("give an end time or a duration in hours")
    for name, moment in (("starts_at", starts), ("ends_at", ends)):
        try:
            bounded_moment(moment)  # the CLI's path as well as the API's
        except ValueError as exc:
            raise InvalidSilence(f"{name} {exc}") from None
    if ends <= starts:
        raise InvalidSilence("a silence must end after it starts")
    created = Silence(
        agency or None,
        indicator or None,
        period or None,
        starts,
        ends,
        reason,
        created_by,
        created_by_subject=created_by_subject,
    )
    async with engine.begin() as conn:
        return await repo.add_silence(conn, created, now)


async def lift_silence(engine: AsyncEngine, silence_id: int, now: datetime) -> bool:
    async with engine.begin() as conn:
        return await repo.expire_silence(conn, silence_id, now)
