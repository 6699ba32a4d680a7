"""Which server the CLI talks to, as whom: options, environment, or the saved profile.

`moorage login URL` checks the credentials against the server (GET /users/me) and saves
them in `~/.config/moorage/profile.toml` (mode 0600, `$XDG_CONFIG_HOME` honoured);
`moorage logout` removes it. The credentials are Basic ones: a username and password, or
an access key ID and its secret (recommended: disable or delete the key to revoke it)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from moorage.cli.output import emit_one
from moorage.cli.remote import RemoteApi, server_url


class UsageError(Exception):
    """The command cannot run as asked (exit status 2, like argparse's errors)."""


@dataclass(frozen=True, slots=True)
class Connection:
    """A server and the Basic credentials to send it (None: a server without auth)."""

    server: str
    credentials: tuple[str, str] | None

    def open(self) -> RemoteApi:
        return RemoteApi(self.server, self.credentials)


def _url(text: str) -> str:
    try:
        return server_url(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def profile_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "moorage" / "profile.toml"


def load_profile() -> Connection | None:
    path = profile_path()
    if not path.exists():
        return None
    try:
        data = tomllib.loads(path.read_text())
        server = _url(str(data["server"]))
        user, secret = data.get("user"), data.get("secret")
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise UsageError(f"unreadable profile {path}: {exc}") from None
    credentials = (str(user), str(secret)) if user is not None and secret is not None else None
    return Connection(server, credentials)


def save_profile(connection: Connection) -> Path:
    """Written whole to a new file of mode 0600, then renamed over the old one."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"server = {json.dumps(connection.server)}"]  # a JSON string is a TOML string
    if connection.credentials is not None:
        user, secret = connection.credentials
        lines += [f"user = {json.dumps(user)}", f"secret = {json.dumps(secret)}"]
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    staging.replace(path)
    return path


def remote_connection(args: argparse.Namespace) -> Connection | None:
    """The server to act on, or None to act on local data.

    An explicit `--server` wins; explicit local options (`--data-dir`, `--database-url`,
    `--config`) mean local data; then MOORAGE_SERVER; then the saved profile."""
    explicit = args.server is not None
    local = any(getattr(args, name, None) is not None for name in LOCAL_OPTIONS)
    if explicit and local:
        raise UsageError(
            "--server acts on a server; --data-dir, --database-url and --config "
            "on local data: give one or the other"
        )
    if local:
        return None
    server = args.server or os.environ.get("MOORAGE_SERVER")
    if server:
        return Connection(_url(server), _credentials(args))
    if _credentials_given(args):
        raise UsageError("credentials given without a server: add --server URL (or login)")
    return load_profile()


LOCAL_OPTIONS = ("data_dir", "database_url", "config")


def _credentials_given(args: argparse.Namespace) -> bool:
    return any((args.key_id, args.secret, args.username, args.server_password_stdin))


def _credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.key_id and args.username:
        raise UsageError("--key-id and --username: give one of them")
    user = args.key_id or args.username
    if user is None and not _credentials_given(args):
        user = os.environ.get("MOORAGE_KEY_ID")
        secret = os.environ.get("MOORAGE_SECRET")
        if user and secret:
            return (user, secret)
        if user or secret:
            raise UsageError("MOORAGE_KEY_ID and MOORAGE_SECRET go together")
        return None
    if user is None:
        raise UsageError("a secret without --key-id or --username")
    if args.server_password_stdin:
        return (user, sys.stdin.readline().rstrip("\n"))
    if args.secret is not None:
        return (user, args.secret)
    return (user, getpass.getpass(f"secret or password of {user}: "))


def login(args: argparse.Namespace) -> int:
    """Ask for credentials (unless given), check them with GET /users/me, save the profile."""
    user = args.login_user or input("username or access key ID: ").strip()
    if args.login_secret_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = getpass.getpass("password or secret: ")
    connection = Connection(_url(args.url), (user, secret))
    with connection.open() as api:
        me = api.get("/users/me")
    path = save_profile(connection)
    if args.json:
        emit_one({"server": connection.server, **me, "profile": str(path)}, as_json=True)
    else:
        role = " (system administrator)" if me.get("is_admin") else ""
        print(f"signed in to {connection.server} as {me['username']}{role}; profile: {path}")
    return 0


def logout(args: argparse.Namespace) -> int:
    path = profile_path()
    existed = path.exists()
    path.unlink(missing_ok=True)
    if args.json:
        emit_one({"profile": str(path), "removed": existed}, as_json=True)
    else:
        print(f"removed {path}" if existed else "no profile to remove")
    return 0
