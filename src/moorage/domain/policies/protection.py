"""Image protection (Harbor's tag immutability, SPEC §7), as pure functions over policies.

A tag is protected when an enabled policy's image selector selects the image name (without
the registry prefix) and its tag selector selects the tag. A protected tag may be created and
re-pushed with the digest it already points at, but never moved or deleted, and its artifact
never deleted. Untagged artifacts are never protected. The callers (tag moves, deletes,
cleanup) ask here inside the transaction that changes the tag, so protection cannot fail open.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from moorage.domain.kernel.errors import AlreadyExists, LimitReached, Protected
from moorage.domain.policies.selectors import Selector

MAX_POLICIES = 15  # per registry: the guide's limit, as in Harbor


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    id: int
    image: Selector
    tag: Selector
    enabled: bool

    def protects(self, image_name: str, tag: str) -> bool:
        """Whether this policy, if enabled, protects `tag` of `image_name`."""
        return self.enabled and self.image.selects(image_name) and self.tag.selects(tag)

    def describe(self) -> str:
        """`images '**', tags 'v*'`: the selectors, which name a policy in messages and
        history lines (its id is global, not a number within the registry)."""
        return f"images {self.image.describe()}, tags {self.tag.describe()}"


def _in_order(policies: Iterable[ProtectionPolicy], image_name: str) -> list[ProtectionPolicy]:
    """Enabled policies that select the image, lowest id first, so answers are stable."""
    chosen = (p for p in policies if p.enabled and p.image.selects(image_name))
    return sorted(chosen, key=lambda p: p.id)


def protecting_policy(
    policies: Iterable[ProtectionPolicy], image_name: str, tag: str
) -> ProtectionPolicy | None:
    """The enabled policy with the lowest id that protects `tag` of `image_name`, or None."""
    return next((p for p in _in_order(policies, image_name) if p.tag.selects(tag)), None)


def protected_tag(
    policies: Iterable[ProtectionPolicy], image_name: str, tags: Iterable[str]
) -> tuple[ProtectionPolicy, str] | None:
    """The first protected tag among `tags` and the policy protecting it, or None.

    "First" is the lowest policy id, then the alphabetically first tag, so the same state
    always gives the same answer (and the same error message)."""
    ordered_tags = sorted(tags)
    for policy in _in_order(policies, image_name):
        for tag in ordered_tags:
            if policy.tag.selects(tag):
                return policy, tag
    return None


def artifact_protection(
    policies: Iterable[ProtectionPolicy], image_name: str, tags: Iterable[str]
) -> ProtectionPolicy | None:
    """The policy protecting an artifact with these tags (any protected tag protects the
    whole artifact), or None; an untagged artifact is never protected."""
    found = protected_tag(policies, image_name, tags)
    return found[0] if found else None


def check_tag_update(
    policies: Iterable[ProtectionPolicy],
    image_name: str,
    tag: str,
    current_digest: str | None,
    new_digest: str | None,
) -> None:
    """Raise `Protected` if moving `tag` from `current_digest` to `new_digest` is forbidden.

    `current_digest` None: the tag is being created, always allowed. `new_digest` None: the
    tag is being deleted. The same digest again is a no-op, allowed so that reproducible
    pipelines can re-run a push."""
    if current_digest is None or current_digest == new_digest:
        return
    policy = protecting_policy(policies, image_name, tag)
    if policy is not None:
        raise Protected(policy.id, image_name, tag, policy.describe())


def check_artifact_delete(
    policies: Iterable[ProtectionPolicy], image_name: str, tags: Iterable[str]
) -> None:
    """Raise `Protected`, naming the tag and policy, if any of the artifact's tags is
    protected. Applies to deletes by users, by cleanup and by deleting the image."""
    found = protected_tag(policies, image_name, tags)
    if found is not None:
        policy, tag = found
        raise Protected(policy.id, image_name, tag, policy.describe())


def check_duplicate(policies: Iterable[ProtectionPolicy], new: ProtectionPolicy) -> None:
    """Raise `AlreadyExists` if another policy (a different id) has the same image and tag
    selectors; enabled or not does not matter. Pass the registry's current policies."""
    for policy in policies:
        if policy.id != new.id and (policy.image, policy.tag) == (new.image, new.tag):
            raise AlreadyExists(
                f"a protection policy with the same selectors exists already "
                f"(on {policy.describe()})"
            )


def check_count(policies: Collection[ProtectionPolicy]) -> None:
    """Raise `LimitReached` if a registry holding `policies` may not get another one."""
    if len(policies) >= MAX_POLICIES:
        raise LimitReached(
            f"a registry holds at most {MAX_POLICIES} protection policies; "
            "delete one before adding another",
            MAX_POLICIES,
        )
