"""The audit log's daily purge, and the audit entries of runs moorage does by itself.

The purge is the audit log's only deletion: entries older than `audit_retention_days` go.
A cleanup or garbage-collection run that ends (or fails) is recorded as done by `system`;
the artifacts a cleanup run deletes are recorded one by one as it deletes them
(`moorage.domain.audit.service.RecordedRemover`).
"""

from __future__ import annotations

import logging
from typing import Any

from moorage.domain.audit.model import SYSTEM, NewAuditEntry, Operation, Result
from moorage.domain.audit.service import AuditService
from moorage.domain.jobs.specs import JobSpec
from moorage.jobs.catalog import JobKind

log = logging.getLogger("moorage.jobs")

PURGE = JobSpec(
    "audit_log_purge",
    max_attempts=3,
    timeout_seconds=900,
    backoff_base_seconds=60,
    dedupe_on=(),  # one at a time
)
PURGE_CRON = "15 3 * * *"


def purge(audit: AuditService, retention_days: int) -> JobKind:
    """Forget audit entries older than the retention period."""

    def handle(payload: dict[str, Any]) -> None:
        purged = audit.purge(retention_days)
        if purged:
            log.info("old audit entries purged count=%d", purged)

    return JobKind(PURGE, handle, every=PURGE_CRON)


def run_entry(resource_type: str, resource: str, status: str, detail: str) -> NewAuditEntry:
    """A background run's end, done by the system; `status` is the run's (succeeded or
    failed)."""
    result = Result.SUCCESS if status == "succeeded" else Result.FAILED
    return NewAuditEntry(Operation.RUN, resource_type, resource, result, SYSTEM, detail=detail)


def counted(trigger: str, dry_run: bool, counts: dict[str, int]) -> str:
    """A run's trigger and counts, as its entry's detail."""
    words = [f"{trigger} run", *(["dry run"] if dry_run else [])]
    return ", ".join([*words, *(f"{k} {v}" for k, v in counts.items())])
