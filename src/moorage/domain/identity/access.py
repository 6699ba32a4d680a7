"""Who may do what: the permission matrix of SPEC §5, as pure functions.

Actions are the registry protocol's words, used by the REST API too:
`pull` (view, read, pull), `push` (create, update, push) and `delete`.
Project Admin, Project Member and Service Admin may do everything in their project;
Service Viewer may only read. A system administrator may do everything everywhere.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller."""

    user_id: int
    username: str
    is_admin: bool
    access_key_id: str | None = None  # set when the caller signed in with an access key


def allowed_actions(identity: Identity | None, role: Role | None) -> frozenset[Action]:
    """What the caller may do in a project where it holds `role` (None: not a member)."""
    if identity is not None and identity.is_admin:
        return ALL_ACTIONS
    if identity is None or role is None:
        return frozenset()
    return _ROLE_ACTIONS[role]


def parse_actions(words: Iterable[str]) -> frozenset[Action]:
    """Scope action words → actions; `*` means all, unknown words are ignored."""
    actions: set[Action] = set()
    for word in words:
        if word == "*":
            actions |= ALL_ACTIONS
        elif word in Action._value2member_map_:
            actions.add(Action(word))
    return frozenset(actions)
