"""The job kinds moorage runs, wired to the domain services that do the work."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.to_thread

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.policies import runs as cleanup_runs
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.ports import Services, UnitOfWorkFactory
from moorage.domain.webhooks import events as webhook_events
from moorage.domain.webhooks.delivery import WebhookDeliverer
from moorage.domain.webhooks.subscriptions import WebhookService
from moorage.jobs.catalog import JobCatalog, JobKind
from moorage.jobs.runner import Runner
from moorage.jobs.scheduler import Scheduler

log = logging.getLogger("moorage.jobs")
HOUSEKEEPING_SECONDS = 3600.0


def build_catalog(services: Services) -> JobCatalog:
    uow = services.uow
    cleanup = CleanupRunService(uow, ArtifactService(uow))
    deliverer = WebhookDeliverer(uow, services.webhook_sender, public_host=services.public_host)

    async def run_cleanup(payload: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(cleanup.run, int(payload["execution_id"]))

    async def deliver_webhook(payload: dict[str, Any]) -> None:
        await deliverer.deliver(int(payload["delivery_id"]))

    catalog = JobCatalog()
    catalog.register(
        JobKind(
            cleanup_runs.JOB_KIND,
            run_cleanup,
            max_attempts=3,
            timeout_seconds=cleanup_runs.JOB_TIMEOUT_SECONDS,
        )
    )
    catalog.register(
        JobKind(
            webhook_events.JOB_KIND,
            deliver_webhook,
            # The delivery row counts sends and stops at MAX_ATTEMPTS; the job may need a
            # couple more runs when a worker died during one.
            max_attempts=webhook_events.MAX_ATTEMPTS + 2,
            timeout_seconds=60,
            backoff_base_seconds=services.webhook_retry_base_seconds,
            backoff_cap_seconds=900,
        )
    )
    return catalog


def build_scheduler(uow: UnitOfWorkFactory, tick_seconds: float = 5.0) -> Scheduler:
    cleanup = CleanupRunService(uow, ArtifactService(uow))
    return Scheduler(uow, {cleanup_runs.KIND: cleanup.fire_schedule}, tick_seconds=tick_seconds)


async def _housekeeping(services: Services) -> None:
    """Forget old webhook events and deliveries, now and then (idempotent on every node)."""
    webhooks = WebhookService(services.uow, services.webhook_sender)
    while True:
        try:
            purged = await anyio.to_thread.run_sync(webhooks.purge)
            if purged:
                log.info("old webhook events purged count=%d", purged)
        except Exception:
            log.exception("purging webhook events failed")
        await anyio.sleep(HOUSEKEEPING_SECONDS)


async def run_background(services: Services, concurrency: int, tick_seconds: float) -> None:
    """The runner and the scheduler, until cancelled (in `serve`, or as `moorage worker`)."""
    runner = Runner(services.uow, build_catalog(services), concurrency=concurrency)
    scheduler = build_scheduler(services.uow, tick_seconds)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(runner.run)
        tasks.start_soon(scheduler.run, runner.wake)
        tasks.start_soon(_housekeeping, services)
