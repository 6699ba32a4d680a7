"""Webhooks of a registry (SPEC §12): validated CRUD, delivery history and the test action.

A webhook sends chosen event types to an http(s) address, as Harbor's JSON, CloudEvents or
(kind `slack`) a Slack message. Addresses are checked when a webhook is created or changed:
only http and https, a host, no credentials in the URL (they belong in `auth_header`), no
whitespace; and, through the `WebhookSender`, no address inside the deployment's network
unless the operator allows private targets. The auth header is stored as given (it has to
be sent) but never shown back in full.

Events are recorded by `webhook_events`, sent by `webhook_delivery`, and shaped by
`webhook_payloads`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from moorage.domain.kernel.addresses import (  # moved to the kernel, importable from here too
    literal_ip as literal_ip,
)
from moorage.domain.kernel.addresses import refused_ip as refused_ip
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import InvalidInput
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import DeliveryAttempt, Event, Page, Webhook, WebhookDelivery
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.webhooks.delivery import WebhookDeliverer
from moorage.domain.webhooks.errors import (
    DeliveryNotFound,
    InvalidWebhook,
    InvalidWebhookAddress,
    WebhookNotFound,
)
from moorage.domain.webhooks.events import enqueue_delivery
from moorage.domain.webhooks.payloads import ARTIFACT_EVENTS, EventType
from moorage.domain.webhooks.ports import WebhookSender, WebhookTx

T = TypeVar("T")

KINDS = ("http", "slack")
PAYLOAD_FORMATS = ("default", "cloudevents")
EVENT_ALIASES = {"TAG_RETENTION": EventType.CLEANUP}  # Harbor's name for cleanup
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "skipped")
EVENT_RETENTION = timedelta(days=30)  # finished deliveries are kept this long
MAX_ADDRESS = 2048
MAX_AUTH_HEADER = 4096
MAX_NAME = 255


# addresses -------------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)


def check_address(address: str) -> str:
    """A webhook address as given: http or https, a host, no credentials, no whitespace."""
    if not address:
        raise InvalidWebhookAddress("the address is empty")
    if len(address) > MAX_ADDRESS:
        raise InvalidWebhookAddress(f"the address is longer than {MAX_ADDRESS} characters")
    if _has_control(address):
        raise InvalidWebhookAddress("the address must not contain whitespace or control characters")
    try:
        parts = urlsplit(address)
    except ValueError:  # such as an unclosed IPv6 bracket
        raise InvalidWebhookAddress("the address is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        shown = f"{parts.scheme}://" if parts.scheme else "an address without a scheme"
        raise InvalidWebhookAddress(
            f"only http:// and https:// addresses are accepted, not {shown}"
        )
    if "@" in parts.netloc:
        raise InvalidWebhookAddress(
            "credentials in the address are not accepted: put them in auth_header"
        )
    if not parts.hostname:
        raise InvalidWebhookAddress("the address has no host")
    try:
        port = parts.port  # urlsplit checks the port only when asked for it
    except ValueError:
        port = 0
    if port == 0:
        raise InvalidWebhookAddress("the address has an invalid port")
    if parts.fragment:
        raise InvalidWebhookAddress("the address must not have a #fragment")
    return address


def mask_secret(value: str) -> str:
    """What the API shows of an auth header: a hint of its start and its length."""
    shown = value[:3] if len(value) >= 12 else ""
    return f"{shown}…({len(value)} chars)"


# what a webhook is -----------------------------------------------------------------------------


def _event_types(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise InvalidWebhook("choose at least one event type")
    chosen: set[EventType] = set()
    for value in values:
        if value in EVENT_ALIASES:
            chosen.add(EVENT_ALIASES[value])
        elif value in EventType.__members__:
            chosen.add(EventType(value))
        else:
            allowed = ", ".join([*EventType.__members__, *EVENT_ALIASES])
            raise InvalidWebhook(f"unknown event type {value[:64]!r}: use {allowed}")
    return tuple(t.value for t in EventType if t in chosen)


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """A webhook as a caller describes it. `auth_header` None means none (create) or
    unchanged (update); "" removes it; the masked value shown by the API keeps it too."""

    name: str
    kind: str
    address: str
    event_types: tuple[str, ...]
    auth_header: str | None = None
    skip_tls_verify: bool = False
    payload_format: str = "default"
    enabled: bool = True

    def validated(self) -> WebhookSpec:
        name = self.name.strip()
        if not name or len(name) > MAX_NAME or _has_control(name.replace(" ", "")):
            raise InvalidWebhook(f"the name must be 1 to {MAX_NAME} printable characters")
        if self.kind not in KINDS:
            raise InvalidWebhook(f"kind must be one of {', '.join(KINDS)}")
        if self.payload_format not in PAYLOAD_FORMATS:
            raise InvalidWebhook(f"payload_format must be one of {', '.join(PAYLOAD_FORMATS)}")
        if self.kind == "slack" and self.payload_format != "default":
            raise InvalidWebhook("Slack webhooks get Slack messages: payload_format is default")
        header = self.auth_header
        if header and (len(header) > MAX_AUTH_HEADER or _has_control(header.replace(" ", ""))):
            raise InvalidWebhook(
                f"auth_header must be at most {MAX_AUTH_HEADER} printable characters"
            )
        return replace(
            self,
            name=name,
            address=check_address(self.address),
            event_types=_event_types(self.event_types),
        )

    def values(self, current: Webhook | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "skip_tls_verify": self.skip_tls_verify,
            "event_types": list(self.event_types),
            "payload_format": self.payload_format,
            "enabled": self.enabled,
        }
        if current is None:
            values["auth_header"] = self.auth_header or None
        elif self.auth_header == "":
            values["auth_header"] = None
        elif self.auth_header is not None and not self._is_mask_of(current.auth_header):
            values["auth_header"] = self.auth_header
        return values

    def _is_mask_of(self, secret: str | None) -> bool:
        return secret is not None and self.auth_header == mask_secret(secret)


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: WebhookDelivery
    attempts: list[DeliveryAttempt]


def _sample_data(registry: str, event_type: EventType, now: datetime) -> dict[str, Any]:
    """A made-up event of the type, for the test action."""
    if event_type in ARTIFACT_EVENTS:
        digest = "sha256:" + hashlib.sha256(b"moorage webhook test").hexdigest()
        return {
            "registry": registry,
            "image": "webhook-test",
            "digest": digest,
            "tag": "test",
            "tags": ["test"],
            "image_created_at": int(now.timestamp()),
        }
    if event_type is EventType.CLEANUP:
        counts = dict.fromkeys(("images", "artifacts", "deleted", "kept", "protected", "failed"), 0)
        return {
            "registry": registry,
            "execution_id": 0,
            "status": "succeeded",
            "trigger": "manual",
            "counts": counts,
        }
    replication = {"job_status": "Success", "description": "moorage webhook test"}
    return {"registry": registry, "replication": replication}


class WebhookService:
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
        self._clock = clock
        self.deliverer = WebhookDeliverer(
            uow, sender, public_host=public_host, clock=clock, blocking=self._blocking
        )

    def _in_registry(
        self, registry: str, fn: Callable[[WebhookTx, int], T], *, write: bool = False
    ) -> T:
        with self._uow(write=write) as store:
            return fn(store, existing_registry(store, registry).id)

    @staticmethod
    def _existing(store: WebhookTx, registry_id: int, webhook_id: int) -> Webhook:
        found = store.webhooks.get_webhook(webhook_id)
        if found is None or found.registry_id != registry_id:
            raise WebhookNotFound(webhook_id)
        return found

    # the webhooks ---------------------------------------------------------------------------

    def webhooks(self, registry: str) -> list[Webhook]:
        return self._in_registry(registry, lambda s, rid: s.webhooks.list_webhooks(rid))

    def get(self, registry: str, webhook_id: int) -> Webhook:
        return self._in_registry(registry, lambda s, rid: self._existing(s, rid, webhook_id))

    def _checked(self, spec: WebhookSpec) -> WebhookSpec:
        valid = spec.validated()
        self._sender.check_address(valid.address)  # resolves names: outside any transaction
        return valid

    def create(self, registry: str, spec: WebhookSpec) -> Webhook:
        valid = self._checked(spec)

        def add(store: WebhookTx, registry_id: int) -> Webhook:
            new_id = store.webhooks.add_webhook(registry_id, valid.values(None), self._clock())
            return self._existing(store, registry_id, new_id)

        return self._in_registry(registry, add, write=True)

    def update(self, registry: str, webhook_id: int, spec: WebhookSpec) -> Webhook:
        valid = self._checked(spec)

        def change(store: WebhookTx, registry_id: int) -> Webhook:
            current = self._existing(store, registry_id, webhook_id)
            store.webhooks.update_webhook(webhook_id, valid.values(current), self._clock())
            return self._existing(store, registry_id, webhook_id)

        return self._in_registry(registry, change, write=True)

    def delete(self, registry: str, webhook_id: int) -> None:
        def remove(store: WebhookTx, registry_id: int) -> None:
            self._existing(store, registry_id, webhook_id)
            store.webhooks.delete_webhook(webhook_id)

        self._in_registry(registry, remove, write=True)

    # deliveries -----------------------------------------------------------------------------

    def deliveries(
        self,
        registry: str,
        webhook_id: int,
        page: int,
        page_size: int,
        status: str | None = None,
    ) -> Page[DeliveryDetail]:
        """A webhook's deliveries, newest first, each with its attempts."""
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(DELIVERY_STATUSES)}")

        def read(store: WebhookTx, registry_id: int) -> Page[DeliveryDetail]:
            self._existing(store, registry_id, webhook_id)
            offset = (page - 1) * page_size
            items, total = store.outbox.list_deliveries(webhook_id, status, offset, page_size)
            attempts = store.outbox.delivery_attempts([d.id for d in items])
            return Page([DeliveryDetail(d, attempts.get(d.id, [])) for d in items], total)

        return self._in_registry(registry, read)

    def _detail(self, delivery_id: int) -> DeliveryDetail:
        with self._uow() as store:
            found = store.outbox.get_delivery(delivery_id)
            if found is None:
                raise DeliveryNotFound(f"delivery {delivery_id} does not exist")
            return DeliveryDetail(
                found, store.outbox.delivery_attempts([delivery_id]).get(found.id, [])
            )

    async def test(self, registry: str, webhook_id: int, operator: str | None) -> DeliveryDetail:
        """Send a sample event of the webhook's first event type now, once, through the
        delivery path (recorded in its history); enabled or not."""
        delivery_id = await self._blocking.run(self._queue_test, registry, webhook_id, operator)
        await self.deliverer.deliver(delivery_id, even_if_disabled=True)
        return await self._blocking.run(self._detail, delivery_id)

    def _queue_test(self, registry: str, webhook_id: int, operator: str | None) -> int:
        def queue(store: WebhookTx, registry_id: int) -> int:
            webhook = self._existing(store, registry_id, webhook_id)
            event_type = EventType(webhook.event_types[0])
            now = self._clock()
            data = _sample_data(registry, event_type, now)
            event = Event(str(uuid.uuid4()), registry_id, event_type.value, now, operator, data)
            store.outbox.add_event(event)
            return enqueue_delivery(store, webhook.id, event, now, max_attempts=1, queue=False)

        return self._in_registry(registry, queue, write=True)

    def purge(self) -> int:
        """Forget events, deliveries and finished jobs older than EVENT_RETENTION."""
        before = self._clock() - EVENT_RETENTION
        with self._uow(write=True) as store:
            return store.outbox.purge_events(before) + store.jobs.purge_finished_jobs(before)
