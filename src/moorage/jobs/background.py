"""All background work of a process: the job runner and the scheduler, in `serve` (unless
`run_jobs` is off) or as `moorage worker`.

Periodic work (upload expiry, the webhook log purge) is queued by system schedules — rows of
the schedule table of kind `system`, the job kind as subject — that every process creates
idempotently when it starts. The scheduler advances a due schedule by compare-and-set, so
each due time queues one job across all processes and nodes, and the runner's claim runs it
once; the job's dedupe key keeps a second one from queueing while one is still running.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import anyio

from moorage.domain.gc.service import GC_SCHEDULE
from moorage.domain.kernel.clock import utcnow
from moorage.domain.kernel.model import Schedule
from moorage.domain.policies.runs import CLEANUP_SCHEDULE
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.ports import Transaction, UnitOfWorkFactory
from moorage.domain.replication.runs import KIND as REPLICATION_SCHEDULE
from moorage.jobs.catalog import JobCatalog, JobKind
from moorage.jobs.handlers import build_catalog
from moorage.jobs.runner import Runner
from moorage.jobs.scheduler import Scheduler, Trigger
from moorage.jobs.services import JobServices

log = logging.getLogger("moorage.jobs")
SYSTEM_SCHEDULE = "system"
"""The schedule kind of moorage's own periodic work; the subject is the job kind."""


def periodic(catalog: JobCatalog) -> list[JobKind]:
    return [kind for kind in catalog if kind.every is not None]


def ensure_system_schedules(uow: UnitOfWorkFactory, kinds: Iterable[JobKind], now: datetime) -> int:
    """Create each periodic kind's system schedule, or update its cron when it changed;
    returns how many were written. A schedule already right is left as it is (its next run
    time too), so every process may call this at start."""
    written = 0
    with uow(write=True) as store:
        for kind in kinds:
            assert kind.every is not None
            found = store.schedules.get_schedule(SYSTEM_SCHEDULE, kind.name)
            if found is not None and found.cron == kind.every:
                continue
            following = parse_cron(kind.every).next_after(now)
            store.schedules.put_schedule(SYSTEM_SCHEDULE, kind.name, kind.every, following, now)
            written += 1
    return written


def system_trigger(catalog: JobCatalog) -> Trigger:
    """Queue the periodic job a system schedule names, in the transaction that advanced it."""

    def trigger(store: Transaction, schedule: Schedule, now: datetime) -> None:
        kind = catalog.get(schedule.subject)
        if kind is None or kind.every is None:
            log.warning("system schedule of an unknown job kind=%s", schedule.subject)
            return
        if kind.spec.enqueue(store.jobs, {}, now) is None:
            log.info("periodic job still queued or running, not queued again kind=%s", kind.name)

    return trigger


def build_scheduler(services: JobServices, catalog: JobCatalog) -> Scheduler:
    return Scheduler(
        services.uow,
        {
            CLEANUP_SCHEDULE: services.cleanup_runs.fire_schedule,
            GC_SCHEDULE: services.gc.fire_schedule,
            REPLICATION_SCHEDULE: services.replication_runs.fire_schedule,
            SYSTEM_SCHEDULE: system_trigger(catalog),
        },
        tick_seconds=services.settings.schedule_tick_seconds,
        blocking=services.blocking,
    )


async def _schedule(
    services: JobServices, catalog: JobCatalog, scheduler: Scheduler, runner: Runner
) -> None:
    """Make sure the system schedules exist, then fire due schedules until cancelled."""
    tick = services.settings.schedule_tick_seconds
    failures = 0
    while True:
        try:
            await services.blocking.run(
                ensure_system_schedules, services.uow, periodic(catalog), utcnow()
            )
            break
        except Exception:
            # The first failure is most likely another process creating the same schedule
            # at the same moment: the next try finds it.
            failures += 1
            if failures > 1:
                log.exception("creating the system schedules failed")
            await anyio.sleep(tick if failures > 1 else 0)
    await scheduler.run(runner.wake)


async def run_background(services: JobServices) -> None:
    """The runner and the scheduler, until cancelled."""
    settings = services.settings
    catalog = build_catalog(services)
    runner = Runner(
        services.uow,
        catalog,
        concurrency=settings.job_concurrency,
        lease=timedelta(seconds=settings.job_lease_seconds),
        blocking=services.blocking,
    )
    scheduler = build_scheduler(services, catalog)
    log.info("background work started worker=%s kinds=%s", runner.worker, ",".join(catalog.names))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(runner.run)
        tasks.start_soon(_schedule, services, catalog, scheduler, runner)
