from __future__ import annotations

import pytest

from moorage.domain.kernel.errors import Conflict, DomainError, Protected
from moorage.domain.policies.protection import (
    MAX_POLICIES,
    ProtectionPolicy,
    artifact_protection,
    check_artifact_delete,
    check_count,
    check_duplicate,
    check_tag_update,
    protected_tag,
    protecting_policy,
)
from moorage.domain.policies.selectors import Selector


def policy(
    id: int,
    image: str = "**",
    tag: str = "**",
    *,
    image_include: bool = True,
    tag_include: bool = True,
    enabled: bool = True,
) -> ProtectionPolicy:
    return ProtectionPolicy(
        id, Selector(image, image_include), Selector(tag, tag_include), enabled=enabled
    )


# (policy, image, tag, protected)
CASES = [
    (policy(1), "app", "latest", True),
    (policy(1, tag="v*"), "app", "v1.0", True),
    (policy(1, tag="v*"), "app", "latest", False),
    (policy(1, image="team/*"), "team/app", "x", True),
    (policy(1, image="team/*"), "team/app/web", "x", False),
    (policy(1, image="team/**"), "team/app/web", "x", True),
    # the image name is matched WITHOUT the registry prefix
    (policy(1, image="app"), "app", "x", True),
    (policy(1, image="myregistry/app"), "app", "x", False),
    # exclude selectors
    (policy(1, tag="dev-*", tag_include=False), "app", "v1", True),
    (policy(1, tag="dev-*", tag_include=False), "app", "dev-1", False),
    (policy(1, image="tmp/**", image_include=False), "app", "v1", True),
    (policy(1, image="tmp/**", image_include=False), "tmp/app", "v1", False),
    # image AND tag must both select
    (policy(1, image="app", tag="v*"), "web", "v1", False),
    # disabled policies protect nothing
    (policy(1, enabled=False), "app", "latest", False),
]


@pytest.mark.parametrize(("rule", "image", "tag", "expected"), CASES)
def test_protecting_policy(rule: ProtectionPolicy, image: str, tag: str, expected: bool) -> None:
    assert (protecting_policy([rule], image, tag) is rule) is expected
    assert rule.protects(image, tag) is expected


def test_the_lowest_enabled_policy_id_answers() -> None:
    policies = [policy(7, tag="v*"), policy(3, tag="v1*", enabled=False), policy(5, tag="v1")]
    found = protecting_policy(policies, "app", "v1")
    assert found is not None
    assert found.id == 5
    assert protecting_policy([], "app", "v1") is None


def test_an_artifact_is_protected_when_any_of_its_tags_is() -> None:
    policies = [policy(2, tag="release-*"), policy(9, tag="stable")]
    found = artifact_protection(policies, "app", ["dev", "stable"])
    assert found is not None
    assert found.id == 9
    assert artifact_protection(policies, "app", ["dev", "nightly"]) is None
    both = artifact_protection(policies, "app", ["stable", "release-1"])
    assert both is not None
    assert both.id == 2


def test_untagged_artifacts_are_never_protected() -> None:
    everything = [policy(1), policy(2, tag="x", tag_include=False)]
    assert artifact_protection(everything, "app", []) is None
    check_artifact_delete(everything, "app", [])


def test_protected_tag_names_the_first_tag_alphabetically() -> None:
    found = protected_tag([policy(4, tag="v*")], "app", ["v2", "v1", "dev"])
    assert found is not None
    assert (found[0].id, found[1]) == (4, "v1")


def test_protected_error_names_the_policy() -> None:
    policies = [policy(3, tag="v*")]
    with pytest.raises(Protected) as caught:
        check_artifact_delete(policies, "app", ["dev", "v1"])
    error = caught.value
    assert str(error) == (
        "tag 'v1' of 'app' is protected by the protection policy on images '**', tags 'v*'"
    )
    assert (error.policy_id, error.image, error.tag) == (3, "app", "v1")
    assert isinstance(error, DomainError)


def test_protected_error_describes_exclude_selectors() -> None:
    rule = policy(8, image="tmp/**", tag="dev-*", image_include=False, tag_include=False)
    with pytest.raises(
        Protected, match=r"on images excluding 'tmp/\*\*', tags excluding 'dev-\*'$"
    ):
        check_tag_update([rule], "app", "v1", "sha256:a", "sha256:b")


# (current digest, new digest, refused) for a protected tag:
# None current = the tag is created, None new = the tag is deleted
UPDATES = [
    (None, "sha256:a", False),  # creating the tag is allowed
    ("sha256:a", "sha256:a", False),  # re-pushing the identical digest is a no-op
    ("sha256:a", "sha256:b", True),  # moving it is refused
    ("sha256:a", None, True),  # deleting it is refused
]


@pytest.mark.parametrize(("current", "new", "refused"), UPDATES)
def test_check_tag_update(current: str | None, new: str | None, refused: bool) -> None:
    policies = [policy(1, tag="v*")]
    if refused:
        with pytest.raises(Protected):
            check_tag_update(policies, "app", "v1", current, new)
    else:
        check_tag_update(policies, "app", "v1", current, new)
    # an unprotected tag may always move
    check_tag_update(policies, "app", "latest", current, new)


def test_check_duplicate_refuses_the_same_selectors() -> None:
    existing = [policy(1, image="team/**", tag="v*"), policy(2, tag="x", enabled=False)]
    with pytest.raises(Conflict, match=r"on images 'team/\*\*', tags 'v\*'\)$"):
        check_duplicate(existing, policy(0, image="team/**", tag="v*"))
    with pytest.raises(Conflict, match=r"on images '\*\*', tags 'x'\)$"):
        check_duplicate(existing, policy(0, tag="x"))  # disabled still counts
    check_duplicate(existing, policy(0, image="team/**", tag="v*", tag_include=False))
    check_duplicate(existing, policy(0, image="team/*", tag="v*"))
    # updating a policy to its own selectors is not a duplicate
    check_duplicate(existing, policy(1, image="team/**", tag="v*", enabled=False))


def test_check_count() -> None:
    check_count([policy(i) for i in range(MAX_POLICIES - 1)])
    with pytest.raises(Conflict, match="at most 15 protection policies"):
        check_count([policy(i) for i in range(MAX_POLICIES)])
