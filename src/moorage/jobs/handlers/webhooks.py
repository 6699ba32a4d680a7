"""Webhook deliveries (spec: `moorage.domain.webhooks.events.DELIVERY_JOB`, queued with each
event) and the hourly purge of the delivery log."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.webhooks.events import DELIVERY_JOB
from moorage.domain.webhooks.subscriptions import WebhookService
from moorage.jobs.catalog import JobKind

log = logging.getLogger("moorage.jobs")

LOG_PURGE = JobSpec(
    "webhook_log_purge",
    max_attempts=3,
    timeout_seconds=900,
    backoff_base_seconds=60,
    dedupe_on=(),  # one at a time
)
LOG_PURGE_CRON = "30 * * * *"


def delivery(webhooks: WebhookService, retry_base_seconds: float) -> JobKind:
    """One attempt at a delivery; DeliveryFailed (attempts left) has it retried with
    back-off starting at the operator's `webhook_retry_base_seconds`."""
    deliverer = webhooks.deliverer

    async def handle(payload: dict[str, Any]) -> None:
        await deliverer.deliver(int(payload["delivery_id"]))

    return JobKind(replace(DELIVERY_JOB, backoff_base_seconds=retry_base_seconds), handle)


def log_purge(webhooks: WebhookService) -> JobKind:
    """Forget events, deliveries and finished jobs older than the retention period."""

    def handle(payload: dict[str, Any]) -> None:
        purged = webhooks.purge()
        if purged:
            log.info("old webhook events purged count=%d", purged)

    return JobKind(LOG_PURGE, handle, every=LOG_PURGE_CRON)
