"""Cleanup runs (spec: `moorage.domain.policies.runs.RUN_JOB`, queued with each run)."""

from __future__ import annotations

from typing import Any

from moorage.domain.policies.runs import RUN_JOB, CleanupRunService
from moorage.jobs.catalog import JobKind


def run(runs: CleanupRunService) -> JobKind:
    """Carry out a queued run; a run repeated after its worker died starts over."""

    def handle(payload: dict[str, Any]) -> None:
        runs.run(int(payload["execution_id"]))

    return JobKind(RUN_JOB, handle)
