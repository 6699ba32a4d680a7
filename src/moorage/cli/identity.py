"""`moorage user|project|member|key`: identities and permissions, locally or on a server.

On a server, access keys are the signed-in user's own (the API offers no other), user
commands need a system administrator, and `user passwd` is refused (its password and the
sign-in's would both come from standard input)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any, Protocol

from moorage.cli.output import Column, done, emit_items, emit_one, when, yes_no
from moorage.cli.profile import UsageError
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group
from moorage.domain.kernel.model import Role
from moorage.wiring import Container

if TYPE_CHECKING:
    from moorage.api.rest.schemas import MemberOut, ProjectOut, UserOut

LOCAL_KEY_OWNER = "admin"  # `key create|list` without --user, on local data


def _password(args: argparse.Namespace) -> str:
    """From --password-stdin, else an interactive prompt (typed twice)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


class Identities(Protocol):
    """Users, projects, members and access keys, as the REST API shows them."""

    def create_user(self, name: str, password: str, is_admin: bool) -> dict[str, Any]: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def delete_user(self, name: str) -> None: ...
    def set_password(self, name: str, password: str) -> None: ...
    def set_disabled(self, name: str, disabled: bool) -> dict[str, Any]: ...
    def create_project(self, name: str) -> dict[str, Any]: ...
    def list_projects(self) -> list[dict[str, Any]]: ...
    def set_member(self, project: str, user: str, role: Role) -> None: ...
    def remove_member(self, project: str, user: str) -> None: ...
    def list_members(self, project: str) -> list[dict[str, Any]]: ...
    def create_key(self, owner: str | None) -> dict[str, Any]: ...
    def list_keys(self, owner: str | None) -> list[dict[str, Any]]: ...
    def set_key_enabled(self, key_id: str, enabled: bool) -> None: ...
    def delete_key(self, key_id: str) -> None: ...


class LocalIdentities:
    def __init__(self, container: Container) -> None:
        self._identities = container.identities

    def create_user(self, name: str, password: str, is_admin: bool) -> dict[str, Any]:
        from moorage.api.rest.schemas import UserOut

        user = self._identities.create_user(name, password, is_admin=is_admin)
        return _api_json(UserOut, user)

    def list_users(self) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import UserOut

        return [_api_json(UserOut, u) for u in self._identities.list_users()]

    def delete_user(self, name: str) -> None:
        self._identities.delete_user(name)

    def set_password(self, name: str, password: str) -> None:
        self._identities.set_password(name, password)

    def set_disabled(self, name: str, disabled: bool) -> dict[str, Any]:
        # No acting user on the server's own data: only the last enabled admin is kept.
        from moorage.api.rest.schemas import UserOut

        return _api_json(UserOut, self._identities.set_disabled(name, disabled))

    def create_project(self, name: str) -> dict[str, Any]:
        from moorage.api.rest.schemas import ProjectOut

        return _api_json(ProjectOut, self._identities.create_project(name))

    def list_projects(self) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import ProjectOut

        return [_api_json(ProjectOut, p) for p in self._identities.list_projects()]

    def set_member(self, project: str, user: str, role: Role) -> None:
        self._identities.set_member(project, user, role)

    def remove_member(self, project: str, user: str) -> None:
        self._identities.remove_member(project, user)

    def list_members(self, project: str) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import MemberOut

        return [_api_json(MemberOut, m) for m in self._identities.list_members(project)]

    def create_key(self, owner: str | None) -> dict[str, Any]:
        from moorage.api.rest.identity import _key
        from moorage.api.rest.schemas import AccessKeyCreated

        new = self._identities.create_access_key(owner or LOCAL_KEY_OWNER)
        created = AccessKeyCreated(**_key(new.key).model_dump(), secret=new.secret)
        return created.model_dump(mode="json")

    def list_keys(self, owner: str | None) -> list[dict[str, Any]]:
        from moorage.api.rest.identity import _key

        keys = self._identities.list_access_keys(owner or LOCAL_KEY_OWNER)
        return [_key(k).model_dump(mode="json") for k in keys]

    def set_key_enabled(self, key_id: str, enabled: bool) -> None:
        self._identities.set_access_key_enabled(key_id, enabled)

    def delete_key(self, key_id: str) -> None:
        self._identities.delete_access_key(key_id)


def _api_json(model: type[UserOut | ProjectOut | MemberOut], record: object) -> dict[str, Any]:
    return model.model_validate(record, from_attributes=True).model_dump(mode="json")


class RemoteIdentities:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def create_user(self, name: str, password: str, is_admin: bool) -> dict[str, Any]:
        body = {"username": name, "password": password, "is_admin": is_admin}
        return dict(self._api.post("/users", body))

    def list_users(self) -> list[dict[str, Any]]:
        return self._api.items("/users")

    def delete_user(self, name: str) -> None:
        self._api.delete(f"/users/{segment(name)}")

    def set_password(self, name: str, password: str) -> None:
        raise UsageError(
            "`user passwd` works on local data only: on a server, a system administrator "
            "resets a password in the console (Administration > Users)"
        )

    def set_disabled(self, name: str, disabled: bool) -> dict[str, Any]:
        return dict(self._api.patch(f"/users/{segment(name)}", {"disabled": disabled}))

    def create_project(self, name: str) -> dict[str, Any]:
        return dict(self._api.post("/projects", {"name": name}))

    def list_projects(self) -> list[dict[str, Any]]:
        return self._api.items("/projects")

    def _member(self, project: str, user: str) -> str:
        return f"/projects/{segment(project)}/members/{segment(user)}"

    def set_member(self, project: str, user: str, role: Role) -> None:
        self._api.put(self._member(project, user), {"role": role.value})

    def remove_member(self, project: str, user: str) -> None:
        self._api.delete(self._member(project, user))

    def list_members(self, project: str) -> list[dict[str, Any]]:
        return self._api.items(f"/projects/{segment(project)}/members")

    def _own_keys(self, owner: str | None) -> str:
        """The API manages the caller's own keys only: another --user is refused."""
        if owner is not None and owner != self._api.get("/users/me")["username"]:
            raise UsageError(f"on a server, keys are your own: sign in as {owner} to manage theirs")
        return "/users/me/access-keys"

    def create_key(self, owner: str | None) -> dict[str, Any]:
        return dict(self._api.post(self._own_keys(owner)))

    def list_keys(self, owner: str | None) -> list[dict[str, Any]]:
        return self._api.items(self._own_keys(owner))

    def set_key_enabled(self, key_id: str, enabled: bool) -> None:
        self._api.patch(f"/users/me/access-keys/{segment(key_id)}", {"enabled": enabled})

    def delete_key(self, key_id: str) -> None:
        self._api.delete(f"/users/me/access-keys/{segment(key_id)}")


IDENTITIES: Group[Identities] = Group(LocalIdentities, RemoteIdentities)
USER_COLUMNS = (
    Column("username"),
    Column("is_admin", "admin", yes_no),
    Column("disabled", show=yes_no),
    Column("created_at", "created", when),
)
PROJECT_COLUMNS = (Column("name"), Column("created_at", "created", when))
MEMBER_COLUMNS = (Column("username"), Column("role"), Column("created_at", "since", when))
KEY_COLUMNS = (
    Column("key_id", "key id"),
    Column("enabled", show=yes_no),
    Column("created_at", "created", when),
    Column("last_used_at", "last used", when),
    Column("rotation_due", "rotate", yes_no),
)


def _done(args: argparse.Namespace, message: str, row: dict[str, Any]) -> int:
    return done(message, row, as_json=args.json)


def user_create(args: argparse.Namespace, identities: Identities) -> int:
    user = identities.create_user(args.name, _password(args), args.admin)
    return _done(args, f"created user {user['username']}", user)


def user_list(args: argparse.Namespace, identities: Identities) -> int:
    emit_items(identities.list_users(), USER_COLUMNS, as_json=args.json)
    return 0


def user_delete(args: argparse.Namespace, identities: Identities) -> int:
    identities.delete_user(args.name)
    return _done(args, f"deleted user {args.name}", {"username": args.name, "deleted": True})


def user_passwd(args: argparse.Namespace, identities: Identities) -> int:
    identities.set_password(args.name, _password(args))
    return _done(args, f"changed the password of {args.name}", {"username": args.name})


def user_disable(args: argparse.Namespace, identities: Identities) -> int:
    user = identities.set_disabled(args.name, True)
    return _done(args, f"disabled user {args.name}: they can no longer sign in", user)


def user_enable(args: argparse.Namespace, identities: Identities) -> int:
    user = identities.set_disabled(args.name, False)
    return _done(args, f"enabled user {args.name}", user)


def project_create(args: argparse.Namespace, identities: Identities) -> int:
    project = identities.create_project(args.name)
    return _done(args, f"created project {project['name']}", project)


def project_list(args: argparse.Namespace, identities: Identities) -> int:
    emit_items(identities.list_projects(), PROJECT_COLUMNS, as_json=args.json)
    return 0


def member_add(args: argparse.Namespace, identities: Identities) -> int:
    role = Role(args.role)
    identities.set_member(args.project, args.user, role)
    row = {"project": args.project, "username": args.user, "role": role.value}
    return _done(args, f"{args.user} is {role.value} in {args.project}", row)


def member_remove(args: argparse.Namespace, identities: Identities) -> int:
    identities.remove_member(args.project, args.user)
    row = {"project": args.project, "username": args.user, "removed": True}
    return _done(args, f"removed {args.user} from {args.project}", row)


def member_list(args: argparse.Namespace, identities: Identities) -> int:
    emit_items(identities.list_members(args.project), MEMBER_COLUMNS, as_json=args.json)
    return 0


def key_create(args: argparse.Namespace, identities: Identities) -> int:
    new = identities.create_key(args.user)
    if args.json:
        emit_one(new, as_json=True)
        return 0
    print(f"access key ID: {new['key_id']}")
    print(f"secret key:    {new['secret']}")
    print("The secret is shown only now; moorage keeps only its hash.")
    return 0


def key_list(args: argparse.Namespace, identities: Identities) -> int:
    emit_items(identities.list_keys(args.user), KEY_COLUMNS, as_json=args.json)
    return 0


def key_enable(args: argparse.Namespace, identities: Identities) -> int:
    identities.set_key_enabled(args.key_id, True)
    return _done(args, f"enabled {args.key_id}", {"key_id": args.key_id, "enabled": True})


def key_disable(args: argparse.Namespace, identities: Identities) -> int:
    identities.set_key_enabled(args.key_id, False)
    return _done(args, f"disabled {args.key_id}", {"key_id": args.key_id, "enabled": False})


def key_delete(args: argparse.Namespace, identities: Identities) -> int:
    identities.delete_key(args.key_id)
    return _done(args, f"deleted {args.key_id}", {"key_id": args.key_id, "deleted": True})
