"""Role ports of identity: users, projects and members, access keys, console sessions,
failed sign-in counters, password hashing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from moorage.domain.kernel.ports import RegistryTx

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        AccessKey,
        Member,
        Project,
        Role,
        User,
    )


class UserStore(Protocol):
    """Users and their password hashes."""

    def get_user(self, username: str) -> User | None: ...

    def create_user(self, username: str, password_hash: str, is_admin: bool, now: datetime) -> User:
        """Insert a user; raises Conflict when the name is taken."""

    def count_users(self) -> int: ...

    def list_users(self) -> list[User]: ...

    def get_user_by_id(self, user_id: int) -> User | None: ...

    def delete_user(self, user_id: int) -> None:
        """Delete a user with its memberships and access keys."""

    def set_password(self, user_id: int, password_hash: str) -> None: ...

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable a user (who keeps memberships and keys) or enable them again."""

    def bump_auth_generation(self, user_id: int) -> None:
        """Raise the user's `auth_generation`: their sessions and tokens stop being valid."""


class ProjectStore(Protocol):
    """Projects, their members and roles."""

    def create_project(self, name: str, now: datetime) -> Project:
        """Insert a project; raises Conflict when the name is taken."""

    def get_project(self, name: str) -> Project | None: ...

    def list_projects(self) -> list[Project]: ...

    def set_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        """Give the user this role in the project (adding or changing the membership)."""

    def remove_member(self, project_id: int, user_id: int) -> bool: ...

    def list_members(self, project_id: int) -> list[Member]: ...

    def role_in_registry(self, user_id: int, registry: str) -> Role | None:
        """The user's role in the project owning the registry; None when not a member."""

    def role_in_project(self, user_id: int, project_id: int) -> Role | None: ...

    def memberships(self, user_id: int) -> list[tuple[str, Role]]:
        """(project, role) for every project the user is a member of."""

    def readable_registries(self, user_id: int) -> set[str]:
        """Names of the registries in every project the user is a member of."""


class AccessKeyStore(Protocol):
    """Access keys (at most five per user)."""

    def create_access_key(
        self, user_id: int, key_id: str, secret_hash: str, now: datetime
    ) -> AccessKey: ...

    def get_access_key(self, key_id: str) -> AccessKey | None: ...

    def list_access_keys(self, user_id: int) -> list[AccessKey]: ...

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> bool: ...

    def delete_access_key(self, key_id: str) -> bool: ...

    def touch_access_key(self, key_id: str, now: datetime) -> None:
        """Record the key's last use."""


class SessionStore(Protocol):
    """Console sessions: one row per signed-in browser, valid while the row exists."""

    def create_session(
        self, session_id: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Record a new session (and forget the user's sessions that have expired)."""

    def session_user(self, session_id: str, now: datetime) -> int | None:
        """The user of a session that exists and has not expired; None otherwise."""

    def delete_session(self, session_id: str) -> bool: ...

    def delete_user_sessions(self, user_id: int) -> int:
        """End every session of the user; returns how many there were."""


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Failed sign-ins counted under one key since the count last started again."""

    failures: int
    last_failed_at: datetime


class LoginFailureStore(Protocol):
    """Failed sign-ins per key (an account or a client address), shared by every node."""

    def failure_counts(self, keys: Iterable[str]) -> dict[str, FailureCount]:
        """The counts of those keys that have one."""

    def add_failure(self, key: str, now: datetime, window_start: datetime) -> FailureCount:
        """Count one more failure, atomically: the count starts again at one when the last
        failure was before `window_start`."""

    def clear_failures(self, key: str) -> None: ...

    def purge_failures(self, before: datetime) -> int:
        """Forget counts whose last failure was before `before`; returns how many."""


class PasswordHasher(Protocol):
    """Slow, salted hashing of user passwords (argon2id)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class UserTx(Protocol):
    @property
    def users(self) -> UserStore: ...


class ThrottleTx(Protocol):
    """What the sign-in throttle uses."""

    @property
    def login_failures(self) -> LoginFailureStore: ...


class SignInRoles(ThrottleTx, Protocol):
    """Identity's roles for signing in: console sessions and failed sign-in counters."""

    @property
    def sessions(self) -> SessionStore: ...


class IdentityTx(RegistryTx, UserTx, Protocol):
    """What identity's services use: registries (for roles in them), users, projects, keys."""

    @property
    def projects(self) -> ProjectStore: ...

    @property
    def access_keys(self) -> AccessKeyStore: ...

    @property
    def sessions(self) -> SessionStore: ...
