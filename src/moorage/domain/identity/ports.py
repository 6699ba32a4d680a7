"""Role ports of identity: users, projects and members, access keys, password hashing."""

from __future__ import annotations

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


class PasswordHasher(Protocol):
    """Slow, salted hashing of user passwords (argon2id)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class UserTx(Protocol):
    @property
    def users(self) -> UserStore: ...


class IdentityTx(RegistryTx, UserTx, Protocol):
    """What identity's services use: registries (for roles in them), users, projects, keys."""

    @property
    def projects(self) -> ProjectStore: ...

    @property
    def access_keys(self) -> AccessKeyStore: ...
