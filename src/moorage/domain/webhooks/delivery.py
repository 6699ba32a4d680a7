"""Sending one delivery: the webhook delivery job's work, and the test action's.

Each call makes at most one attempt. The job runner retries a failed attempt with
exponential backoff (`DeliveryFailed` tells it to) until the delivery's attempts are spent;
then the delivery is marked failed and the job ends.

The job queue runs jobs at least once (an expired lease is re-claimed), so a delivery is
read before each send and never sent again once it succeeded; the attempt is recorded by
compare-and-swap on the delivery's status. The one window left — a worker dying between a
successful send and recording it — can repeat a delivery, so every request carries an
`Idempotency-Key` (`<event id>-<webhook id>`) the receiver can deduplicate on. The body is
stored with the first recorded attempt, and every later retry sends those same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.model import DeliveryAttempt, Webhook, WebhookDelivery
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.webhooks.errors import DeliveryFailed
from moorage.domain.webhooks.payloads import Rendered, render
from moorage.domain.webhooks.ports import (
    OutboundRequest,
    OutboundResponse,
    WebhookSender,
    WebhookTx,
)

log = logging.getLogger("moorage.webhooks")

PENDING, SUCCEEDED, FAILED, SKIPPED = "pending", "succeeded", "failed", "skipped"


@dataclass(frozen=True, slots=True)
class _Send:
    delivery: WebhookDelivery
    request: OutboundRequest
    rendered: Rendered | None  # a body rendered for the first attempt, to keep with it


_SKIP = "skip"  # the webhook is disabled: record that instead of sending


def delivery_headers(
    delivery: WebhookDelivery, webhook: Webhook, content_type: str
) -> dict[str, str]:
    headers = {
        "Content-Type": content_type,
        "Idempotency-Key": f"{delivery.event_id}-{webhook.id}",
        "X-Moorage-Delivery": str(delivery.id),
        "X-Moorage-Event": delivery.event_type,
    }
    if webhook.auth_header:
        headers["Authorization"] = webhook.auth_header
    return headers


def _outcome(delivery: WebhookDelivery, response: OutboundResponse, number: int) -> str:
    if response.error is None:
        return SUCCEEDED
    if response.refused or number >= delivery.max_attempts:
        return FAILED
    return PENDING


class WebhookDeliverer:
    def __init__(
        self,
        uow: UnitOfWork[WebhookTx],
        sender: WebhookSender,
        *,
        public_host: str | None = None,
        clock: Clock = utcnow,
        blocking: Blocking | None = None,
    ) -> None:
        self._uow = uow
        self._blocking = blocking or Blocking()
        self._sender = sender
        self._host = public_host
        self._clock = clock

    async def deliver(
        self, delivery_id: int, *, even_if_disabled: bool = False
    ) -> WebhookDelivery | None:
        """Make one attempt at a pending delivery; returns the delivery as it ends up (None
        when it is gone with its webhook). Raises DeliveryFailed when the attempt failed
        and attempts are left. A disabled webhook's deliveries are skipped, not sent,
        unless `even_if_disabled` (the test action)."""
        send = await self._blocking.run(self._prepare, delivery_id, even_if_disabled)
        if not isinstance(send, _Send):
            if send == _SKIP:
                await self._blocking.run(self._skip, delivery_id)
            return await self._blocking.run(self._current, delivery_id)
        number = send.delivery.attempts + 1
        started = self._clock()
        response = await self._sender.post(send.request)
        done = await self._blocking.run(self._record, send, number, started, response)
        if done is not None and done.status == PENDING:
            raise DeliveryFailed(
                f"delivery {delivery_id} attempt {number} failed: {response.error}"
            )
        return done

    def _current(self, delivery_id: int) -> WebhookDelivery | None:
        with self._uow() as store:
            return store.outbox.get_delivery(delivery_id)

    def _skip(self, delivery_id: int) -> None:
        error = "the webhook was disabled before this delivery was sent"
        with self._uow(write=True) as store:
            store.outbox.record_delivery_attempt(delivery_id, None, SKIPPED, error)

    def _prepare(self, delivery_id: int, even_if_disabled: bool) -> _Send | str | None:
        """What to send; None when there is nothing to send (any more), _SKIP when the
        webhook is disabled. Only reads: the one write per attempt is `_record`'s."""
        with self._uow() as store:
            delivery = store.outbox.get_delivery(delivery_id)
            if delivery is None or delivery.status != PENDING:
                return None
            webhook = store.webhooks.get_webhook(delivery.webhook_id)
            event = store.outbox.get_event(delivery.event_id)
        if webhook is None or event is None:
            return None
        if not webhook.enabled and not even_if_disabled:
            return _SKIP
        rendered = None
        if delivery.body is None or delivery.content_type is None:
            rendered = render(event, webhook, self._host)
            body, content_type = rendered.body, rendered.content_type
        else:
            body, content_type = delivery.body.encode(), delivery.content_type
        request = OutboundRequest(
            url=webhook.address,
            body=body,
            headers=delivery_headers(delivery, webhook, content_type),
            verify_tls=not webhook.skip_tls_verify,
        )
        return _Send(delivery, request, rendered)

    def _record(
        self, send: _Send, number: int, started: datetime, response: OutboundResponse
    ) -> WebhookDelivery | None:
        """Keep the attempt (and, on the first, the body every retry will send)."""
        delivery = send.delivery
        status = _outcome(delivery, response, number)
        attempt = DeliveryAttempt(
            number=number,
            started_at=started,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            error=response.error,
            succeeded=response.error is None,
        )
        with self._uow(write=True) as store:
            if send.rendered is not None:
                body = send.rendered.body.decode()
                store.outbox.set_delivery_body(delivery.id, body, send.rendered.content_type)
            if not store.outbox.record_delivery_attempt(
                delivery.id, attempt, status, response.error
            ):
                log.info("delivery already finished elsewhere delivery=%d", delivery.id)
            if status == FAILED:
                log.warning(
                    "webhook delivery failed for good delivery=%d webhook=%d attempts=%d error=%s",
                    delivery.id,
                    delivery.webhook_id,
                    number,
                    response.error,
                )
            return store.outbox.get_delivery(delivery.id)
