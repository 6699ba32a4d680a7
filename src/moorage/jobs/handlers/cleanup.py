"""Cleanup runs (spec: `moorage.domain.policies.runs.RUN_JOB`, queued with each run)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from moorage.domain.policies.runs import RUN_JOB, CleanupRunService
from moorage.jobs.catalog import JobKind


def run(runs: CleanupRunService) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died starts over."""

    async def handle(payload: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(runs.run, int(payload["execution_id"]))

    return JobKind(RUN_JOB, handle)
