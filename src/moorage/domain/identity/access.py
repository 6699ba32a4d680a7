"""Who may do what: the permission matrix of SPEC §5, as pure functions.

Actions are the registry protocol's words, used by the REST API too:
`pull` (view, read, pull), `push` (create, update, push) and `delete`.
Project Admin, Project Member and Service Admin may do everything in their project;
Service Viewer may only read. A system administrator may do everything everywhere.

What a caller may do is also told to clients, as permission words: per registry
(`RegistryPermission`, derived from the same matrix) and for the deployment
(`DeploymentPermission`), so the console shows only the controls that will work.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from moorage.domain.kernel.model import Role


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


ALL_ACTIONS = frozenset(Action)
READ = frozenset({Action.PULL})
_ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.PROJECT_ADMIN: ALL_ACTIONS,
    Role.PROJECT_MEMBER: ALL_ACTIONS,
    Role.SERVICE_ADMIN: ALL_ACTIONS,
    Role.SERVICE_VIEWER: READ,
}
# The guide's replication rows: every role lists rules and their history; the writers
# create, edit, delete and run them (one row of the table, so one action).
VIEW_REPLICATION = Action.PULL
MANAGE_REPLICATION = Action.PUSH


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller."""

    user_id: int
    username: str
    is_admin: bool
    access_key_id: str | None = None  # set when the caller signed in with an access key
    generation: int = 0  # the user's auth_generation when signed in (sessions, tokens)
    session_id: str | None = None  # set for a console session


def allowed_actions(identity: Identity | None, role: Role | None) -> frozenset[Action]:
    """What the caller may do in a project where it holds `role` (None: not a member)."""
    if identity is not None and identity.is_admin:
        return ALL_ACTIONS
    if identity is None or role is None:
        return frozenset()
    return _ROLE_ACTIONS[role]


class RegistryPermission(StrEnum):
    """What a caller may do in one registry, as the REST API lists it (in this order)."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    MANAGE_POLICIES = "manage_policies"  # protection, cleanup and webhooks: writers
    MANAGE_MEMBERS = "manage_members"  # the project's members: its Project Admins
    REPLICATE = "replicate"  # manage and run its replication rules: writing, like a push


class DeploymentPermission(StrEnum):
    """What a caller may do outside any one registry."""

    CREATE_REGISTRY = "create_registry"  # in at least one project
    MANAGE_PROJECTS = "manage_projects"
    MANAGE_USERS = "manage_users"
    GC = "gc"


REGISTRY_PERMISSIONS = tuple(RegistryPermission)
DEPLOYMENT_PERMISSIONS = tuple(DeploymentPermission)
# Each registry permission is granted by one action of the matrix, except managing members.
_GRANTED_BY: dict[RegistryPermission, Action] = {
    RegistryPermission.PULL: Action.PULL,
    RegistryPermission.PUSH: Action.PUSH,
    RegistryPermission.DELETE: Action.DELETE,
    RegistryPermission.MANAGE_POLICIES: Action.PUSH,
    RegistryPermission.REPLICATE: MANAGE_REPLICATION,
}


def may_manage_members(identity: Identity | None, role: Role | None) -> bool:
    """Only a project's Project Admins (and system administrators) change its members."""
    if identity is None:
        return False
    return identity.is_admin or role is Role.PROJECT_ADMIN


def registry_permissions(identity: Identity | None, role: Role | None) -> list[RegistryPermission]:
    """What the caller may do in a registry of a project where it holds `role`."""
    actions = allowed_actions(identity, role)
    return [
        permission
        for permission in REGISTRY_PERMISSIONS
        if (
            may_manage_members(identity, role)
            if permission is RegistryPermission.MANAGE_MEMBERS
            else _GRANTED_BY[permission] in actions
        )
    ]


def deployment_permissions(identity: Identity, roles: Iterable[Role]) -> list[DeploymentPermission]:
    """What the caller may do outside a registry, given its roles in its projects."""
    if identity.is_admin:
        return list(DEPLOYMENT_PERMISSIONS)
    if any(Action.PUSH in allowed_actions(identity, role) for role in roles):
        return [DeploymentPermission.CREATE_REGISTRY]
    return []


def parse_actions(words: Iterable[str]) -> frozenset[Action]:
    """Scope action words → actions; `*` means all, unknown words are ignored."""
    actions: set[Action] = set()
    for word in words:
        if word == "*":
            actions |= ALL_ACTIONS
        elif word in Action._value2member_map_:
            actions.add(Action(word))
    return frozenset(actions)


def typed_secret(nbytes: int) -> str:
    """A random URL-safe secret a person will paste into a command line: never starting
    with '-', which `moorage --secret`, `docker login -p` and their kind read as an option."""
    while True:
        secret = secrets.token_urlsafe(nbytes)
        if not secret.startswith("-"):
            return secret
