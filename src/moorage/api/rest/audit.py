"""The audit log, for system administrators: every change, newest first, filtered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from moorage.api.rest.deps import Services
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import PageOut
from moorage.api.rest.security import Caller, Security
from moorage.domain.audit.model import AuditEntry, AuditQuery, Operation, Result
from moorage.domain.kernel.model import PageRequest

router = api_router(tags=["audit log"])
Text = Annotated[str | None, Query(min_length=1, max_length=255)]


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: datetime
    username: str = Field(description="who: a user, `anonymous`, or `system` for background work")
    access_key: str | None = Field(description="the access key the user signed in with, if any")
    client: str | None = Field(description="the client's address (as a trusted proxy names it)")
    operation: str = Field(description=", ".join(o.value for o in Operation))
    resource_type: str = Field(examples=["registry", "image", "artifact", "tag", "user"])
    resource: str = Field(examples=["myreg/app@sha256:…", "myreg/app:v1", "myreg"])
    result: Result
    status: int | None = Field(description="the HTTP status answered, for requests")
    request_id: str | None
    detail: str | None = Field(description="what else helps: a pushed tag's digest, a refusal")


def entry_out(found: AuditEntry) -> AuditEntryOut:
    e = found.entry
    return AuditEntryOut(
        id=found.id,
        occurred_at=found.occurred_at,
        username=e.username,
        access_key=e.access_key,
        client=e.client,
        operation=e.operation,
        resource_type=e.resource_type,
        resource=e.resource,
        result=e.result,
        status=e.status,
        request_id=e.request_id,
        detail=e.detail,
    )


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def audit_query(
    username: Text = None,
    operation: Text = None,
    resource_type: Text = None,
    resource: Annotated[
        str | None, Query(min_length=1, max_length=1024, description="a prefix: `myreg/app`")
    ] = None,
    result: Result | None = None,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
) -> AuditQuery:
    return AuditQuery(
        username=username,
        operation=operation,
        resource_type=resource_type,
        resource=resource,
        result=result.value if result else None,
        since=_utc(since),
        until=_utc(until),
    )


@router.get("/audit-logs", name="list_audit_logs", response_model=PageOut[AuditEntryOut])
def list_audit_logs(
    services: Services,
    security: Security,
    caller: Caller,
    query: Annotated[AuditQuery, Depends(audit_query)],
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
) -> PageOut[AuditEntryOut]:
    """Every change (and refused attempt, and sign-in), newest first; every filter given
    must match. Times without a zone are taken as UTC."""
    security.require_admin(caller)
    found = services.audit.list(query, PageRequest(page=page, page_size=page_size))
    return PageOut(
        items=[entry_out(e) for e in found.items], total=found.total, page=page, page_size=page_size
    )
