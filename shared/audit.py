"""The audit log (issue 17): who read or changed what, kept in each service's own schema.

Every service that answers people keeps an `audit_log` table in its schema (its own migration
creates it; no service reads another's). A row says who (the authenticated principal's subject,
name and role), what (an action, the agency it concerned, the method and the path with its
query as asked), when (wall-clock UTC: an auditor's time, not a simulated service clock) and
whether it was allowed. A request is recorded before it is answered, one INSERT of its own: a
read that cannot be recorded is not answered (500), so the log cannot miss what was shown.

`GET /v1/audit` (committee only) pages through it, newest first, by agency, principal and time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.http_params import ERRORS, CleanText, Code, Moment, RowId, require_known

#: the page size's ceiling, as the other list endpoints bound theirs
MAX_PAGE = 1000
ALLOWED, DENIED = "allowed", "denied"


def audit_table(metadata: MetaData) -> Table:
    """The `audit_log` table in `metadata`'s schema (the migrations create it by hand)."""
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("subject", String(320), nullable=False),
        Column("name", String(320), nullable=False),
        Column("role", String(32), nullable=False),
        Column("action", String(32), nullable=False),
        Column("agency", String(64)),
        Column("method", String(8), nullable=False),
        Column("endpoint", String(2000), nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("detail", JSONB, nullable=False),
    )


def printable(value: str, limit: int = 320) -> str:
    """A name from a token as it may be printed in an email or a log: no control characters."""
    return "".join(c if c.isprintable() else " " for c in value)[:limit]


@dataclass(frozen=True)
class AuditEntry:
    principal: Principal
    action: str  # read | acknowledge | silence | lift_silence | read_audit
    method: str
    endpoint: str
    agency: str | None = None
    outcome: str = ALLOWED
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, principal: Principal, action: str, **kwargs: Any) -> AuditEntry:
        url = request.url
        endpoint = url.path + (f"?{url.query}" if url.query else "")
        return cls(principal, action, request.method, endpoint, **kwargs)


class AuditLog:
    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self.engine, self.table = engine, table

    async def record(self, entry: AuditEntry) -> None:
        p = entry.principal
        async with self.engine.begin() as conn:
            await conn.execute(
                self.table.insert().values(
                    at=datetime.now(UTC),
                    subject=printable(p.subject),
                    name=printable(p.name),
                    role=str(p.role),
                    action=entry.action,
                    agency=entry.agency,
                    method=entry.method,
                    endpoint=printable(entry.endpoint, 2000),
                    outcome=entry.outcome,
                    detail=entry.detail,
                )
            )

    async def page(
        self,
        *,
        agency: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        t = self.table
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        for column, value in ((t.c.agency, agency), (t.c.subject, subject)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(t.c.at >= since)
        if until is not None:
            query = query.where(t.c.at < until)
        if before is not None:
            query = query.where(t.c.id < before)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{**row._asdict(), "at": row.at.isoformat()} for row in rows]


def audit_router(log: AuditLog, agencies: set[str]) -> APIRouter:
    """`GET /v1/audit`, the committee's view of the log (itself recorded as `read_audit`)."""
    router = APIRouter()

    @router.get(
        "/v1/audit",
        tags=["audit"],
        responses=ERRORS,
        dependencies=[require(Role.COMMITTEE)],
        summary="Who read or changed what, newest first (committee only)",
    )
    async def read_audit(
        request: Request,
        principal: CurrentPrincipal,
        agency: Annotated[Code | None, Query()] = None,
        subject: Annotated[
            CleanText | None,
            Query(alias="principal", min_length=1, max_length=320, description="a subject"),
        ] = None,
        since: Annotated[Moment | None, Query(alias="from")] = None,
        until: Annotated[Moment | None, Query(alias="to")] = None,
        before: Annotated[RowId | None, Query(description="the page after this id")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict:
        require_known(agency, agencies, "agency")
        await log.record(AuditEntry.of(request, principal, "read_audit", agency=agency))
        items = await log.page(
            agency=agency, subject=subject, since=since, until=until, before=before, limit=limit
        )
        return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}

    return router
