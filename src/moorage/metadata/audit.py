"""The audit log's SQL (`AuditLog`): one INSERT per entry, paged lists newest first by id,
and the retention purge, in batches of the oldest rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, insert, select

from moorage.domain.audit.model import AuditEntry, AuditQuery, NewAuditEntry, Result
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import prefix_pattern

_LOG = t.audit_log
_FIELDS = (
    "operation",
    "resource_type",
    "resource",
    "result",
    "username",
    "access_key",
    "client",
    "status",
    "request_id",
    "detail",
)


# Built once: an entry is appended in the transaction of a manifest push (a hot path).
_INSERT = Prepared(
    insert(_LOG)
    .values({name: bindparam(name) for name in ("occurred_at", *_FIELDS)})
    .returning(_LOG.c.id)
)


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    c = _LOG.c
    found: list[ColumnElement[bool]] = []
    for name in ("username", "operation", "resource_type", "result"):
        value = getattr(query, name)
        if value is not None:
            found.append(c[name] == value)
    if query.resource is not None:
        found.append(c.resource.like(prefix_pattern(query.resource), escape="\\"))
    if query.since is not None:
        found.append(c.occurred_at >= query.since)
    if query.until is not None:
        found.append(c.occurred_at < query.until)
    return found


def _entry(row: Any) -> AuditEntry:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["result"] = Result(values["result"])
    return AuditEntry(int(row.id), row.occurred_at, NewAuditEntry(**values))


class SqlAuditLog:
    """`AuditLog` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, entry: NewAuditEntry, now: datetime) -> int:
        values = {name: getattr(entry, name) for name in _FIELDS}
        values["result"] = entry.result.value
        inserted = _INSERT.first(self.conn, {"occurred_at": now, **values})
        assert inserted is not None
        return int(inserted.id)

    def list_entries(
        self, query: AuditQuery, offset: int, limit: int
    ) -> tuple[list[AuditEntry], int]:
        where = _conditions(query)
        total = self.conn.execute(select(func.count()).select_from(_LOG).where(*where)).scalar()
        rows = self.conn.execute(
            select(_LOG).where(*where).order_by(_LOG.c.id.desc()).offset(offset).limit(limit)
        )
        return [_entry(row) for row in rows], int(total or 0)

    def purge_before(self, cutoff: datetime, limit: int) -> int:
        oldest = (
            select(_LOG.c.id)
            .where(_LOG.c.occurred_at < cutoff)
            .order_by(_LOG.c.occurred_at)
            .limit(limit)
        )
        doomed = [row.id for row in self.conn.execute(oldest)]
        if not doomed:
            return 0
        self.conn.execute(delete(_LOG).where(_LOG.c.id.in_(doomed)))
        return len(doomed)
