"""Role ports of policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from moorage.domain.jobs.ports import JobsTx
from moorage.domain.kernel.ports import RegistryTx
from moorage.domain.webhooks.ports import WebhookTx

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        CleanupCandidateRow,
        CleanupPolicyRecord,
        ProtectionPolicyRecord,
    )


class PolicyStore(Protocol):
    """Protection and cleanup policies of registries, and cleanup's candidates."""

    def protection_policies(self, registry_id: int) -> list[ProtectionPolicyRecord]: ...

    def add_protection_policy(
        self, registry_id: int, values: dict[str, Any], now: datetime
    ) -> int: ...

    def update_protection_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool: ...

    def delete_protection_policy(self, policy_id: int) -> bool: ...

    def cleanup_policies(self, registry_id: int) -> list[CleanupPolicyRecord]: ...

    def add_cleanup_policy(
        self, registry_id: int, values: dict[str, Any], now: datetime
    ) -> int: ...

    def update_cleanup_policy(
        self, policy_id: int, values: dict[str, Any], now: datetime
    ) -> bool: ...

    def delete_cleanup_policy(self, policy_id: int) -> bool: ...

    def cleanup_candidates(self, registry_id: int) -> list[CleanupCandidateRow]:
        """Every artifact of the registry's images, as cleanup evaluates them."""


class PolicyRulesTx(RegistryTx, Protocol):
    @property
    def policies(self) -> PolicyStore: ...


class PolicyTx(PolicyRulesTx, WebhookTx, JobsTx, Protocol):
    """What cleanup runs use: policies, their history and schedules, and webhook events."""


class ArtifactRemover(Protocol):
    """Deletes artifacts for cleanup runs (registry content's artifact service)."""

    def delete_artifacts(
        self, repository: str, references: Sequence[str], operator: str | None = None
    ) -> None:
        """Delete several artifacts (by digest or tag) at once: all of them or none."""
