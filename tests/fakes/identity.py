"""Users, projects with their members, access keys, console sessions and failed sign-in
counters, in memory (see `tests.fakes.memory`).

Rows as `moorage/metadata/tables.py` has them, under the tables' SQL names: `user_account`
(by id), `project` (by id), `project_member` (by (project_id, user_id), its unique key: the
table has no primary key), `access_key` (by id), `console_session` (by id) and
`login_failure` (by key), written through `tests.fakes.rows` (so deleting a user takes its
memberships, access keys and sessions, as ON DELETE CASCADE does). Names
sort in code-point order, which is the byte order of their UTF-8 text, as the SQL store's
`C` collation sorts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from moorage.domain.identity.ports import FailureCount
from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import AccessKey, Member, Project, Role, User
from tests.fakes.rows import UniqueViolation, delete_rows, find_row, insert_row, update_row
from tests.fakes.state import MemoryState, Row

if TYPE_CHECKING:
    from moorage.domain.identity.ports import (
        AccessKeyStore,
        LoginFailureStore,
        ProjectStore,
        SessionStore,
        UserStore,
    )

USER = "user_account"
PROJECT = "project"
PROJECT_MEMBER = "project_member"
ACCESS_KEY = "access_key"
SESSION = "console_session"
LOGIN_FAILURE = "login_failure"
REGISTRY = "registry"


def _user(row: Row) -> User:
    return User(
        row["id"],
        row["username"],
        row["password_hash"],
        row["is_admin"],
        row["created_at"],
        row["disabled"],
        row["auth_generation"],
    )


def _project(row: Row) -> Project:
    return Project(row["id"], row["name"], row["created_at"])


def _key(row: Row) -> AccessKey:
    return AccessKey(
        row["id"],
        row["user_id"],
        row["key_id"],
        row["secret_hash"],
        row["enabled"],
        row["created_at"],
        row["last_used_at"],
    )


class MemoryUserStore:
    """`UserStore` over the `user` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def get_user(self, username: str) -> User | None:
        row = find_row(self.state, USER, username=username)
        return _user(row) if row else None

    def create_user(self, username: str, password_hash: str, is_admin: bool, now: datetime) -> User:
        values: Row = {
            "username": username,
            "password_hash": password_hash,
            "is_admin": is_admin,
            "created_at": now,
        }
        try:
            row = insert_row(self.state, USER, values)
        except UniqueViolation:
            raise Conflict(f"user {username!r} already exists") from None
        return _user(row)

    def count_users(self) -> int:
        return len(self.state.table(USER))

    def list_users(self) -> list[User]:
        rows = sorted(self.state.table(USER).values(), key=lambda r: r["username"])
        return [_user(r) for r in rows]

    def get_user_by_id(self, user_id: int) -> User | None:
        row = self.state.table(USER).get(user_id)
        return _user(row) if row else None

    def delete_user(self, user_id: int) -> None:
        delete_rows(self.state, USER, [user_id])  # its memberships and access keys go with it

    def set_password(self, user_id: int, password_hash: str) -> None:
        if user_id in self.state.table(USER):
            update_row(self.state, USER, user_id, {"password_hash": password_hash})

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        if user_id in self.state.table(USER):
            update_row(self.state, USER, user_id, {"disabled": disabled})

    def bump_auth_generation(self, user_id: int) -> None:
        row = self.state.table(USER).get(user_id)
        if row is not None:
            update_row(self.state, USER, user_id, {"auth_generation": row["auth_generation"] + 1})


class MemoryProjectStore:
    """`ProjectStore` over the `project` and `project_member` rows (and `registry` rows)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def create_project(self, name: str, now: datetime) -> Project:
        try:
            row = insert_row(self.state, PROJECT, {"name": name, "created_at": now})
        except UniqueViolation:
            raise Conflict(f"project {name!r} already exists") from None
        return _project(row)

    def get_project(self, name: str) -> Project | None:
        row = find_row(self.state, PROJECT, name=name)
        return _project(row) if row else None

    def list_projects(self) -> list[Project]:
        rows = sorted(self.state.table(PROJECT).values(), key=lambda r: r["name"])
        return [_project(r) for r in rows]

    def set_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        key = (project_id, user_id)
        if key in self.state.table(PROJECT_MEMBER):
            update_row(self.state, PROJECT_MEMBER, key, {"role": role.value})
            return
        insert_row(
            self.state,
            PROJECT_MEMBER,
            {"project_id": project_id, "user_id": user_id, "role": role.value, "created_at": now},
        )

    def remove_member(self, project_id: int, user_id: int) -> bool:
        return bool(delete_rows(self.state, PROJECT_MEMBER, [(project_id, user_id)]))

    def list_members(self, project_id: int) -> list[Member]:
        users, projects = self.state.table(USER), self.state.table(PROJECT)
        members = [
            Member(
                projects[r["project_id"]]["name"],
                users[r["user_id"]]["username"],
                Role(r["role"]),
                r["created_at"],
            )
            for r in self.state.table(PROJECT_MEMBER).values()
            if r["project_id"] == project_id
        ]
        return sorted(members, key=lambda m: m.username)

    def role_in_registry(self, user_id: int, registry: str) -> Role | None:
        row = find_row(self.state, REGISTRY, name=registry)
        return None if row is None else self.role_in_project(user_id, row["project_id"])

    def role_in_project(self, user_id: int, project_id: int) -> Role | None:
        row = self.state.table(PROJECT_MEMBER).get((project_id, user_id))
        return Role(row["role"]) if row else None

    def memberships(self, user_id: int) -> list[tuple[str, Role]]:
        projects = self.state.table(PROJECT)
        found = [
            (projects[r["project_id"]]["name"], Role(r["role"]))
            for r in self.state.table(PROJECT_MEMBER).values()
            if r["user_id"] == user_id
        ]
        return sorted(found, key=lambda pair: pair[0])

    def readable_registries(self, user_id: int) -> set[str]:
        member_of = {
            r["project_id"]
            for r in self.state.table(PROJECT_MEMBER).values()
            if r["user_id"] == user_id
        }
        return {
            r["name"] for r in self.state.table(REGISTRY).values() if r["project_id"] in member_of
        }


class MemoryAccessKeyStore:
    """`AccessKeyStore` over the `access_key` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _by_key_id(self, key_id: str) -> Row | None:
        return find_row(self.state, ACCESS_KEY, key_id=key_id)

    def create_access_key(
        self, user_id: int, key_id: str, secret_hash: str, now: datetime
    ) -> AccessKey:
        values: Row = {
            "user_id": user_id,
            "key_id": key_id,
            "secret_hash": secret_hash,
            "enabled": True,
            "created_at": now,
        }
        try:
            row = insert_row(self.state, ACCESS_KEY, values)
        except UniqueViolation:
            raise Conflict("access key already exists") from None
        return _key(row)

    def get_access_key(self, key_id: str) -> AccessKey | None:
        row = self._by_key_id(key_id)
        return _key(row) if row else None

    def list_access_keys(self, user_id: int) -> list[AccessKey]:
        rows = [r for r in self.state.table(ACCESS_KEY).values() if r["user_id"] == user_id]
        return [_key(r) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> bool:
        row = self._by_key_id(key_id)
        if row is None:
            return False
        update_row(self.state, ACCESS_KEY, row["id"], {"enabled": enabled})
        return True

    def delete_access_key(self, key_id: str) -> bool:
        row = self._by_key_id(key_id)
        return row is not None and bool(delete_rows(self.state, ACCESS_KEY, [row["id"]]))

    def touch_access_key(self, key_id: str, now: datetime) -> None:
        row = self._by_key_id(key_id)
        if row is not None:
            update_row(self.state, ACCESS_KEY, row["id"], {"last_used_at": now})


class MemorySessionStore:
    """`SessionStore` over the `console_session` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def _of_user(self, user_id: int) -> list[Row]:
        return [r for r in self.state.table(SESSION).values() if r["user_id"] == user_id]

    def create_session(
        self, session_id: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        expired = [r["id"] for r in self._of_user(user_id) if r["expires_at"] <= now]
        delete_rows(self.state, SESSION, expired)
        values: Row = {
            "id": session_id,
            "user_id": user_id,
            "created_at": now,
            "expires_at": expires_at,
        }
        insert_row(self.state, SESSION, values)

    def session_user(self, session_id: str, now: datetime) -> int | None:
        row = self.state.table(SESSION).get(session_id)
        return row["user_id"] if row is not None and row["expires_at"] > now else None

    def delete_session(self, session_id: str) -> bool:
        return bool(delete_rows(self.state, SESSION, [session_id]))

    def delete_user_sessions(self, user_id: int) -> int:
        return delete_rows(self.state, SESSION, [r["id"] for r in self._of_user(user_id)])


class MemoryLoginFailureStore:
    """`LoginFailureStore` over the `login_failure` rows."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def failure_counts(self, keys: Iterable[str]) -> dict[str, FailureCount]:
        rows = self.state.table(LOGIN_FAILURE)
        return {
            k: FailureCount(rows[k]["failures"], rows[k]["last_failed_at"])
            for k in keys
            if k in rows
        }

    def add_failure(self, key: str, now: datetime, window_start: datetime) -> FailureCount:
        row = self.state.table(LOGIN_FAILURE).get(key)
        if row is None:
            insert_row(
                self.state, LOGIN_FAILURE, {"key": key, "failures": 1, "last_failed_at": now}
            )
        else:
            failures = 1 if row["last_failed_at"] < window_start else row["failures"] + 1
            update_row(
                self.state, LOGIN_FAILURE, key, {"failures": failures, "last_failed_at": now}
            )
        return self.failure_counts([key])[key]

    def clear_failures(self, key: str) -> None:
        delete_rows(self.state, LOGIN_FAILURE, [key])

    def purge_failures(self, before: datetime) -> int:
        stale = [
            k for k, r in self.state.table(LOGIN_FAILURE).items() if r["last_failed_at"] < before
        ]
        return delete_rows(self.state, LOGIN_FAILURE, stale)


if TYPE_CHECKING:  # structurally the role ports (checked by mypy)
    _users: UserStore = MemoryUserStore(MemoryState())
    _projects: ProjectStore = MemoryProjectStore(MemoryState())
    _access_keys: AccessKeyStore = MemoryAccessKeyStore(MemoryState())
    _sessions: SessionStore = MemorySessionStore(MemoryState())
    _login_failures: LoginFailureStore = MemoryLoginFailureStore(MemoryState())
