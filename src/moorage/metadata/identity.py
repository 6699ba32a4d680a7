"""Users (`UserStore`), projects with their members (`ProjectStore`), access keys
(`AccessKeyStore`), console sessions (`SessionStore`) and failed sign-in counters
(`LoginFailureStore`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, select, update

from moorage.domain.identity.ports import FailureCount
from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.kernel.model import AccessKey, Member, Project, Role, User
from moorage.metadata import tables as t
from moorage.metadata.sql import insert_unique, new_id

# Built once at import: asked on every authenticated request to a registry.
_ROLE_IN_REGISTRY = (
    select(t.project_member.c.role)
    .join(t.registry, t.registry.c.project_id == t.project_member.c.project_id)
    .where(
        t.project_member.c.user_id == bindparam("user_id"),
        t.registry.c.name == bindparam("registry"),
    )
)


def _user(row: Any) -> User:
    return User(
        row.id,
        row.username,
        row.password_hash,
        row.is_admin,
        row.created_at,
        row.disabled,
        row.auth_generation,
    )


def _key(row: Any) -> AccessKey:
    return AccessKey(
        row.id,
        row.user_id,
        row.key_id,
        row.secret_hash,
        row.enabled,
        row.created_at,
        row.last_used_at,
    )


class SqlUserStore:
    """`UserStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_user(self, username: str) -> User | None:
        row = self.conn.execute(select(t.user).where(t.user.c.username == username)).first()
        return _user(row) if row else None

    def create_user(self, username: str, password_hash: str, is_admin: bool, now: datetime) -> User:
        result = insert_unique(
            self.conn,
            insert(t.user).values(
                username=username, password_hash=password_hash, is_admin=is_admin, created_at=now
            ),
            f"user {username!r}",
        )
        return User(new_id(result), username, password_hash, is_admin, now)

    def count_users(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.user)).scalar_one())

    def list_users(self) -> list[User]:
        rows = self.conn.execute(select(t.user).order_by(t.user.c.username))
        return [_user(r) for r in rows]

    def get_user_by_id(self, user_id: int) -> User | None:
        row = self.conn.execute(select(t.user).where(t.user.c.id == user_id)).first()
        return _user(row) if row else None

    def delete_user(self, user_id: int) -> None:
        for table in (t.project_member, t.access_key):
            self.conn.execute(delete(table).where(table.c.user_id == user_id))
        self.conn.execute(delete(t.user).where(t.user.c.id == user_id))

    def set_password(self, user_id: int, password_hash: str) -> None:
        self.conn.execute(
            update(t.user).where(t.user.c.id == user_id).values(password_hash=password_hash)
        )

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        self.conn.execute(update(t.user).where(t.user.c.id == user_id).values(disabled=disabled))

    def bump_auth_generation(self, user_id: int) -> None:
        self.conn.execute(
            update(t.user)
            .where(t.user.c.id == user_id)
            .values(auth_generation=t.user.c.auth_generation + 1)
        )


class SqlProjectStore:
    """`ProjectStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_project(self, name: str, now: datetime) -> Project:
        result = insert_unique(
            self.conn, insert(t.project).values(name=name, created_at=now), f"project {name!r}"
        )
        return Project(new_id(result), name, now)

    def get_project(self, name: str) -> Project | None:
        row = self.conn.execute(select(t.project).where(t.project.c.name == name)).first()
        return Project(row.id, row.name, row.created_at) if row else None

    def list_projects(self) -> list[Project]:
        rows = self.conn.execute(select(t.project).order_by(t.project.c.name))
        return [Project(r.id, r.name, r.created_at) for r in rows]

    def set_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        changed = self.conn.execute(
            update(t.project_member)
            .where(t.project_member.c.project_id == project_id)
            .where(t.project_member.c.user_id == user_id)
            .values(role=role.value)
        )
        if not changed.rowcount:
            self.conn.execute(
                insert(t.project_member).values(
                    project_id=project_id, user_id=user_id, role=role.value, created_at=now
                )
            )

    def remove_member(self, project_id: int, user_id: int) -> bool:
        result = self.conn.execute(
            delete(t.project_member).where(
                t.project_member.c.project_id == project_id,
                t.project_member.c.user_id == user_id,
            )
        )
        return bool(result.rowcount)

    def list_members(self, project_id: int) -> list[Member]:
        rows = self.conn.execute(
            select(t.project_member, t.user.c.username, t.project.c.name.label("project"))
            .join(t.user, t.user.c.id == t.project_member.c.user_id)
            .join(t.project, t.project.c.id == t.project_member.c.project_id)
            .where(t.project_member.c.project_id == project_id)
            .order_by(t.user.c.username)
        )
        return [Member(r.project, r.username, Role(r.role), r.created_at) for r in rows]

    def role_in_registry(self, user_id: int, registry: str) -> Role | None:
        row = self.conn.execute(_ROLE_IN_REGISTRY, {"user_id": user_id, "registry": registry})
        role = row.scalar()
        return Role(role) if role else None

    def role_in_project(self, user_id: int, project_id: int) -> Role | None:
        role = self.conn.execute(
            select(t.project_member.c.role).where(
                t.project_member.c.user_id == user_id,
                t.project_member.c.project_id == project_id,
            )
        ).scalar()
        return Role(role) if role else None

    def memberships(self, user_id: int) -> list[tuple[str, Role]]:
        rows = self.conn.execute(
            select(t.project.c.name, t.project_member.c.role)
            .join(t.project, t.project.c.id == t.project_member.c.project_id)
            .where(t.project_member.c.user_id == user_id)
            .order_by(t.project.c.name)
        )
        return [(r.name, Role(r.role)) for r in rows]

    def readable_registries(self, user_id: int) -> set[str]:
        rows = self.conn.execute(
            select(t.registry.c.name)
            .join(t.project_member, t.project_member.c.project_id == t.registry.c.project_id)
            .where(t.project_member.c.user_id == user_id)
        )
        return set(rows.scalars())


class SqlAccessKeyStore:
    """`AccessKeyStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_access_key(
        self, user_id: int, key_id: str, secret_hash: str, now: datetime
    ) -> AccessKey:
        result = insert_unique(
            self.conn,
            insert(t.access_key).values(
                user_id=user_id,
                key_id=key_id,
                secret_hash=secret_hash,
                enabled=True,
                created_at=now,
            ),
            "access key",
        )
        return AccessKey(new_id(result), user_id, key_id, secret_hash, True, now, None)

    def get_access_key(self, key_id: str) -> AccessKey | None:
        row = self.conn.execute(select(t.access_key).where(t.access_key.c.key_id == key_id)).first()
        return _key(row) if row else None

    def list_access_keys(self, user_id: int) -> list[AccessKey]:
        rows = self.conn.execute(
            select(t.access_key)
            .where(t.access_key.c.user_id == user_id)
            .order_by(t.access_key.c.created_at)
        )
        return [_key(r) for r in rows]

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> bool:
        result = self.conn.execute(
            update(t.access_key).where(t.access_key.c.key_id == key_id).values(enabled=enabled)
        )
        return bool(result.rowcount)

    def delete_access_key(self, key_id: str) -> bool:
        result = self.conn.execute(delete(t.access_key).where(t.access_key.c.key_id == key_id))
        return bool(result.rowcount)

    def touch_access_key(self, key_id: str, now: datetime) -> None:
        self.conn.execute(
            update(t.access_key).where(t.access_key.c.key_id == key_id).values(last_used_at=now)
        )


class SqlSessionStore:
    """`SessionStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_session(
        self, session_id: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        s = t.console_session
        self.conn.execute(delete(s).where(s.c.user_id == user_id, s.c.expires_at <= now))
        self.conn.execute(
            insert(s).values(id=session_id, user_id=user_id, created_at=now, expires_at=expires_at)
        )

    def session_user(self, session_id: str, now: datetime) -> int | None:
        s = t.console_session
        found = self.conn.execute(
            select(s.c.user_id).where(s.c.id == session_id, s.c.expires_at > now)
        ).scalar()
        return int(found) if found is not None else None

    def delete_session(self, session_id: str) -> bool:
        s = t.console_session
        return bool(self.conn.execute(delete(s).where(s.c.id == session_id)).rowcount)

    def delete_user_sessions(self, user_id: int) -> int:
        s = t.console_session
        return int(self.conn.execute(delete(s).where(s.c.user_id == user_id)).rowcount)


class SqlLoginFailureStore:
    """`LoginFailureStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def failure_counts(self, keys: Iterable[str]) -> dict[str, FailureCount]:
        f = t.login_failure
        rows = self.conn.execute(select(f).where(f.c.key.in_(list(keys))))
        return {r.key: FailureCount(r.failures, r.last_failed_at) for r in rows}

    def add_failure(self, key: str, now: datetime, window_start: datetime) -> FailureCount:
        f = t.login_failure
        # The UPDATE takes the row's lock (PostgreSQL) or the write lock (SQLite), so
        # failures counted on several nodes at once all count.
        count_one_more = (
            update(f)
            .where(f.c.key == key)
            .values(
                failures=case((f.c.last_failed_at < window_start, 1), else_=f.c.failures + 1),
                last_failed_at=now,
            )
        )
        if not self.conn.execute(count_one_more).rowcount:
            try:
                insert_unique(
                    self.conn,
                    insert(f).values(key=key, failures=1, last_failed_at=now),
                    "login failure",
                )
            except AlreadyExists:  # another node counted the first one meanwhile
                self.conn.execute(count_one_more)
        row = self.conn.execute(select(f).where(f.c.key == key)).one()
        return FailureCount(row.failures, row.last_failed_at)

    def clear_failures(self, key: str) -> None:
        self.conn.execute(delete(t.login_failure).where(t.login_failure.c.key == key))

    def purge_failures(self, before: datetime) -> int:
        f = t.login_failure
        return int(self.conn.execute(delete(f).where(f.c.last_failed_at < before)).rowcount)
