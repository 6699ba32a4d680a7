"""The audit log's role in memory (see `tests.fakes.memory`): `AuditLog` over `audit_log`
rows, by id."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from moorage.domain.audit.model import AuditEntry, AuditQuery, NewAuditEntry, Result
from tests.fakes.rows import delete_rows, insert_row
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.audit.ports import AuditLog

TABLE = "audit_log"
_EXACT = ("username", "operation", "resource_type", "result")


def _matches(row: Row, query: AuditQuery) -> bool:
    if any(getattr(query, name) not in (None, row[name]) for name in _EXACT):
        return False
    if query.resource is not None and not row["resource"].startswith(query.resource):
        return False
    if query.since is not None and row["occurred_at"] < query.since:
        return False
    return query.until is None or row["occurred_at"] < query.until


def _entry(row: Row) -> AuditEntry:
    fields = {k: v for k, v in row.items() if k not in ("id", "occurred_at")}
    fields["result"] = Result(fields["result"])
    return AuditEntry(row["id"], row["occurred_at"], NewAuditEntry(**fields))


class MemoryAuditLog:
    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def append(self, entry: NewAuditEntry, now: datetime) -> int:
        values = {**asdict(entry), "result": entry.result.value, "occurred_at": now}
        return int(insert_row(self.state, TABLE, values)["id"])

    def list_entries(
        self, query: AuditQuery, offset: int, limit: int
    ) -> tuple[list[AuditEntry], int]:
        rows = sorted(self.state.table(TABLE).values(), key=lambda r: r["id"], reverse=True)
        found = [row for row in rows if _matches(row, query)]
        return [_entry(row) for row in found[offset : offset + limit]], len(found)

    def purge_before(self, cutoff: datetime, limit: int) -> int:
        rows = sorted(self.state.table(TABLE).values(), key=lambda r: r["occurred_at"])
        doomed = [row["id"] for row in rows if row["occurred_at"] < cutoff][:limit]
        return delete_rows(self.state, TABLE, doomed)


if TYPE_CHECKING:

    def _is_an_audit_log(log: MemoryAuditLog) -> AuditLog:
        return log
