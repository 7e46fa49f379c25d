"""Grouping per recipient into one digest email (Alertmanager's group_wait / group_interval /
repeat_interval, applied to email), with quiet hours, inhibition and silences.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.notifier.domain.alerts import (
    FIRING,
    REPEATS,
    RESOLVED,
    Alert,
    Severity,
    inhibited,
    is_superseded,
)
from services.notifier.domain.directory import Directory, Leader
from services.notifier.domain.periods import contains
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.routing import reached_at, recipients
from services.notifier.domain.silences import Silence, silenced_by

_ONE_SECOND, _HALF_DAY = timedelta(seconds=1), timedelta(hours=12)


@dataclass(frozen=True)
class RecipientState:
    """What the planner remembers per leader between ticks."""

    email: str
    first_pending_at: datetime | None = None  # first change not yet mailed
    last_sent_at: datetime | None = None
    delivered: dict[int | None, str] = field(default_factory=dict)  # alert id → state last mailed


@dataclass(frozen=True)
class Selection:
    """The alerts a leader may hear about now, and what was held back and why."""

    visible: list[Alert]
    silenced: list[Alert]
    silences: list[Silence]
    inhibited: list[Alert]
    since: dict[int | None, datetime] = field(
        default_factory=dict
    )  # alert id → when it changed for this leader
    forget: frozenset[int | None] = frozenset()  # mailed as firing, since superseded: not news, not resolved


@dataclass(frozen=True)
class Digest:
    recipient: Leader
    window: datetime  # the moment it became due: part of the idempotency key
    reason: str  # "first" | "update" | "repeat"
    new: list[Alert]
    still_open: list[Alert]
    resolved: list[Alert]
    silences: list[Silence]
    inhibited: list[Alert]
    created_at: datetime

    @property
    def idempotency_key(self) -> str:
        """recipient | group | window, plus what it says: two different digests can never share a key."""
        content = ",".join(f"{a.id}:{a.state}" for a in sorted(self.alerts, key=lambda a: a.id or 0))
        digest = hashlib.sha256(content.encode()).hexdigest()[:12]
        return f"{self.recipient.email.lower()}|digest|{self.window.isoformat()}|{digest}"

    @property
    def message_token(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    @property
    def alerts(self) -> list[Alert]:
        return [*self.new, *self.still_open, *self.resolved]


def select(
    email: str,
    alerts: list[Alert],
    state: RecipientState,
    directory: Directory,
    silences: list[Silence],
    policy: DigestPolicy,
    now: datetime,
) -> Selection:
    firing = [a for a in alerts if a.firing]
    visible, muted, held, used, since, forget = [], [], [], {}, {}, set()
    for alert in alerts:
        if alert.state == RESOLVED:
            if is_superseded(alert):  # lagging → missed: the missed alert says what happened
                forget.add(alert.id)
            elif state.delivered.get(alert.id) == FIRING:  # tell who was told it fired
                visible.append(alert)
                since[alert.id] = alert.resolved_at or alert.as_of
            continue
        if alert.kind not in REPEATS and state.delivered.get(alert.id) == FIRING:
            continue  # a one-off notice (a late report): told once, not carried in every digest
        if email.lower() not in {r.email.lower() for r in recipients(alert, directory, policy, now)}:
            continue
        if inhibited(alert, firing):
            held.append(alert)
            continue
        matching = silenced_by(alert, silences, now)
        if matching:
            muted.append(alert)
            used.update({id(s): s for s in matching})
            continue
        visible.append(alert)
        since[alert.id] = reached_at(alert, email, directory, policy)
    return Selection(visible, muted, list(used.values()), held, since, frozenset(forget))


def plan(
    leader: Leader, selection: Selection, state: RecipientState, policy: DigestPolicy, now: datetime
) -> tuple[Digest | None, RecipientState]:
    """The digest due now for this leader (if any) and the state to remember."""
    if selection.forget & state.delivered.keys():
        state = replace(
            state, delivered={k: v for k, v in state.delivered.items() if k not in selection.forget}
        )
    new = [a for a in selection.visible if a.firing and state.delivered.get(a.id) != FIRING]
    still_open = [a for a in selection.visible if a.firing and state.delivered.get(a.id) == FIRING]
    resolved = [a for a in selection.visible if not a.firing]
    if new or resolved:
        # From when the changes happened, not when a tick noticed: a replay computes the same due time.
        pending_since = min(min(selection.since.get(a.id, now) for a in [*new, *resolved]), now)
        state = replace(state, first_pending_at=pending_since)
        critical = any(a.severity is Severity.CRITICAL for a in new)
        earliest = pending_since + policy.group_wait
        morning = not critical  # non-critical news waits for the morning digest, if there is one
        if state.last_sent_at is None:
            due, reason = earliest if critical else policy.digest_slot(earliest), "first"
        elif critical:
            due, reason = max(earliest, state.last_sent_at + policy.critical_interval), "update"
        elif policy.digest_time:  # the next morning digest after the last email
            due, reason = policy.digest_slot(max(earliest, state.last_sent_at + _ONE_SECOND)), "update"
        else:
            due, reason = max(earliest, state.last_sent_at + policy.group_interval), "update"
    elif state.last_sent_at and any(a.acked_at is None and a.kind in REPEATS for a in still_open):
        due, reason, morning = state.last_sent_at + policy.repeat_interval, "repeat", True
        if policy.digest_time:  # the morning digest closest to a repeat interval on
            due = policy.digest_slot(max(due - _HALF_DAY, state.last_sent_at + _ONE_SECOND))
    else:
        return None, replace(state, first_pending_at=None)
    # A due moment already past when the news appeared (its `since` is earlier) must still wait
    # for the digest time: the end of the quiet hours is not a morning digest.
    if now < due or policy.quiet(now) or (morning and policy.before_digest_time(now)):
        return None, state
    digest = Digest(
        leader, due, reason, new, still_open, resolved, selection.silences, selection.inhibited, now
    )
    delivered = {k: v for k, v in state.delivered.items() if v == FIRING}
    delivered.update({a.id: a.state for a in [*new, *still_open]})
    for alert in resolved:
        delivered.pop(alert.id, None)
    return digest, RecipientState(state.email, None, now, delivered)


@dataclass(frozen=True)
class Section:
    """A parent unit's alert with its communes' alerts on the same indicator folded beneath (of
    the same kind, in a period the parent's covers: a commune's June under its district's Q2)."""

    head: Alert
    children: list[Alert]


def sections(alerts: list[Alert], directory: Directory) -> list[Section]:
    def parent_of(alert: Alert) -> Alert | None:
        for anc in directory.ancestors(alert.agency):
            for other in alerts:
                if (
                    other.agency == anc
                    and other.indicator == alert.indicator
                    and other.kind is alert.kind
                    and contains(other.period, alert.period)
                ):
                    return other
        return None

    placed: dict[str, Section] = {}
    order: list[Section] = []
    parents = {alert.fingerprint: parent_of(alert) for alert in alerts}
    for alert in alerts:
        if parents[alert.fingerprint] is None:
            section = placed.setdefault(alert.fingerprint, Section(alert, []))
            if section.head is alert:
                order.append(section)
    for alert in alerts:
        parent = parents[alert.fingerprint]
        # a commune two levels down goes under the nearest ancestor that heads a section
        while parent is not None and parent.fingerprint not in placed:
            parent = parents[parent.fingerprint]
        if parent is not None:
            placed[parent.fingerprint].children.append(alert)
    return order
