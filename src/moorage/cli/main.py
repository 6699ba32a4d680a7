"""`moorage` command line: argument parsing and dispatch to the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from moorage import __version__
from moorage.cli import admin, serve
from moorage.config import Settings, load_settings
from moorage.domain.errors import DomainError

Command = Callable[[argparse.Namespace, Settings], int]


def _common(json_output: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, help="TOML settings file (also MOORAGE_CONFIG)")
    parent.add_argument("--data-dir", type=Path, help="data directory (MOORAGE_DATA_DIR)")
    parent.add_argument("--database-url", help="SQLAlchemy URL (MOORAGE_DATABASE_URL)")
    if json_output:
        parent.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moorage", description="A container registry service.")
    parser.add_argument("--version", action="version", version=f"moorage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    p = sub.add_parser("serve", parents=[_common(False)], help="run the registry")
    p.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000)")
    p.set_defaults(run=serve.run)

    p = sub.add_parser("migrate", parents=[common], help="bring the database schema up to date")
    p.set_defaults(run=admin.migrate)

    p = sub.add_parser("verify-config", parents=[common], help="check settings and exit")
    p.set_defaults(run=admin.verify_config)

    registry = sub.add_parser("registry", help="manage registries (namespaces)")
    rsub = registry.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = rsub.add_parser("create", parents=[common], help="create a registry")
    p.add_argument("name")
    p.set_defaults(run=admin.registry_create)
    p = rsub.add_parser("list", parents=[common], help="list registries with usage")
    p.set_defaults(run=admin.registry_list)
    p = rsub.add_parser("delete", parents=[common], help="delete a registry")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="also delete its images")
    p.set_defaults(run=admin.registry_delete)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            args.config or _env_config(),
            data_dir=args.data_dir,
            database_url=args.database_url,
            listen=getattr(args, "listen", None),
        )
    except ValidationError as exc:
        print(f"moorage: invalid settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    run: Command = args.run
    try:
        sys.exit(run(args, settings))
    except DomainError as exc:
        print(f"moorage: {exc}", file=sys.stderr)
        sys.exit(1)


def _env_config() -> Path | None:
    import os

    value = os.environ.get("MOORAGE_CONFIG")
    return Path(value) if value else None
