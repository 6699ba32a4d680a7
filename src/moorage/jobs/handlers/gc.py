"""Garbage-collection runs (spec: `moorage.domain.gc.service.GC_JOB`, queued with each run)."""

from __future__ import annotations

from typing import Any

from moorage.domain.gc.service import GC_JOB, GcService
from moorage.jobs.catalog import JobKind


def run(gc: GcService) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died resumes."""

    async def handle(payload: dict[str, Any]) -> None:
        await gc.run(int(payload["run_id"]))

    return JobKind(GC_JOB, handle)
