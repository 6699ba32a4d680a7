"""`moorage user|project|member|key`: identities and permissions."""

from __future__ import annotations

import argparse
import getpass
import sys

from moorage.cli.output import emit, emit_one
from moorage.domain.kernel.model import AccessKey, Role
from moorage.wiring import Container


def _password(args: argparse.Namespace) -> str:
    """From --password-stdin, else an interactive prompt (typed twice)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("moorage: the passwords differ")
    return first


def _done(args: argparse.Namespace, message: str, row: dict[str, object]) -> int:
    if args.json:
        emit_one(row, as_json=True)
    else:
        print(message)
    return 0


def user_create(args: argparse.Namespace, container: Container) -> int:
    user = container.identities.create_user(args.name, _password(args), is_admin=args.admin)
    row = {"username": user.username, "is_admin": user.is_admin, "created_at": user.created_at}
    return _done(args, f"created user {user.username}", row)


def user_list(args: argparse.Namespace, container: Container) -> int:
    rows = [
        {"username": u.username, "is_admin": u.is_admin, "created_at": u.created_at}
        for u in container.identities.list_users()
    ]
    emit(rows, ["username", "is_admin", "created_at"], as_json=args.json)
    return 0


def user_delete(args: argparse.Namespace, container: Container) -> int:
    container.identities.delete_user(args.name)
    return _done(args, f"deleted user {args.name}", {"username": args.name, "deleted": True})


def user_passwd(args: argparse.Namespace, container: Container) -> int:
    container.identities.set_password(args.name, _password(args))
    return _done(args, f"changed the password of {args.name}", {"username": args.name})


def project_create(args: argparse.Namespace, container: Container) -> int:
    project = container.identities.create_project(args.name)
    row = {"name": project.name, "created_at": project.created_at}
    return _done(args, f"created project {project.name}", row)


def project_list(args: argparse.Namespace, container: Container) -> int:
    rows = [
        {"name": p.name, "created_at": p.created_at} for p in container.identities.list_projects()
    ]
    emit(rows, ["name", "created_at"], as_json=args.json)
    return 0


def member_add(args: argparse.Namespace, container: Container) -> int:
    role = Role(args.role)
    container.identities.set_member(args.project, args.user, role)
    row = {"project": args.project, "username": args.user, "role": role.value}
    return _done(args, f"{args.user} is {role.value} in {args.project}", row)


def member_remove(args: argparse.Namespace, container: Container) -> int:
    container.identities.remove_member(args.project, args.user)
    row = {"project": args.project, "username": args.user, "removed": True}
    return _done(args, f"removed {args.user} from {args.project}", row)


def member_list(args: argparse.Namespace, container: Container) -> int:
    rows = [
        {"username": m.username, "role": m.role.value, "since": m.created_at}
        for m in container.identities.list_members(args.project)
    ]
    emit(rows, ["username", "role", "since"], as_json=args.json)
    return 0


def _key_row(key: AccessKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "enabled": key.enabled,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
    }


def key_create(args: argparse.Namespace, container: Container) -> int:
    new = container.identities.create_access_key(args.user)
    row = {**_key_row(new.key), "secret": new.secret}
    if args.json:
        emit_one(row, as_json=True)
        return 0
    print(f"access key ID: {new.key.key_id}")
    print(f"secret key:    {new.secret}")
    print("The secret is shown only now; moorage keeps only its hash.")
    return 0


def key_list(args: argparse.Namespace, container: Container) -> int:
    rows = [_key_row(k) for k in container.identities.list_access_keys(args.user)]
    emit(rows, ["key_id", "enabled", "created_at", "last_used_at"], as_json=args.json)
    return 0


def key_enable(args: argparse.Namespace, container: Container) -> int:
    container.identities.set_access_key_enabled(args.key_id, True)
    return _done(args, f"enabled {args.key_id}", {"key_id": args.key_id, "enabled": True})


def key_disable(args: argparse.Namespace, container: Container) -> int:
    container.identities.set_access_key_enabled(args.key_id, False)
    return _done(args, f"disabled {args.key_id}", {"key_id": args.key_id, "enabled": False})


def key_delete(args: argparse.Namespace, container: Container) -> int:
    container.identities.delete_access_key(args.key_id)
    return _done(args, f"deleted {args.key_id}", {"key_id": args.key_id, "deleted": True})
