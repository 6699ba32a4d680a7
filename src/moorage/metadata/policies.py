"""Protection and cleanup policy rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from moorage.domain.model import CleanupPolicyRecord, ProtectionPolicyRecord
from moorage.metadata import tables as t


class PolicyQueries:
    """Mixed into SqlMetadataStore."""

    conn: Connection

    def _rows(self, table: Table, registry_id: int) -> list[Any]:
        query = select(table).where(table.c.registry_id == registry_id).order_by(table.c.id)
        return list(self.conn.execute(query))

    def _add(self, table: Table, values: dict[str, Any], now: datetime) -> int:
        result = self.conn.execute(insert(table).values(**values, created_at=now, updated_at=now))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _update(self, table: Table, policy_id: int, values: dict[str, Any], now: datetime) -> bool:
        result = self.conn.execute(
            update(table).where(table.c.id == policy_id).values(**values, updated_at=now)
        )
        return bool(result.rowcount)

    def _delete(self, table: Table, policy_id: int) -> bool:
        return bool(self.conn.execute(delete(table).where(table.c.id == policy_id)).rowcount)

    def protection_policies(self, registry_id: int) -> list[ProtectionPolicyRecord]:
        return [
            ProtectionPolicyRecord(**row._asdict())
            for row in self._rows(t.protection_policy, registry_id)
        ]

    def add_protection_policy(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        return self._add(t.protection_policy, {**values, "registry_id": registry_id}, now)

    def update_protection_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool:
        return self._update(t.protection_policy, policy_id, values, now)

    def delete_protection_policy(self, policy_id: int) -> bool:
        return self._delete(t.protection_policy, policy_id)

    def cleanup_policies(self, registry_id: int) -> list[CleanupPolicyRecord]:
        return [
            CleanupPolicyRecord(**row._asdict())
            for row in self._rows(t.cleanup_policy, registry_id)
        ]

    def add_cleanup_policy(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        return self._add(t.cleanup_policy, {**values, "registry_id": registry_id}, now)

    def update_cleanup_policy(self, policy_id: int, values: dict[str, Any], now: datetime) -> bool:
        return self._update(t.cleanup_policy, policy_id, values, now)

    def delete_cleanup_policy(self, policy_id: int) -> bool:
        return self._delete(t.cleanup_policy, policy_id)
