"""Role ports of webhooks: subscriptions, the outbox of events and deliveries, the sender."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from moorage.domain.jobs.ports import JobQueue
from moorage.domain.kernel.ports import RegistryTx

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        DeliveryAttempt,
        Event,
        Webhook,
        WebhookDelivery,
    )


class WebhookStore(Protocol):
    """Webhooks of registries."""

    def list_webhooks(self, registry_id: int) -> list[Webhook]:
        """The registry's webhooks, enabled or not, oldest first."""

    def get_webhook(self, webhook_id: int) -> Webhook | None: ...

    def add_webhook(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        """Insert a webhook; raises Conflict when the registry has one of that name."""

    def update_webhook(self, webhook_id: int, values: dict[str, Any], now: datetime) -> bool:
        """Change a webhook; raises Conflict when another one of its registry has the name."""

    def delete_webhook(self, webhook_id: int) -> bool:
        """Delete a webhook with its deliveries and their attempts."""


class WebhookOutbox(Protocol):
    """Events and their deliveries to webhooks, with every attempt."""

    def add_event(self, event: Event) -> None: ...

    def get_event(self, event_id: str) -> Event | None: ...

    def add_delivery(self, webhook_id: int, event: Event, max_attempts: int, now: datetime) -> int:
        """A pending delivery of the event to the webhook; returns its id."""

    def get_delivery(self, delivery_id: int) -> WebhookDelivery | None: ...

    def set_delivery_body(self, delivery_id: int, body: str, content_type: str) -> None:
        """Freeze what the delivery sends; a no-op once a body is set (retries resend it)."""

    def record_delivery_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt | None, status: str, error: str | None
    ) -> bool:
        """Add an attempt (if any) and set the status, only while the delivery is pending.

        False when it is not pending any more (another worker finished it): nothing changes.
        """

    def list_deliveries(
        self, webhook_id: int, status: str | None, offset: int, limit: int
    ) -> tuple[list[WebhookDelivery], int]:
        """A webhook's deliveries, newest first, and how many there are in all."""

    def delivery_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        """The attempts of each delivery, in order."""

    def purge_events(self, before: datetime) -> int:
        """Delete events older than `before` (with their deliveries) that nothing still
        waits to deliver; returns how many went."""


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One webhook POST."""

    url: str
    body: bytes
    headers: dict[str, str]
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status_code: int | None  # None: no HTTP answer (refused, unresolvable, timeout, TLS)
    error: str | None  # None when the target answered 2xx
    duration_ms: int
    refused: bool = False  # the address is not allowed: retrying cannot help


class WebhookSender(Protocol):
    """Calls webhook targets, refusing addresses inside the deployment's network.

    Loopback, link-local, private and other non-global addresses are refused unless the
    operator allowed them: when a webhook is created (`check_address`) and again on every
    delivery, after resolving the name, so DNS cannot be used to reach inside.
    """

    def check_address(self, url: str) -> None:
        """Raise `moorage.domain.webhooks.RefusedAddress` when the URL's host is, or
        resolves to, a refused address. A name that does not resolve now passes (each
        delivery checks again)."""

    async def post(self, request: OutboundRequest) -> OutboundResponse:
        """POST once, following no redirects, within the sender's timeouts. Failures
        (refused, network, timeout, non-2xx) are reported in the response, never raised."""


class WebhookTx(RegistryTx, Protocol):
    """What webhooks use: subscriptions, the outbox, and the queue their deliveries run on."""

    @property
    def webhooks(self) -> WebhookStore: ...

    @property
    def outbox(self) -> WebhookOutbox: ...

    @property
    def jobs(self) -> JobQueue: ...
