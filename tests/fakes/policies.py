"""Protection and cleanup policies, and cleanup's candidates, in memory.

Rows as `moorage/metadata/tables.py` has them, by id: `protection_policy` and
`cleanup_policy`, written through `tests.fakes.rows`. Cleanup's candidates are read from the
content rows (`image`, `artifact`, `tag`, `artifact_child`) that `tests.fakes.content` writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from moorage.domain.kernel.model import (
    CleanupCandidateRow,
    CleanupPolicyRecord,
    ProtectionPolicyRecord,
)
from tests.fakes.rows import delete_rows, insert_row, update_row
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.policies.ports import PolicyStore

PROTECTION_POLICY = "protection_policy"
CLEANUP_POLICY = "cleanup_policy"

R = TypeVar("R")


class MemoryPolicyStore:
    """`PolicyStore` over the policy rows (and the content rows, for candidates)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _rows(self, table: str, registry_id: int, record: Callable[..., R]) -> list[R]:
        rows = [r for r in self.state.table(table).values() if r["registry_id"] == registry_id]
        return [record(**r) for r in sorted(rows, key=lambda r: r["id"])]

    def _add(self, table: str, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        row = insert_row(
            self.state,
            table,
            {**values, "registry_id": registry_id, "created_at": now, "updated_at": now},
        )
        return int(row["id"])

    def _update(self, table: str, policy_id: int, values: dict[str, Any], now: datetime) -> bool:
        if policy_id not in self.state.table(table):
            return False
        update_row(self.state, table, policy_id, {**values, "updated_at": now})
        return True

    def _delete(self, table: str, policy_id: int) -> bool:
        return bool(delete_rows(self.state, table, [policy_id]))

    def protection_policies(self, registry_id: int) -> list[ProtectionPolicyRecord]:
        return self._rows(PROTECTION_POLICY, registry_id, ProtectionPolicyRecord)

    def add_protection_policy(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        return self._add(PROTECTION_POLICY, registry_id, values, now)

    def update_protection_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool:
        return self._update(PROTECTION_POLICY, policy_id, values, now)

    def delete_protection_policy(self, policy_id: int) -> bool:
        return self._delete(PROTECTION_POLICY, policy_id)

    def cleanup_policies(self, registry_id: int) -> list[CleanupPolicyRecord]:
        return self._rows(CLEANUP_POLICY, registry_id, CleanupPolicyRecord)

    def add_cleanup_policy(self, registry_id: int, values: dict[str, Any], now: datetime) -> int:
        return self._add(CLEANUP_POLICY, registry_id, values, now)

    def update_cleanup_policy(self, policy_id: int, values: dict[str, Any], now: datetime) -> bool:
        return self._update(CLEANUP_POLICY, policy_id, values, now)

    def delete_cleanup_policy(self, policy_id: int) -> bool:
        return self._delete(CLEANUP_POLICY, policy_id)

    def cleanup_candidates(self, registry_id: int) -> list[CleanupCandidateRow]:
        images = {
            image_id: r
            for image_id, r in self.state.table("image").items()
            if r["registry_id"] == registry_id
        }
        artifacts = sorted(
            (r for r in self.state.table("artifact").values() if r["image_id"] in images),
            key=lambda r: r["id"],
        )
        tags: dict[int, list[Row]] = defaultdict(list)
        for tag in self.state.table("tag").values():
            if tag["image_id"] in images:
                tags[tag["artifact_id"]].append(tag)
        by_id = {a["id"]: a for a in artifacts}
        parents: dict[tuple[int, str], list[str]] = defaultdict(list)
        for child in self.state.table("artifact_child").values():
            parent = by_id.get(child["artifact_id"])
            if parent is not None:
                parents[(parent["image_id"], child["digest"])].append(parent["digest"])
        return [
            CleanupCandidateRow(
                image_id=a["image_id"],
                image=images[a["image_id"]]["name"],
                artifact_id=a["id"],
                digest=a["digest"],
                tags=tuple(sorted(x["name"] for x in tags[a["id"]])),
                pushed_at=max([a["pushed_at"], *(x["pushed_at"] for x in tags[a["id"]])]),
                pulled_at=a["pulled_at"],
                subject_digest=a["subject_digest"],
                child_of=tuple(sorted(parents[(a["image_id"], a["digest"])])),
            )
            for a in artifacts
        ]


if TYPE_CHECKING:  # structurally the role port (checked by mypy)
    _policies: PolicyStore = MemoryPolicyStore(MemoryState())
