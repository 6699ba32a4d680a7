from __future__ import annotations

import pytest

from moorage.domain.identity.access import (
    ALL_ACTIONS,
    DEPLOYMENT_PERMISSIONS,
    MANAGE_REPLICATION,
    REGISTRY_PERMISSIONS,
    VIEW_REPLICATION,
    Action,
    Identity,
    allowed_actions,
    deployment_permissions,
    parse_actions,
    registry_permissions,
)
from moorage.domain.identity.service import granted
from moorage.domain.kernel.model import Role

USER = Identity(2, "dev", is_admin=False)
ADMIN = Identity(1, "admin", is_admin=True)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.PROJECT_ADMIN, ALL_ACTIONS),
        (Role.PROJECT_MEMBER, ALL_ACTIONS),
        (Role.SERVICE_ADMIN, ALL_ACTIONS),
        (Role.SERVICE_VIEWER, frozenset({Action.PULL})),
        (None, frozenset()),
    ],
)
def test_role_matrix(role: Role | None, expected: frozenset[Action]) -> None:
    assert allowed_actions(USER, role) == expected


def test_admin_may_do_everything_everywhere() -> None:
    assert allowed_actions(ADMIN, None) == ALL_ACTIONS


@pytest.mark.parametrize("role", list(Role))
def test_replication_rows_of_the_guide(role: Role) -> None:
    """Every role lists rules and their history; all but Service Viewers create, edit,
    delete and run them, and are told so (`replicate`)."""
    allowed = allowed_actions(USER, role)
    assert VIEW_REPLICATION in allowed
    writer = role is not Role.SERVICE_VIEWER
    assert (MANAGE_REPLICATION in allowed) is writer
    assert ("replicate" in registry_permissions(USER, role)) is writer


def test_anonymous_may_do_nothing() -> None:
    assert allowed_actions(None, Role.PROJECT_ADMIN) == frozenset()


def test_parse_actions() -> None:
    assert parse_actions(["pull", "push", "bogus"]) == {Action.PULL, Action.PUSH}
    assert parse_actions(["*"]) == ALL_ACTIONS


def test_partial_grant_is_the_intersection() -> None:
    asked = parse_actions(["pull", "push", "delete"])
    assert granted(asked, frozenset({Action.PULL})) == [Action.PULL]


def test_registry_permissions_follow_the_matrix() -> None:
    writer = ["pull", "push", "delete", "manage_policies", "replicate"]
    assert registry_permissions(USER, Role.PROJECT_ADMIN) == [
        *writer[:4],
        "manage_members",
        "replicate",
    ]
    assert registry_permissions(USER, Role.PROJECT_MEMBER) == writer
    assert registry_permissions(USER, Role.SERVICE_ADMIN) == writer
    assert registry_permissions(USER, Role.SERVICE_VIEWER) == ["pull"]
    assert registry_permissions(USER, None) == []
    assert registry_permissions(None, Role.PROJECT_ADMIN) == []
    assert registry_permissions(ADMIN, None) == list(REGISTRY_PERMISSIONS)


def test_deployment_permissions() -> None:
    assert deployment_permissions(ADMIN, []) == list(DEPLOYMENT_PERMISSIONS)
    assert deployment_permissions(USER, [Role.SERVICE_VIEWER, Role.PROJECT_MEMBER]) == [
        "create_registry"
    ]
    assert deployment_permissions(USER, [Role.SERVICE_VIEWER]) == []
