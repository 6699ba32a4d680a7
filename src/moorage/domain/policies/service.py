"""Protection and cleanup policies of a registry: validated CRUD and conversions.

Records (rows) become the pure policy objects of `protection` and `cleanup` here, so the
rules never see storage and the store never sees rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import CleanupPolicyRecord, ProtectionPolicyRecord
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies import cleanup, protection
from moorage.domain.policies.errors import PolicyNotFound
from moorage.domain.policies.ports import PolicyRulesTx
from moorage.domain.policies.selectors import Selector, TagSelector

T = TypeVar("T")


def protection_policy(record: ProtectionPolicyRecord) -> protection.ProtectionPolicy:
    return protection.ProtectionPolicy(
        id=record.id,
        image=Selector(record.image_pattern, record.image_include),
        tag=Selector(record.tag_pattern, record.tag_include),
        enabled=record.enabled,
    )


def cleanup_policy(record: CleanupPolicyRecord) -> cleanup.CleanupPolicy:
    return cleanup.CleanupPolicy(
        id=record.id,
        image=Selector(record.image_pattern, record.image_include),
        tag=TagSelector(record.tag_pattern, record.tag_include, record.untagged),
        rule=cleanup.Rule.of(record.rule_kind, record.rule_value),
        enabled=record.enabled,
    )


def protection_for(store: PolicyRulesTx, registry_id: int) -> list[protection.ProtectionPolicy]:
    """The registry's protection policies, read inside the caller's transaction."""
    return [protection_policy(r) for r in store.policies.protection_policies(registry_id)]


@dataclass(frozen=True, slots=True)
class ProtectionSpec:
    image: Selector
    tag: Selector
    enabled: bool = True

    def values(self) -> dict[str, Any]:
        return {
            "image_pattern": self.image.pattern,
            "image_include": self.image.include,
            "tag_pattern": self.tag.pattern,
            "tag_include": self.tag.include,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class CleanupSpec:
    image: Selector
    tag: TagSelector
    rule: cleanup.Rule
    enabled: bool = True

    def values(self) -> dict[str, Any]:
        return {
            "image_pattern": self.image.pattern,
            "image_include": self.image.include,
            "tag_pattern": self.tag.pattern,
            "tag_include": self.tag.include,
            "untagged": self.tag.untagged,
            "rule_kind": self.rule.kind.value,
            "rule_value": self.rule.value,
            "enabled": self.enabled,
        }


class PolicyService:
    def __init__(self, uow: UnitOfWork[PolicyRulesTx], clock: Clock = utcnow) -> None:
        self._uow = uow
        self._clock = clock

    def _in_registry(
        self, registry: str, fn: Callable[[PolicyRulesTx, int], T], *, write: bool = False
    ) -> T:
        with self._uow(write=write) as store:
            return fn(store, existing_registry(store, registry).id)

    # protection -----------------------------------------------------------------------

    def protection_policies(self, registry: str) -> list[ProtectionPolicyRecord]:
        return self._in_registry(registry, lambda s, rid: s.policies.protection_policies(rid))

    def add_protection(self, registry: str, spec: ProtectionSpec) -> ProtectionPolicyRecord:
        def add(store: PolicyRulesTx, registry_id: int) -> ProtectionPolicyRecord:
            current = protection_for(store, registry_id)
            protection.check_count(current)
            protection.check_duplicate(
                current, protection.ProtectionPolicy(0, spec.image, spec.tag, spec.enabled)
            )
            new_id = store.policies.add_protection_policy(registry_id, spec.values(), self._clock())
            return next(
                r for r in store.policies.protection_policies(registry_id) if r.id == new_id
            )

        return self._in_registry(registry, add, write=True)

    def update_protection(
        self, registry: str, policy_id: int, spec: ProtectionSpec
    ) -> ProtectionPolicyRecord:
        def change(store: PolicyRulesTx, registry_id: int) -> ProtectionPolicyRecord:
            records = store.policies.protection_policies(registry_id)
            if not any(r.id == policy_id for r in records):
                raise PolicyNotFound("protection", policy_id)
            protection.check_duplicate(
                [protection_policy(r) for r in records],
                protection.ProtectionPolicy(policy_id, spec.image, spec.tag, spec.enabled),
            )
            store.policies.update_protection_policy(policy_id, spec.values(), self._clock())
            return next(
                r for r in store.policies.protection_policies(registry_id) if r.id == policy_id
            )

        return self._in_registry(registry, change, write=True)

    def delete_protection(self, registry: str, policy_id: int) -> None:
        def remove(store: PolicyRulesTx, registry_id: int) -> None:
            if not any(r.id == policy_id for r in store.policies.protection_policies(registry_id)):
                raise PolicyNotFound("protection", policy_id)
            store.policies.delete_protection_policy(policy_id)

        self._in_registry(registry, remove, write=True)

    # cleanup --------------------------------------------------------------------------

    def cleanup_policies(self, registry: str) -> list[CleanupPolicyRecord]:
        return self._in_registry(registry, lambda s, rid: s.policies.cleanup_policies(rid))

    def add_cleanup(self, registry: str, spec: CleanupSpec) -> CleanupPolicyRecord:
        def add(store: PolicyRulesTx, registry_id: int) -> CleanupPolicyRecord:
            current = [cleanup_policy(r) for r in store.policies.cleanup_policies(registry_id)]
            cleanup.check_count(current)
            cleanup.check_duplicate(
                current, cleanup.CleanupPolicy(0, spec.image, spec.tag, spec.rule, spec.enabled)
            )
            new_id = store.policies.add_cleanup_policy(registry_id, spec.values(), self._clock())
            return next(r for r in store.policies.cleanup_policies(registry_id) if r.id == new_id)

        return self._in_registry(registry, add, write=True)

    def update_cleanup(
        self, registry: str, policy_id: int, spec: CleanupSpec
    ) -> CleanupPolicyRecord:
        def change(store: PolicyRulesTx, registry_id: int) -> CleanupPolicyRecord:
            records = store.policies.cleanup_policies(registry_id)
            if not any(r.id == policy_id for r in records):
                raise PolicyNotFound("cleanup", policy_id)
            cleanup.check_duplicate(
                [cleanup_policy(r) for r in records],
                cleanup.CleanupPolicy(policy_id, spec.image, spec.tag, spec.rule, spec.enabled),
            )
            store.policies.update_cleanup_policy(policy_id, spec.values(), self._clock())
            return next(
                r for r in store.policies.cleanup_policies(registry_id) if r.id == policy_id
            )

        return self._in_registry(registry, change, write=True)

    def delete_cleanup(self, registry: str, policy_id: int) -> None:
        def remove(store: PolicyRulesTx, registry_id: int) -> None:
            if not any(r.id == policy_id for r in store.policies.cleanup_policies(registry_id)):
                raise PolicyNotFound("cleanup", policy_id)
            store.policies.delete_cleanup_policy(policy_id)

        self._in_registry(registry, remove, write=True)
