"""Webhooks (`WebhookStore`), and the outbox of the events they are sent, their deliveries
and each delivery's attempts (`WebhookOutbox`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, insert, select, update

from moorage.domain.kernel.model import DeliveryAttempt, Event, Webhook, WebhookDelivery
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import insert_unique, new_id

_PENDING = "pending"


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        registry_id=row.registry_id,
        name=row.name,
        kind=row.kind,
        address=row.address,
        auth_header=row.auth_header,
        skip_tls_verify=row.skip_tls_verify,
        event_types=tuple(row.event_types or ()),
        payload_format=row.payload_format,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        body=row.body,
        content_type=row.content_type,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


# Built once at import: every push and delete asks for its registry's webhooks.
_REGISTRY_WEBHOOKS = Prepared(
    select(t.registry_webhook)
    .where(t.registry_webhook.c.registry_id == bindparam("registry_id"))
    .order_by(t.registry_webhook.c.id)
)


class SqlWebhookStore:
    """`WebhookStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def list_webhooks(self, registry_id: int) -> list[Webhook]:
        rows = _REGISTRY_WEBHOOKS.rows(self.conn, {"registry_id": registry_id})
        return [_webhook(r) for r in rows]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        row = self.conn.execute(
            select(t.registry_webhook).where(t.registry_webhook.c.id == webhook_id)
        ).first()
        return _webhook(row) if row else None

    def add_webhook(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        result = insert_unique(
            self.conn,
            insert(t.registry_webhook).values(
                **values, registry_id=registry_id, created_at=now, updated_at=now
            ),
            f"webhook {values.get('name')!r}",
        )
        return new_id(result)

    def update_webhook(self, webhook_id: int, values: dict[str, Any], now: datetime) -> bool:
        # An UPDATE that breaks the unique name goes through the same savepoint as an INSERT.
        result = insert_unique(
            self.conn,
            update(t.registry_webhook)
            .where(t.registry_webhook.c.id == webhook_id)
            .values(**values, updated_at=now),
            f"webhook {values.get('name')!r}",
        )
        return bool(result.rowcount)

    def delete_webhook(self, webhook_id: int) -> bool:
        # Deliveries and attempts go by ON DELETE CASCADE.
        result = self.conn.execute(
            delete(t.registry_webhook).where(t.registry_webhook.c.id == webhook_id)
        )
        return bool(result.rowcount)


class SqlWebhookOutbox:
    """`WebhookOutbox` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # events -----------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        self.conn.execute(
            insert(t.event).values(
                id=event.id,
                registry_id=event.registry_id,
                type=event.type,
                occurred_at=event.occurred_at,
                operator=event.operator,
                data=event.data,
            )
        )

    def get_event(self, event_id: str) -> Event | None:
        row = self.conn.execute(select(t.event).where(t.event.c.id == event_id)).first()
        if row is None:
            return None
        return Event(
            row.id, row.registry_id, row.type, row.occurred_at, row.operator, dict(row.data)
        )

    def purge_events(self, before: datetime) -> int:
        waiting = exists().where(
            t.webhook_delivery.c.event_id == t.event.c.id,
            t.webhook_delivery.c.status == _PENDING,
        )
        result = self.conn.execute(delete(t.event).where(t.event.c.occurred_at < before, ~waiting))
        return int(result.rowcount)

    # deliveries -------------------------------------------------------------------------

    def add_delivery(self, webhook_id: int, event: Event, max_attempts: int, now: datetime) -> int:
        result = self.conn.execute(
            insert(t.webhook_delivery).values(
                webhook_id=webhook_id,
                event_id=event.id,
                event_type=event.type,
                status=_PENDING,
                attempts=0,
                max_attempts=max_attempts,
                created_at=now,
                updated_at=now,
            )
        )
        return new_id(result)

    def get_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        row = self.conn.execute(
            select(t.webhook_delivery).where(t.webhook_delivery.c.id == delivery_id)
        ).first()
        return _delivery(row) if row else None

    def set_delivery_body(self, delivery_id: int, body: str, content_type: str) -> None:
        self.conn.execute(
            update(t.webhook_delivery)
            .where(t.webhook_delivery.c.id == delivery_id, t.webhook_delivery.c.body.is_(None))
            .values(body=body, content_type=content_type)
        )

    def record_delivery_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt | None, status: str, error: str | None
    ) -> bool:
        d = t.webhook_delivery
        values: dict[str, Any] = {"status": status, "last_error": error}
        if attempt is not None:
            values.update(
                attempts=d.c.attempts + 1,
                last_status_code=attempt.status_code,
                updated_at=attempt.started_at,
            )
            if attempt.succeeded:
                values["delivered_at"] = attempt.started_at
        # Compare-and-swap on the status: a delivery finished by another worker stays as is.
        changed = self.conn.execute(
            update(d).where(d.c.id == delivery_id, d.c.status == _PENDING).values(**values)
        )
        if changed.rowcount != 1:
            return False
        if attempt is not None:
            self.conn.execute(
                insert(t.webhook_attempt).values(
                    delivery_id=delivery_id,
                    number=attempt.number,
                    started_at=attempt.started_at,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    succeeded=attempt.succeeded,
                )
            )
        return True

    def list_deliveries(
        self, webhook_id: int, status: str | None, offset: int, limit: int
    ) -> tuple[list[WebhookDelivery], int]:
        d = t.webhook_delivery
        where = [d.c.webhook_id == webhook_id]
        if status is not None:
            where.append(d.c.status == status)
        total = self.conn.execute(select(func.count()).select_from(d).where(and_(*where)))
        rows = self.conn.execute(
            select(d).where(*where).order_by(d.c.id.desc()).offset(offset).limit(limit)
        )
        items = [_delivery(r) for r in rows]
        return items, int(total.scalar_one())

    def delivery_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        found: dict[int, list[DeliveryAttempt]] = defaultdict(list)
        if not delivery_ids:
            return found
        a = t.webhook_attempt
        rows = self.conn.execute(
            select(a).where(a.c.delivery_id.in_(list(delivery_ids))).order_by(a.c.id)
        )
        for r in rows:
            found[r.delivery_id].append(
                DeliveryAttempt(
                    r.number, r.started_at, r.duration_ms, r.status_code, r.error, r.succeeded
                )
            )
        return found
