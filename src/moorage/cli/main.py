"""`moorage` command line: argument parsing and dispatch to the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from moorage import __version__, wiring
from moorage.cli import (
    admin,
    audit,
    cleanup,
    content,
    gc,
    identity,
    logs,
    policies,
    profile,
    replication,
    serve,
    startup,
    target,
)
from moorage.config import Settings, is_invalid_settings, load_settings
from moorage.domain.kernel.model import Role

Command = Callable[[argparse.Namespace, wiring.Container], int]
"""A command working on local data only: it gets the composition root's container. A
command of a group (`group` default, a `target.Group`) gets the group's interface instead,
local or remote."""
SettingsCommand = Callable[[argparse.Namespace, Settings], int]
"""A command that must not build the container (`migrate`, `verify-config`)."""


def _common(json_output: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, help="TOML settings file (also MOORAGE_CONFIG)")
    parent.add_argument("--data-dir", type=Path, help="data directory (MOORAGE_DATA_DIR)")
    parent.add_argument("--database-url", help="SQLAlchemy URL (MOORAGE_DATABASE_URL)")
    if json_output:
        parent.add_argument("--json", action="store_true", help="print JSON for scripts")
    _debug_option(parent, default=argparse.SUPPRESS)  # after the command too
    return parent


def _debug_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on a failure, print the traceback too (not only the one-line error)",
    )


def _proxy_cache_options(p: argparse.ArgumentParser) -> None:
    """`registry create`: make the registry a proxy cache (docs/proxy-cache.md)."""
    g = p.add_argument_group("proxy cache")
    g.add_argument("--proxy-cache", metavar="URL", help="a pull-through cache of this registry")
    g.add_argument("--upstream-namespace", help="prefix of every repository upstream")
    g.add_argument("--username", dest="upstream_username", help="upstream user name")
    g.add_argument(
        "--password-stdin",
        dest="upstream_password_stdin",
        action="store_true",
        help="read the upstream password (or token) from stdin",
    )
    g.add_argument(
        "--insecure", dest="upstream_insecure", action="store_true", help="skip TLS verification"
    )
    g.add_argument(
        "--revalidate-seconds",
        type=int,
        help="serve a cached tag this long before asking upstream (default: the setting)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moorage", description="A container registry service.")
    parser.add_argument("--version", action="version", version=f"moorage {__version__}")
    _server_options(parser)
    _debug_option(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    _session_commands(sub, common)

    p = sub.add_parser("serve", parents=[_common(False)], help="run the registry")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS (MOORAGE_TLS_CERT)")
    p.add_argument("--tls-key", type=Path, help="its PEM private key (MOORAGE_TLS_KEY)")
    _node_options(p)
    p.set_defaults(run_with_settings=serve.run)

    p = sub.add_parser("worker", parents=[_common(False)], help="run background jobs only")
    _node_options(p)
    p.set_defaults(run=serve.work, long_running=True)

    p = sub.add_parser("migrate", parents=[common], help="bring the database schema up to date")
    p.set_defaults(run_with_settings=admin.migrate)

    p = sub.add_parser("verify-config", parents=[common], help="check settings and exit")
    p.set_defaults(run_with_settings=startup.verify_config)

    rsub = _group(sub, "registry", "manage registries (namespaces)", admin.REGISTRIES)
    p = rsub.add_parser("create", parents=[common], help="create a registry")
    p.add_argument("name")
    p.add_argument("--project", default="default", help="owning project (default: default)")
    _proxy_cache_options(p)
    p.set_defaults(run=admin.registry_create)
    p = rsub.add_parser("list", parents=[common], help="list registries with usage")
    p.set_defaults(run=admin.registry_list)
    p = rsub.add_parser("delete", parents=[common], help="delete a registry")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="also delete its images")
    p.set_defaults(run=admin.registry_delete)
    _identity_commands(sub, common)

    def group(name: str, help_text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        return _group(sub, name, help_text)

    content.add_commands(common, group)
    policies.add_commands(common, group)
    cleanup.add_commands(common, group)
    replication.add_commands(common, group)
    _gc_commands(sub, common)
    audit.add_commands(common, group)
    return parser


def _node_options(parser: argparse.ArgumentParser) -> None:
    """What `serve` and `worker` both take: how they log, and where they run."""
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines for people (text, the default) or JSON lines (MOORAGE_LOG_FORMAT)",
    )
    parser.add_argument(
        "--region", help="this deployment's region name, e.g. kr1 (MOORAGE_REGION; default local)"
    )


def _server_options(parser: argparse.ArgumentParser) -> None:
    """Before the command: the server to act on, and as whom (see `moorage.cli.profile`)."""
    parser.add_argument("--server", metavar="URL", help="act on this server (MOORAGE_SERVER)")
    parser.add_argument("--key-id", help="access key ID (MOORAGE_KEY_ID)")
    parser.add_argument("--secret", help="access key secret (MOORAGE_SECRET)")
    parser.add_argument("--username", help="sign in with a password instead of a key")
    parser.add_argument(
        "--password-stdin",
        dest="server_password_stdin",
        action="store_true",
        help="read the secret or password from stdin",
    )


def _session_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("login", help="check credentials on a server and save them as the profile")
    p.add_argument("url", help="the server, e.g. https://registry.example.com")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--key-id", dest="login_user", help="access key ID (else asked)")
    who.add_argument("--username", dest="login_user", help="username (else asked)")
    p.add_argument(
        "--password-stdin",
        "--secret-stdin",
        dest="login_secret_stdin",
        action="store_true",
        help="read the secret or password from stdin (else asked)",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run_alone=profile.login)
    p = sub.add_parser("logout", help="remove the saved profile")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run_alone=profile.logout)


def _gc_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    group = _group(sub, "gc", "garbage collection", gc.GC)
    p = group.add_parser("run", parents=[common], help="collect garbage now and show the run")
    p.add_argument("--dry-run", action="store_true", help="report what would go; delete nothing")
    p.add_argument(
        "--delete-untagged", action="store_true", help="also delete untagged, unreferred manifests"
    )
    p.set_defaults(run=gc.run)
    p = group.add_parser("history", parents=[common], help="past runs, newest first")
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.set_defaults(run=gc.history)
    p = group.add_parser("schedule", parents=[common], help="show or set the deployment's schedule")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", help='5-field cron, e.g. "0 3 * * SUN"')
    when.add_argument("--off", action="store_true", help="remove the schedule")
    p.set_defaults(run=gc.schedule)
    p = sub.add_parser("fsck", parents=[common], help="check metadata against the blob store")
    p.add_argument("--repair", action="store_true", help="fix what is safe to fix")
    p.add_argument(
        "--verify-digests", action="store_true", help="read every blob and check its digest"
    )
    p.set_defaults(run=gc.fsck)


def _group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    interface: target.Group[Any] | None = None,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command group; with `interface`, its commands act locally or on a server."""
    parser = sub.add_parser(name, help=help_text)
    if interface is not None:
        parser.set_defaults(group=interface)
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _identity_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    users = _group(sub, "user", "manage users", identity.IDENTITIES)
    for action, run, help_text in (
        ("create", identity.user_create, "create a user"),
        ("passwd", identity.user_passwd, "set a user's password"),
    ):
        p = users.add_parser(action, parents=[common], help=help_text)
        p.add_argument("name")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        if action == "create":
            p.add_argument("--admin", action="store_true", help="a system administrator")
        p.set_defaults(run=run)
    users.add_parser("list", parents=[common], help="list users").set_defaults(
        run=identity.user_list
    )
    p = users.add_parser("delete", parents=[common], help="delete a user")
    p.add_argument("name")
    p.set_defaults(run=identity.user_delete)
    for action, run, help_text in (
        ("disable", identity.user_disable, "disable a user: no sign-in, keys and sessions stop"),
        ("enable", identity.user_enable, "enable a disabled user again"),
    ):
        p = users.add_parser(action, parents=[common], help=help_text)
        p.add_argument("name")
        p.set_defaults(run=run)

    projects = _group(sub, "project", "manage projects", identity.IDENTITIES)
    p = projects.add_parser("create", parents=[common], help="create a project")
    p.add_argument("name")
    p.set_defaults(run=identity.project_create)
    p = projects.add_parser("list", parents=[common], help="list projects")
    p.set_defaults(run=identity.project_list)

    members = _group(sub, "member", "manage project members and roles", identity.IDENTITIES)
    p = members.add_parser("add", parents=[common], help="give a user a role in a project")
    p.add_argument("project")
    p.add_argument("user")
    p.add_argument("role", choices=[r.value for r in Role])
    p.set_defaults(run=identity.member_add)
    p = members.add_parser("remove", parents=[common], help="remove a user from a project")
    p.add_argument("project")
    p.add_argument("user")
    p.set_defaults(run=identity.member_remove)
    p = members.add_parser("list", parents=[common], help="members of a project")
    p.add_argument("project")
    p.set_defaults(run=identity.member_list)

    keys = _group(sub, "key", "manage access keys (at most five per user)", identity.IDENTITIES)
    for action, run, help_text in (
        ("create", identity.key_create, "create a key pair; the secret is shown once"),
        ("list", identity.key_list, "list a user's keys"),
    ):
        p = keys.add_parser(action, parents=[common], help=help_text)
        p.add_argument("--user", help="owner (default: admin; on a server: yourself)")
        p.set_defaults(run=run)
    for action, run, help_text in (
        ("enable", identity.key_enable, "enable a key"),
        ("disable", identity.key_disable, "disable a key: it stops working at once"),
        ("delete", identity.key_delete, "delete a key"),
    ):
        p = keys.add_parser(action, parents=[common], help=help_text)
        p.add_argument("key_id")
        p.set_defaults(run=run)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        try:
            _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _end_quietly_on_closed_pipe()


def _end_quietly_on_closed_pipe() -> None:
    """`moorage … | head -1`: the reader left, so stop writing, without a traceback. Exit
    status 1, as rich does when a table meets the closed pipe (and as Python advises)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not fail again
    sys.exit(1)


def _main(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    with target.one_line_errors():
        standalone = getattr(args, "run_alone", None)  # login, logout
        done = standalone(args) if standalone is not None else target.run_remote(args)
        if done is not None:
            sys.exit(done)
    config_file = args.config or _env_config()
    try:
        settings = load_settings(
            config_file,
            data_dir=args.data_dir,
            database_url=args.database_url,
            listen=getattr(args, "listen", None),
            tls_cert=getattr(args, "tls_cert", None),
            tls_key=getattr(args, "tls_key", None),
            log_format=getattr(args, "log_format", None),
            region=getattr(args, "region", None),
        )
    except tomllib.TOMLDecodeError as exc:  # a ValueError too: before the settings' own
        print(f"moorage: the settings file {config_file} is not valid TOML: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"moorage: cannot read the settings file {config_file}: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValueError as exc:
        if not is_invalid_settings(exc):
            raise
        print(f"moorage: invalid settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    with startup.reported_failures(args.debug), target.one_line_errors():
        sys.exit(_dispatch(args, settings))


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    with_settings: SettingsCommand | None = getattr(args, "run_with_settings", None)
    if with_settings is not None:
        return with_settings(args, settings)
    startup.check_data_dir(settings)
    long_running = getattr(args, "long_running", False)
    if long_running:  # `serve` and `worker` log from the start (migrations included)
        logs.configure_logging(settings.log_level, settings.log_format)
    container = wiring.build(
        settings, migrate_schema=settings.migrate_on_start if long_running else True
    )
    try:
        return target.run_local(args, container)
    finally:
        container.close()


def _env_config() -> Path | None:
    value = os.environ.get("MOORAGE_CONFIG")
    return Path(value) if value else None
