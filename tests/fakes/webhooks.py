"""Webhooks, events, deliveries and their attempts, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them: `registry_webhook`, `webhook_delivery` and
`webhook_attempt` by id, `event` by its id (a string), written through `tests.fakes.rows`
(so deleting a webhook or an event takes its deliveries and their attempts, as the SQL
schema's ON DELETE CASCADE does).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import DeliveryAttempt, Event, Webhook, WebhookDelivery
from tests.fakes.rows import (
    UniqueViolation,
    delete_rows,
    insert_row,
    select_rows,
    update_row,
    utc,
)
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.webhooks.ports import WebhookOutbox, WebhookStore

REGISTRY_WEBHOOK = "registry_webhook"
EVENT = "event"
WEBHOOK_DELIVERY = "webhook_delivery"
WEBHOOK_ATTEMPT = "webhook_attempt"

_PENDING = "pending"


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        registry_id=row["registry_id"],
        name=row["name"],
        kind=row["kind"],
        address=row["address"],
        auth_header=row["auth_header"],
        skip_tls_verify=row["skip_tls_verify"],
        event_types=tuple(row["event_types"] or ()),
        payload_format=row["payload_format"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _delivery(row: Row) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        body=row["body"],
        content_type=row["content_type"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
    )


class MemoryWebhookStore:
    """`WebhookStore` over the `registry_webhook` rows (names unique per registry)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def list_webhooks(self, registry_id: int) -> list[Webhook]:
        rows = self.state.table(REGISTRY_WEBHOOK).values()
        found = sorted((r for r in rows if r["registry_id"] == registry_id), key=lambda r: r["id"])
        return [_webhook(r) for r in found]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        row = self.state.table(REGISTRY_WEBHOOK).get(webhook_id)
        return _webhook(row) if row else None

    def add_webhook(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        row: Row = {**values, "registry_id": registry_id, "created_at": now, "updated_at": now}
        try:
            return int(insert_row(self.state, REGISTRY_WEBHOOK, row)["id"])
        except UniqueViolation:
            raise Conflict(f"webhook {values.get('name')!r} already exists") from None

    def update_webhook(self, webhook_id: int, values: dict[str, Any], now: datetime) -> bool:
        try:
            return update_row(
                self.state, REGISTRY_WEBHOOK, webhook_id, {**values, "updated_at": now}
            )
        except UniqueViolation:
            raise Conflict(f"webhook {values.get('name')!r} already exists") from None

    def delete_webhook(self, webhook_id: int) -> bool:
        # Its deliveries and their attempts go by ON DELETE CASCADE.
        return bool(delete_rows(self.state, REGISTRY_WEBHOOK, [webhook_id]))


class MemoryWebhookOutbox:
    """`WebhookOutbox` over the `event`, `webhook_delivery` and `webhook_attempt` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    # events ---------------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        insert_row(
            self.state,
            EVENT,
            {
                "id": event.id,
                "registry_id": event.registry_id,
                "type": event.type,
                "occurred_at": event.occurred_at,
                "operator": event.operator,
                "data": event.data,
            },
        )

    def get_event(self, event_id: str) -> Event | None:
        row = self.state.table(EVENT).get(event_id)
        if row is None:
            return None
        return Event(
            row["id"],
            row["registry_id"],
            row["type"],
            row["occurred_at"],
            row["operator"],
            copy.deepcopy(row["data"]),
        )

    def purge_events(self, before: datetime) -> int:
        before = utc(before)
        waiting = {
            r["event_id"] for r in select_rows(self.state, WEBHOOK_DELIVERY, status=_PENDING)
        }
        gone = [
            event_id
            for event_id, r in self.state.table(EVENT).items()
            if r["occurred_at"] < before and event_id not in waiting
        ]
        return delete_rows(self.state, EVENT, gone)  # their deliveries and attempts go along

    # deliveries -----------------------------------------------------------------------------

    def add_delivery(self, webhook_id: int, event: Event, max_attempts: int, now: datetime) -> int:
        # One delivery per event and webhook: a second is a UniqueViolation (as on SQL).
        values: Row = {
            "webhook_id": webhook_id,
            "event_id": event.id,
            "event_type": event.type,
            "status": _PENDING,
            "attempts": 0,
            "max_attempts": max_attempts,
            "created_at": now,
            "updated_at": now,
        }
        return int(insert_row(self.state, WEBHOOK_DELIVERY, values)["id"])

    def get_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        return _delivery(row) if row else None

    def set_delivery_body(self, delivery_id: int, body: str, content_type: str) -> None:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        if row is not None and row["body"] is None:
            update_row(
                self.state,
                WEBHOOK_DELIVERY,
                delivery_id,
                {"body": body, "content_type": content_type},
            )

    def record_delivery_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt | None, status: str, error: str | None
    ) -> bool:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        if row is None or row["status"] != _PENDING:
            return False  # finished by another worker: it stays as it is
        changes: dict[str, Any] = {"status": status, "last_error": error}
        if attempt is not None:
            changes.update(
                attempts=row["attempts"] + 1,
                last_status_code=attempt.status_code,
                updated_at=attempt.started_at,
            )
            if attempt.succeeded:
                changes["delivered_at"] = attempt.started_at
        update_row(self.state, WEBHOOK_DELIVERY, delivery_id, changes)
        if attempt is not None:
            insert_row(
                self.state,
                WEBHOOK_ATTEMPT,
                {
                    "delivery_id": delivery_id,
                    "number": attempt.number,
                    "started_at": attempt.started_at,
                    "duration_ms": attempt.duration_ms,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "succeeded": attempt.succeeded,
                },
            )
        return True

    def list_deliveries(
        self, webhook_id: int, status: str | None, offset: int, limit: int
    ) -> tuple[list[WebhookDelivery], int]:
        rows = [
            r
            for r in self.state.table(WEBHOOK_DELIVERY).values()
            if r["webhook_id"] == webhook_id and (status is None or r["status"] == status)
        ]
        rows.sort(key=lambda r: r["id"], reverse=True)
        return [_delivery(r) for r in rows[offset : offset + limit]], len(rows)

    def delivery_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        found: dict[int, list[DeliveryAttempt]] = defaultdict(list)
        wanted = set(delivery_ids)
        rows = self.state.table(WEBHOOK_ATTEMPT).values()
        for r in sorted((r for r in rows if r["delivery_id"] in wanted), key=lambda r: r["id"]):
            found[r["delivery_id"]].append(
                DeliveryAttempt(
                    r["number"],
                    r["started_at"],
                    r["duration_ms"],
                    r["status_code"],
                    r["error"],
                    r["succeeded"],
                )
            )
        return found


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    _webhooks: WebhookStore = MemoryWebhookStore(MemoryState())
    _outbox: WebhookOutbox = MemoryWebhookOutbox(MemoryState())
