"""Webhooks, events, deliveries and their attempts, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them: `registry_webhook`, `webhook_delivery` and
`webhook_attempt` by id, `event` by its id (a string). Deleting a webhook or an event takes
its deliveries and their attempts, as the SQL schema's ON DELETE CASCADE does.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import DeliveryAttempt, Event, Webhook, WebhookDelivery
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.webhooks.ports import WebhookOutbox, WebhookStore

REGISTRY_WEBHOOK = "registry_webhook"
EVENT = "event"
WEBHOOK_DELIVERY = "webhook_delivery"
WEBHOOK_ATTEMPT = "webhook_attempt"
REGISTRY = "registry"

_PENDING = "pending"
# A webhook's columns that its values give: (required, nullable).
_WEBHOOK_REQUIRED = frozenset(
    {"name", "kind", "address", "skip_tls_verify", "event_types", "payload_format", "enabled"}
)
_WEBHOOK_NULLABLE = frozenset({"auth_header"})


def _utc(value: datetime) -> datetime:
    """What a UTC column stores and gives back: the same instant, in UTC; naive is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _json(value: Any) -> Any:
    """What a JSON column gives back for `value` (and a TypeError if it cannot hold it)."""
    return json.loads(json.dumps(value))


def _require(state: MemoryState, table: str, key: object) -> None:
    """A foreign key: the referenced row must exist (SQL raises an IntegrityError)."""
    if key not in state.table(table):
        raise ValueError(f"foreign key: no {table} row {key!r}")


def _delete_deliveries(state: MemoryState, ids: Iterable[int]) -> None:
    """Deliveries with their attempts (ON DELETE CASCADE)."""
    gone = set(ids)
    deliveries, attempts = state.table(WEBHOOK_DELIVERY), state.table(WEBHOOK_ATTEMPT)
    for attempt_id in [k for k, r in attempts.items() if r["delivery_id"] in gone]:
        del attempts[attempt_id]
    for delivery_id in gone:
        deliveries.pop(delivery_id, None)


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

    @staticmethod
    def _values(values: dict[str, Any], *, complete: bool) -> dict[str, Any]:
        unknown = set(values) - _WEBHOOK_REQUIRED - _WEBHOOK_NULLABLE - {"registry_id"}
        if unknown:
            raise TypeError(f"no such registry_webhook columns: {sorted(unknown)}")
        missing = _WEBHOOK_REQUIRED - set(values)
        if complete and missing:
            raise ValueError(f"registry_webhook: NOT NULL columns not given: {sorted(missing)}")
        if "event_types" in values:
            return {**values, "event_types": _json(values["event_types"])}
        return dict(values)

    def _name_taken(self, registry_id: int, name: str, webhook_id: int | None) -> bool:
        return any(
            r["registry_id"] == registry_id and r["name"] == name and r["id"] != webhook_id
            for r in self.state.table(REGISTRY_WEBHOOK).values()
        )

    def list_webhooks(self, registry_id: int) -> list[Webhook]:
        rows = self.state.table(REGISTRY_WEBHOOK).values()
        found = sorted((r for r in rows if r["registry_id"] == registry_id), key=lambda r: r["id"])
        return [_webhook(r) for r in found]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        row = self.state.table(REGISTRY_WEBHOOK).get(webhook_id)
        return _webhook(row) if row else None

    def add_webhook(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        row: Row = {
            **dict.fromkeys(_WEBHOOK_NULLABLE),
            **self._values(values, complete=True),
            "registry_id": registry_id,
            "created_at": _utc(now),
            "updated_at": _utc(now),
        }
        if self._name_taken(registry_id, row["name"], None):
            raise Conflict(f"webhook {values.get('name')!r} already exists")
        _require(self.state, REGISTRY, registry_id)
        row["id"] = self.state.next_id(REGISTRY_WEBHOOK)
        self.state.table(REGISTRY_WEBHOOK)[row["id"]] = row
        return int(row["id"])

    def update_webhook(self, webhook_id: int, values: dict[str, Any], now: datetime) -> bool:
        changes = self._values(values, complete=False)
        row = self.state.table(REGISTRY_WEBHOOK).get(webhook_id)
        if row is None:
            return False
        changed = {**row, **changes}
        if self._name_taken(changed["registry_id"], changed["name"], webhook_id):
            raise Conflict(f"webhook {values.get('name')!r} already exists")
        if "registry_id" in changes:
            _require(self.state, REGISTRY, changes["registry_id"])
        row.update(changes, updated_at=_utc(now))
        return True

    def delete_webhook(self, webhook_id: int) -> bool:
        if self.state.table(REGISTRY_WEBHOOK).pop(webhook_id, None) is None:
            return False
        deliveries = self.state.table(WEBHOOK_DELIVERY)
        _delete_deliveries(
            self.state, [k for k, r in deliveries.items() if r["webhook_id"] == webhook_id]
        )
        return True


class MemoryWebhookOutbox:
    """`WebhookOutbox` over the `event`, `webhook_delivery` and `webhook_attempt` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    # events ---------------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        events = self.state.table(EVENT)
        if event.id in events:
            raise ValueError(f"duplicate key: event {event.id!r}")  # an IntegrityError in SQL
        _require(self.state, REGISTRY, event.registry_id)
        events[event.id] = {
            "id": event.id,
            "registry_id": event.registry_id,
            "type": event.type,
            "occurred_at": _utc(event.occurred_at),
            "operator": event.operator,
            "data": _json(event.data),
        }

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
        before = _utc(before)
        deliveries = self.state.table(WEBHOOK_DELIVERY)
        waiting = {r["event_id"] for r in deliveries.values() if r["status"] == _PENDING}
        events = self.state.table(EVENT)
        gone = {
            event_id
            for event_id, r in events.items()
            if r["occurred_at"] < before and event_id not in waiting
        }
        _delete_deliveries(self.state, [k for k, r in deliveries.items() if r["event_id"] in gone])
        for event_id in gone:
            del events[event_id]
        return len(gone)

    # deliveries -----------------------------------------------------------------------------

    def add_delivery(self, webhook_id: int, event: Event, max_attempts: int, now: datetime) -> int:
        deliveries = self.state.table(WEBHOOK_DELIVERY)
        if any(
            r["webhook_id"] == webhook_id and r["event_id"] == event.id for r in deliveries.values()
        ):
            # An IntegrityError in SQL: one delivery per event and webhook.
            raise ValueError(f"duplicate key: a delivery of event {event.id!r} to {webhook_id}")
        _require(self.state, REGISTRY_WEBHOOK, webhook_id)
        _require(self.state, EVENT, event.id)
        row: Row = {
            "id": self.state.next_id(WEBHOOK_DELIVERY),
            "webhook_id": webhook_id,
            "event_id": event.id,
            "event_type": event.type,
            "status": _PENDING,
            "attempts": 0,
            "max_attempts": max_attempts,
            "body": None,
            "content_type": None,
            "last_status_code": None,
            "last_error": None,
            "created_at": _utc(now),
            "updated_at": _utc(now),
            "delivered_at": None,
        }
        deliveries[row["id"]] = row
        return int(row["id"])

    def get_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        return _delivery(row) if row else None

    def set_delivery_body(self, delivery_id: int, body: str, content_type: str) -> None:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        if row is not None and row["body"] is None:
            row.update(body=body, content_type=content_type)

    def record_delivery_attempt(
        self, delivery_id: int, attempt: DeliveryAttempt | None, status: str, error: str | None
    ) -> bool:
        row = self.state.table(WEBHOOK_DELIVERY).get(delivery_id)
        if row is None or row["status"] != _PENDING:
            return False  # finished by another worker: it stays as it is
        changes: dict[str, Any] = {"status": status, "last_error": error}
        if attempt is not None:
            started_at = _utc(attempt.started_at)
            changes.update(
                attempts=row["attempts"] + 1,
                last_status_code=attempt.status_code,
                updated_at=started_at,
            )
            if attempt.succeeded:
                changes["delivered_at"] = started_at
            attempt_row: Row = {
                "id": self.state.next_id(WEBHOOK_ATTEMPT),
                "delivery_id": delivery_id,
                "number": attempt.number,
                "started_at": started_at,
                "duration_ms": attempt.duration_ms,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "succeeded": attempt.succeeded,
            }
            self.state.table(WEBHOOK_ATTEMPT)[attempt_row["id"]] = attempt_row
        row.update(changes)
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
