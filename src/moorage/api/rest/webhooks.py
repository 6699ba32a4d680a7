"""/registries/{registry}/webhooks: targets of a registry's events, their deliveries, a test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import Path, Query, Response
from pydantic import BaseModel, Field

from moorage.api.rest.deps import Paging, Services, page_of
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import Body, PageOut
from moorage.api.rest.security import Caller, Security
from moorage.domain.identity.access import Action
from moorage.domain.kernel.model import Webhook
from moorage.domain.webhooks.subscriptions import DeliveryDetail, WebhookSpec, mask_secret

router = api_router(prefix="/registries/{registry}/webhooks", tags=["webhooks"])

# Ids are 32-bit in the database: a larger one is a 422, never a failing query.
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeliveryStatus = Literal["pending", "succeeded", "failed", "skipped"]
# The first is the default order: the order webhooks were added in.
WEBHOOK_SORTS: dict[str, Callable[[Webhook], Any]] = {
    "id": lambda w: w.id,
    "name": lambda w: w.name,
    "created_at": lambda w: w.created_at,
    "updated_at": lambda w: w.updated_at,
}
EventTypeName = Literal[
    "PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "REPLICATION", "CLEANUP", "TAG_RETENTION"
]


class WebhookIn(Body):
    name: str = Field(min_length=1, max_length=255, examples=["ci"])
    kind: Literal["http", "slack"] = "http"
    address: str = Field(
        min_length=1,
        max_length=2048,
        description="http:// or https:// URL; no credentials in it (use auth_header)",
        examples=["https://ci.example.com/hooks/registry"],
    )
    auth_header: str | None = Field(
        None,
        max_length=4096,
        description="sent as `Authorization`. On update: omitted, null or the masked value "
        "shown by the API keep the current one; an empty string removes it",
        examples=["Bearer 0123456789abcdef"],
    )
    skip_tls_verify: bool = False
    event_types: list[EventTypeName] = Field(
        min_length=1,
        max_length=6,
        description="TAG_RETENTION (Harbor's name) is taken as CLEANUP",
    )
    payload_format: Literal["default", "cloudevents"] = Field(
        "default", description="Harbor's JSON or CloudEvents 1.0; Slack webhooks get Block Kit"
    )
    enabled: bool = True

    def spec(self) -> WebhookSpec:
        return WebhookSpec(
            name=self.name,
            kind=self.kind,
            address=self.address,
            event_types=tuple(self.event_types),
            auth_header=self.auth_header,
            skip_tls_verify=self.skip_tls_verify,
            payload_format=self.payload_format,
            enabled=self.enabled,
        )


class WebhookOut(BaseModel):
    id: int
    name: str
    kind: str
    address: str
    auth_header: str | None = Field(description="masked: a hint of its start and its length")
    auth_header_set: bool
    skip_tls_verify: bool
    event_types: list[str]
    payload_format: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="the target's HTTP status; null without one")
    error: str | None
    succeeded: bool


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    content_type: str | None
    body: str | None = Field(description="what was sent (the same on every attempt)")
    history: list[AttemptOut]


def _webhook(w: Webhook) -> WebhookOut:
    return WebhookOut(
        id=w.id,
        name=w.name,
        kind=w.kind,
        address=w.address,
        auth_header=mask_secret(w.auth_header) if w.auth_header else None,
        auth_header_set=bool(w.auth_header),
        skip_tls_verify=w.skip_tls_verify,
        event_types=list(w.event_types),
        payload_format=w.payload_format,
        enabled=w.enabled,
        created_at=w.created_at,
        updated_at=w.updated_at,
    )


def _delivery(detail: DeliveryDetail) -> DeliveryOut:
    d = detail.delivery
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=cast(DeliveryStatus, d.status),
        attempts=d.attempts,
        max_attempts=d.max_attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        updated_at=d.updated_at,
        delivered_at=d.delivered_at,
        content_type=d.content_type,
        body=d.body,
        history=[
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                duration_ms=a.duration_ms,
                status_code=a.status_code,
                error=a.error,
                succeeded=a.succeeded,
            )
            for a in detail.attempts
        ],
    )


@router.get("", name="list_webhooks", response_model=PageOut[WebhookOut])
def list_webhooks(
    registry: str, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[WebhookOut]:
    """`q` searches names and addresses; sort by `id` (default), `name`, `created_at` or
    `updated_at`."""
    security.require(caller, registry, Action.PULL)
    webhooks = services.webhooks.webhooks(registry)
    shown, total = page_of(webhooks, paging, WEBHOOK_SORTS, lambda w: f"{w.name}\n{w.address}")
    items = [_webhook(w) for w in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post("", name="create_webhook", status_code=201, response_model=WebhookOut)
def create_webhook(
    registry: str, body: WebhookIn, services: Services, security: Security, caller: Caller
) -> WebhookOut:
    """Only http(s) addresses, without credentials in them; loopback, link-local and
    private addresses only when the operator allows them. Names are unique per registry."""
    security.require(caller, registry, Action.PUSH)
    return _webhook(services.webhooks.create(registry, body.spec()))


@router.get("/{webhook_id}", name="get_webhook", response_model=WebhookOut)
def get_webhook(
    registry: str, webhook_id: WebhookId, services: Services, security: Security, caller: Caller
) -> WebhookOut:
    security.require(caller, registry, Action.PULL)
    return _webhook(services.webhooks.get(registry, webhook_id))


@router.put("/{webhook_id}", name="update_webhook", response_model=WebhookOut)
def update_webhook(
    registry: str,
    webhook_id: WebhookId,
    body: WebhookIn,
    services: Services,
    security: Security,
    caller: Caller,
) -> WebhookOut:
    """Replace the settings (enable or disable with `enabled`); see `auth_header`."""
    security.require(caller, registry, Action.PUSH)
    spec = body.spec()
    return _webhook(services.webhooks.update(registry, webhook_id, spec))


@router.delete("/{webhook_id}", name="delete_webhook", status_code=204)
def delete_webhook(
    registry: str, webhook_id: WebhookId, services: Services, security: Security, caller: Caller
) -> Response:
    """Delete the webhook with its delivery history; pending deliveries are dropped."""
    security.require(caller, registry, Action.DELETE)
    services.webhooks.delete(registry, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/test", name="test_webhook", response_model=DeliveryOut)
async def test_webhook(
    registry: str, webhook_id: WebhookId, services: Services, security: Security, caller: Caller
) -> DeliveryOut:
    """Send a sample event of the webhook's first event type now, once, and return the
    delivery (also kept in the history). A failed test answers 200 with the error."""
    await services.blocking.run(security.require, caller, registry, Action.PUSH)
    return _delivery(await services.webhooks.test(registry, webhook_id, caller.username))


@router.get(
    "/{webhook_id}/deliveries", name="list_webhook_deliveries", response_model=PageOut[DeliveryOut]
)
def list_webhook_deliveries(
    registry: str,
    webhook_id: WebhookId,
    services: Services,
    security: Security,
    caller: Caller,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    status: Annotated[
        DeliveryStatus | None,
        Query(description="only deliveries in this state"),
    ] = None,
) -> PageOut[DeliveryOut]:
    """Deliveries, newest first, each with its attempts (time, HTTP status, error,
    duration) and the body sent. Kept 30 days."""
    security.require(caller, registry, Action.PULL)
    found = services.webhooks.deliveries(registry, webhook_id, page, page_size, status)
    return PageOut(
        items=[_delivery(d) for d in found.items],
        total=found.total,
        page=page,
        page_size=page_size,
    )
