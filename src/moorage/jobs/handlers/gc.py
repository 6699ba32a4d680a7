"""Garbage-collection runs (spec: `moorage.domain.gc.service.GC_JOB`, queued with each run)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from moorage.domain.audit.service import AuditService
from moorage.domain.gc.service import GC_JOB, GcService
from moorage.domain.kernel.blocking import Blocking
from moorage.jobs.catalog import JobKind
from moorage.jobs.handlers.audit import counted, run_entry


def run(gc: GcService, audit: AuditService, blocking: Blocking) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died resumes. Its end is
    recorded in the audit log."""

    async def handle(payload: dict[str, Any]) -> None:
        run_id = int(payload["run_id"])
        resource = f"gc-runs/{run_id}"
        try:
            done = await gc.run(run_id)
        except Exception as exc:
            await blocking.run(audit.record, run_entry("gc-run", resource, "failed", str(exc)))
            raise
        detail = counted(done.trigger, done.dry_run, asdict(done.counts))
        await blocking.run(audit.record, run_entry("gc-run", resource, done.status, detail))

    def abandon(payload: dict[str, Any], reason: str) -> None:
        gc.abandon_run(int(payload["run_id"]), reason)

    return JobKind(GC_JOB, handle, abandon=abandon)
