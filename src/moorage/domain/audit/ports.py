"""Role ports of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from moorage.domain.audit.model import AuditEntry, AuditQuery, NewAuditEntry


class AuditLog(Protocol):
    """The audit log's rows: appended, listed newest first, purged when old. Nothing
    updates an entry."""

    def append(self, entry: NewAuditEntry, now: datetime) -> int:
        """Append an entry at `now`; returns its id (ids grow with time)."""

    def list_entries(
        self, query: AuditQuery, offset: int, limit: int
    ) -> tuple[list[AuditEntry], int]:
        """The entries matching `query`, newest first, with their total."""

    def purge_before(self, cutoff: datetime, limit: int) -> int:
        """Delete up to `limit` of the oldest entries from before `cutoff`; how many."""


class AuditRoles(Protocol):
    """The audit log's role on a transaction."""

    @property
    def audit(self) -> AuditLog: ...


AuditTx = AuditRoles
