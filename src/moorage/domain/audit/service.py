"""Recording changes, listing them for administrators, and forgetting old ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from moorage.domain.audit.model import (
    SYSTEM,
    AuditEntry,
    AuditQuery,
    NewAuditEntry,
    Operation,
    Result,
)
from moorage.domain.audit.ports import AuditTx
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import Busy, DomainError
from moorage.domain.kernel.model import Page, PageRequest
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.ports import ArtifactRemover

log = logging.getLogger("moorage.audit")
PURGE_BATCH = 5000  # rows per purge transaction: old entries go without holding a lock long


class AuditService:
    def __init__(self, uow: UnitOfWork[AuditTx], clock: Clock = utcnow) -> None:
        self._uow = uow
        self._clock = clock

    def record(self, entry: NewAuditEntry) -> None:
        """Append an entry: in the caller's transaction when it runs inside a scope (a REST
        request, a manifest push), else in one of its own."""
        with self._uow(write=True) as tx:
            tx.audit.append(entry, self._clock())

    def record_apart(self, entry: NewAuditEntry) -> None:
        """Append an entry in a transaction of its own for an outcome already decided (a
        refused request): a failure to record is logged, never raised over that outcome. A
        database that is full or out of reach is expected then, and logged without a trace."""
        try:
            with self._uow(write=True) as tx:
                tx.audit.append(entry, self._clock())
        except Busy as exc:
            log.warning("audit entry not recorded (%s): %s", exc, entry)
        except Exception:
            log.exception("audit entry not recorded: %s", entry)

    def list(self, query: AuditQuery, paging: PageRequest) -> Page[AuditEntry]:
        """Newest first."""
        with self._uow() as tx:
            items, total = tx.audit.list_entries(query, paging.offset, paging.page_size)
        return Page(items, total)

    def purge(self, retention_days: int, batch: int = PURGE_BATCH) -> int:
        """Forget the entries older than `retention_days` (the audit log's only deletion)."""
        cutoff = self._clock() - timedelta(days=retention_days)
        purged = 0
        while True:
            with self._uow(write=True) as tx:
                done = tx.audit.purge_before(cutoff, batch)
            purged += done
            if done < batch:
                return purged


class RecordedRemover:
    """An `ArtifactRemover` that records each deletion background work does (a cleanup run's)
    as done by the system, after the deletion's own transaction."""

    def __init__(self, remover: ArtifactRemover, audit: AuditService) -> None:
        self._remover = remover
        self._audit = audit

    def delete_artifacts(
        self, repository: str, references: Sequence[str], operator: str | None = None
    ) -> None:
        try:
            self._remover.delete_artifacts(repository, references, operator)
        except DomainError as exc:
            self._note(repository, references, operator, Result.FAILED, str(exc))
            raise
        self._note(repository, references, operator, Result.SUCCESS, None)

    def _note(
        self,
        repository: str,
        references: Sequence[str],
        operator: str | None,
        result: Result,
        error: str | None,
    ) -> None:
        by = f"by {operator}" if operator else None
        for reference in references:
            self._audit.record(
                NewAuditEntry(
                    Operation.DELETE,
                    "artifact",
                    f"{repository}@{reference}",
                    result,
                    SYSTEM,
                    detail="; ".join(x for x in (by, error) if x) or None,
                )
            )
