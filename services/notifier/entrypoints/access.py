"""Who may do what on the notifier's operator API: the one place its rules live (docs/security.md).

Silences and the outbox: the committee and operators. Alerts: those two and leaders, a leader
seeing the alerts of their agency and of the agencies below it. Acknowledging from the API: the
committee, and a leader of the alert's agency or of an agency above it (operators do not: an
acknowledgement says a leader took the alert on). The signed single-use links in the emails need
no login: the link is the credential. Every acknowledgement and silence is recorded with the
authenticated principal, in the alert or silence and in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from services.notifier.domain.alerts import Alert
from services.notifier.domain.directory import Directory
from shared.audit import ALLOWED, DENIED, AuditEntry, AuditLog, printable
from shared.auth import CurrentPrincipal, Principal, Role, require

OPERATIONS = require(Role.COMMITTEE, Role.OPERATOR)
ALERT_READERS = (Role.COMMITTEE, Role.OPERATOR, Role.LEADER)
ACKNOWLEDGERS = (Role.COMMITTEE, Role.LEADER)
SILENCERS = (Role.COMMITTEE, Role.OPERATOR)


class _Hierarchy:
    """The plan's escalation hierarchy as the notifier's directory holds it (Principal's scope)."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def escalation_chain(self, agency_code: str) -> list[Any]:
        return [self._directory.agency(code) for code in self._directory.agencies[agency_code].chain]


class AlertScope:
    def __init__(self, principal: Principal, directory: Directory, audit: AuditLog) -> None:
        self.principal, self.audit = principal, audit
        self._hierarchy = _Hierarchy(directory)

    def may_read(self, agency: str) -> bool:
        return self.principal.may_read_agency(agency, self._hierarchy)

    def alerts(self, alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if self.may_read(a.agency)]

    def may_acknowledge(self, alert: Alert) -> bool:
        return self.principal.role in ACKNOWLEDGERS and self.may_read(alert.agency)

    async def check_acknowledge(self, request: Request, alert: Alert) -> None:
        """403 (recorded) unless the principal may acknowledge this alert."""
        if not self.may_acknowledge(alert):
            await self.record(request, "acknowledge", alert.agency, DENIED, alert=alert.id)
            raise HTTPException(403, f"acknowledging an alert of {alert.agency} is not yours to do")

    async def record(
        self, request: Request, action: str, agency: str | None, outcome: str = ALLOWED, **detail: Any
    ) -> None:
        entry = AuditEntry.of(request, self.principal, action, agency=agency, outcome=outcome, detail=detail)
        await self.audit.record(entry)

    @property
    def person(self) -> str:
        """The name recorded on an acknowledgement or a silence, safe to print in a plain-text email."""
        return printable(self.principal.name)


def scope_of(request: Request, principal: Principal, roles: tuple[Role, ...]) -> AlertScope:
    """The principal's scope, 403 unless their role is one of `roles` and the agency the request
    names (if any) is in their scope: the API's dependencies and the alerts page both ask here."""
    c = request.app.state.container
    scope = AlertScope(principal, c.directory, request.app.state.audit)
    if principal.role not in roles:
        raise HTTPException(403, f"this needs the role {', '.join(sorted(roles))}; you are {principal.role}")
    agency = request.query_params.get("agency")
    if agency is not None and agency in c.directory.agencies and not scope.may_read(agency):
        raise HTTPException(403, f"agency {agency} is outside your scope")
    return scope


def _scope(roles: tuple[Role, ...]) -> Any:
    async def alert_scope(request: Request, principal: CurrentPrincipal) -> AlertScope:
        return scope_of(request, principal, roles)

    return alert_scope


AlertReader = Annotated[AlertScope, Depends(_scope(ALERT_READERS))]
Acknowledger = Annotated[AlertScope, Depends(_scope(ACKNOWLEDGERS))]
Operator = Annotated[AlertScope, Depends(_scope(SILENCERS))]


def link_principal(directory: Directory, recipient: str, agency: str) -> Principal:
    """Who an acknowledgement link speaks for: the leader it was mailed to (the link is the credential)."""
    leader = directory.leader(recipient)
    led = sorted(directory.led_by(recipient)) or [agency]
    return Principal(
        subject=f"mailto:{recipient}",
        name=leader.name if leader else recipient,
        role=Role.LEADER,
        agency=led[0],
    )
