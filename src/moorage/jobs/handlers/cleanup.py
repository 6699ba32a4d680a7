"""Cleanup runs (spec: `moorage.domain.policies.runs.RUN_JOB`, queued with each run)."""

from __future__ import annotations

from typing import Any

from moorage.domain.audit.service import AuditService
from moorage.domain.policies.runs import RUN_JOB, CleanupRunService
from moorage.jobs.catalog import JobKind
from moorage.jobs.handlers.audit import counted, run_entry


def run(runs: CleanupRunService, audit: AuditService) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died starts over. Its end is
    recorded in the audit log."""

    def handle(payload: dict[str, Any]) -> None:
        execution_id = int(payload["execution_id"])
        resource = f"cleanup-runs/{execution_id}"
        try:
            done = runs.run(execution_id)
        except Exception as exc:
            audit.record(run_entry("cleanup-run", resource, "failed", str(exc)))
            raise
        detail = counted(done.trigger, done.dry_run, done.counts)
        audit.record(run_entry("cleanup-run", resource, done.status, detail))

    def abandon(payload: dict[str, Any], reason: str) -> None:
        runs.abandon(int(payload["execution_id"]), reason)

    return JobKind(RUN_JOB, handle, abandon=abandon)
