"""The job kinds moorage runs, wired to the domain services that do the work."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from moorage.domain import cleanup_runs
from moorage.domain.artifacts import ArtifactService
from moorage.domain.cleanup_runs import CleanupRunService
from moorage.domain.ports import Services, UnitOfWorkFactory
from moorage.jobs.catalog import JobCatalog, JobKind
from moorage.jobs.runner import Runner
from moorage.jobs.scheduler import Scheduler


def build_catalog(uow: UnitOfWorkFactory) -> JobCatalog:
    cleanup = CleanupRunService(uow, ArtifactService(uow))

    async def run_cleanup(payload: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(cleanup.run, int(payload["execution_id"]))

    catalog = JobCatalog()
    catalog.register(
        JobKind(cleanup_runs.JOB_KIND, run_cleanup, max_attempts=3, timeout_seconds=6 * 3600)
    )
    return catalog


def build_scheduler(uow: UnitOfWorkFactory, tick_seconds: float = 5.0) -> Scheduler:
    cleanup = CleanupRunService(uow, ArtifactService(uow))
    return Scheduler(uow, {cleanup_runs.KIND: cleanup.fire_schedule}, tick_seconds=tick_seconds)


async def run_background(services: Services, concurrency: int, tick_seconds: float) -> None:
    """The runner and the scheduler, until cancelled (in `serve`, or as `moorage worker`)."""
    runner = Runner(services.uow, build_catalog(services.uow), concurrency=concurrency)
    scheduler = build_scheduler(services.uow, tick_seconds)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(runner.run)
        tasks.start_soon(scheduler.run, runner.wake)
