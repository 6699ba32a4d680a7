"""Protection and cleanup policy rows, and cleanup's candidates: `PolicyStore`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from moorage.domain.kernel.model import (
    CleanupCandidateRow,
    CleanupPolicyRecord,
    ProtectionPolicyRecord,
)
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import new_id


@cache
def _of_registry(table: Table) -> Prepared:
    """A registry's policies of one kind, built once: every push by tag asks for its
    registry's protection policies."""
    return Prepared(
        select(table).where(table.c.registry_id == bindparam("registry_id")).order_by(table.c.id)
    )


class SqlPolicyStore:
    """`PolicyStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _rows(self, table: Table, registry_id: int) -> list[Any]:
        return _of_registry(table).rows(self.conn, {"registry_id": registry_id})

    def _add(self, table: Table, values: dict[str, Any], now: datetime) -> int:
        result = self.conn.execute(insert(table).values(**values, created_at=now, updated_at=now))
        return new_id(result)

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

    def cleanup_candidates(self, registry_id: int) -> list[CleanupCandidateRow]:
        artifacts = list(
            self.conn.execute(
                select(
                    t.artifact.c.id,
                    t.artifact.c.image_id,
                    t.artifact.c.digest,
                    t.artifact.c.pushed_at,
                    t.artifact.c.pulled_at,
                    t.artifact.c.subject_digest,
                    t.image.c.name.label("image"),
                )
                .join(t.image, t.image.c.id == t.artifact.c.image_id)
                .where(t.image.c.registry_id == registry_id)
            )
        )
        image_ids = select(t.image.c.id).where(t.image.c.registry_id == registry_id)
        tags: dict[int, list[Any]] = defaultdict(list)
        for row in self.conn.execute(
            select(t.tag.c.artifact_id, t.tag.c.name, t.tag.c.pushed_at).where(
                t.tag.c.image_id.in_(image_ids)
            )
        ):
            tags[row.artifact_id].append(row)
        parents: dict[tuple[int, str], list[str]] = defaultdict(list)
        for row in self.conn.execute(
            select(
                t.artifact.c.image_id, t.artifact.c.digest, t.artifact_child.c.digest.label("child")
            )
            .join(t.artifact_child, t.artifact_child.c.artifact_id == t.artifact.c.id)
            .where(t.artifact.c.image_id.in_(image_ids))
        ):
            parents[(row.image_id, row.child)].append(row.digest)
        return [
            CleanupCandidateRow(
                image_id=a.image_id,
                image=a.image,
                artifact_id=a.id,
                digest=a.digest,
                tags=tuple(sorted(x.name for x in tags[a.id])),
                pushed_at=max([a.pushed_at, *(x.pushed_at for x in tags[a.id])]),
                pulled_at=a.pulled_at,
                subject_digest=a.subject_digest,
                child_of=tuple(sorted(parents[(a.image_id, a.digest)])),
            )
            for a in artifacts
        ]
