"""Who may read what of the read API: the one place its rules live (docs/security.md).

Every /v1 route takes a `Reader` (or `ProvinceReader`): the dependency authenticates (401), checks
the agency the request names — the path's `{code}`/`{agency}` or the `agency` filter — against
the principal's scope (403), records the read in the audit log (allowed or denied) and gives
the route a `ReadScope` to narrow what it answers: list items to the agencies in scope, free-text
notes away for a principal who may not see them (operators).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from shared.audit import ALLOWED, DENIED, AuditEntry, AuditLog
from shared.auth import CurrentPrincipal, Principal
from shared.plan.index import PlanIndex

#: the free text of the events (docs/events.md): a report's, an activity's, an assessment's or a
#: submission's `note` and a correction's `reason` may name people and places
FREE_TEXT = frozenset({"note", "reason"})


class ReadScope:
    def __init__(self, principal: Principal, plan: PlanIndex) -> None:
        self.principal, self.plan = principal, plan

    def may_read(self, agency: str) -> bool:
        return self.principal.may_read_agency(agency, self.plan)

    @property
    def whole_province(self) -> bool:
        """Province-wide figures are made of every agency's: for those who may read them all."""
        return all(self.may_read(a.code) for a in self.plan.agencies)

    def items(self, items: Iterable[dict], key: str = "agency") -> list[dict]:
        return [item for item in items if self.may_read(item[key])]

    def without_notes(self, agency: str, entries: list[dict]) -> list[dict]:
        if self.principal.sees_notes(agency, self.plan):
            return entries
        return [_strip(entry) for entry in entries]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in FREE_TEXT}
    return value


def _asked_agency(request: Request) -> str | None:
    return (
        request.path_params.get("code")
        or request.path_params.get("agency")
        or request.query_params.get("agency")
    )


def _reader(whole_province: bool) -> Any:
    async def read_scope(request: Request, principal: CurrentPrincipal) -> ReadScope:
        agg = request.app.state.aggregator
        audit: AuditLog = request.app.state.audit
        scope = ReadScope(principal, agg.plan)
        agency = _asked_agency(request)
        known = {a.code for a in agg.plan.agencies}
        refusal = None
        if whole_province and not scope.whole_province:
            refusal = "province-wide figures are for the committee and operators"
        elif agency is not None and agency in known and not scope.may_read(agency):
            refusal = f"agency {agency} is outside your scope"
        outcome = DENIED if refusal else ALLOWED
        named = agency if agency in known else None  # a malformed code is in the endpoint only
        await audit.record(AuditEntry.of(request, principal, "read", agency=named, outcome=outcome))
        if refusal:
            raise HTTPException(403, refusal)
        return scope

    return read_scope


Reader = Annotated[ReadScope, Depends(_reader(whole_province=False))]
ProvinceReader = Annotated[ReadScope, Depends(_reader(whole_province=True))]
