"""Events into the outbox, in the transaction of the change that caused them.

When something happens in a registry (a push, a pull, a delete, a finished cleanup run),
the code making the change calls `record_event` with its open store. If an enabled webhook
of the registry subscribes to that type, the event is stored with a pending delivery per
such webhook and a queued job per delivery, all committing (or rolling back) with the
change itself: an answered push always has its event, and a restart loses nothing. When no
webhook listens, nothing is written — pulls are frequent, and an event nobody receives is
only weight.

Pulls are the exception to "same transaction": the pull path never writes. `PullRecorder`
(in `artifacts`) keeps pulls in memory and hands them to `record_pull_events` in its batched
flush, one event per pull.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from moorage.domain.jobs.specs import JobSpec
from moorage.domain.kernel.model import Event, Execution, Image, Webhook
from moorage.domain.webhooks.payloads import EventType
from moorage.domain.webhooks.ports import WebhookTx

MAX_ATTEMPTS = 8  # then the delivery is marked failed
DELIVERY_JOB = JobSpec(
    "webhook_delivery",
    # Room for attempts lost to a worker dying mid-run; the delivery row itself stops at
    # its own `max_attempts` sends.
    max_attempts=MAX_ATTEMPTS + 2,
    timeout_seconds=60,
    backoff_base_seconds=5,  # the operator's `webhook_retry_base_seconds` replaces it
    backoff_cap_seconds=900,
    dedupe_on=("delivery_id",),
)
"""One delivery's next attempt (payload: delivery_id); the handler is
`WebhookDeliverer.deliver`, which raises DeliveryFailed to be retried."""
JOB_KIND = DELIVERY_JOB.kind


def subscribers(webhooks: Sequence[Webhook], event_type: EventType) -> list[Webhook]:
    return [w for w in webhooks if w.enabled and event_type.value in w.event_types]


def enqueue_delivery(
    store: WebhookTx,
    webhook_id: int,
    event: Event,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    queue: bool = True,
) -> int:
    """A pending delivery of the event to one webhook, and (with `queue`) its job."""
    delivery_id = store.outbox.add_delivery(webhook_id, event, max_attempts, now)
    if queue:
        extra = DELIVERY_JOB.max_attempts - MAX_ATTEMPTS
        DELIVERY_JOB.enqueue(
            store.jobs, {"delivery_id": delivery_id}, now, max_attempts=max_attempts + extra
        )
    return delivery_id


def record_event(
    store: WebhookTx,
    registry_id: int,
    event_type: EventType,
    operator: str | None,
    data: dict[str, Any],
    now: datetime,
    *,
    webhooks: Sequence[Webhook] | None = None,
) -> Event | None:
    """Store the event and queue a delivery to every enabled webhook of the registry that
    subscribes to its type, in the caller's transaction. None (nothing stored) when no
    webhook listens. `webhooks` saves the lookup when the caller has the registry's list."""
    found = store.webhooks.list_webhooks(registry_id) if webhooks is None else webhooks
    targets = subscribers(found, event_type)
    if not targets:
        return None
    event = Event(str(uuid.uuid4()), registry_id, event_type.value, now, operator, data)
    store.outbox.add_event(event)
    for webhook in targets:
        enqueue_delivery(store, webhook.id, event, now)
    return event


def artifact_data(
    image: Image, digest: str, tag: str | None, tags: Sequence[str]
) -> dict[str, Any]:
    """The facts of an artifact event (see `webhook_payloads` for how they are sent)."""
    return {
        "registry": image.registry,
        "image": image.name,
        "digest": digest,
        "tag": tag,
        "tags": list(tags),
        "image_created_at": int(image.created_at.timestamp()),
    }


def record_artifact_event(
    store: WebhookTx,
    image: Image,
    event_type: EventType,
    digest: str,
    *,
    tag: str | None,
    tags: Sequence[str],
    operator: str | None,
    now: datetime,
    webhooks: Sequence[Webhook] | None = None,
) -> Event | None:
    """`record_event` for a push, pull or delete of one artifact."""
    data = artifact_data(image, digest, tag, tags)
    return record_event(
        store, image.registry_id, event_type, operator, data, now, webhooks=webhooks
    )


def record_cleanup_event(
    store: WebhookTx,
    execution: Execution,
    registry: str,
    status: str,
    counts: dict[str, int],
    now: datetime,
) -> Event | None:
    """A finished real cleanup run; Harbor names the trigger as the operator."""
    assert execution.registry_id is not None
    data = {
        "registry": registry,
        "execution_id": execution.id,
        "status": status,
        "trigger": execution.trigger,
        "counts": dict(counts),
    }
    return record_event(
        store, execution.registry_id, EventType.CLEANUP, execution.trigger, data, now
    )
