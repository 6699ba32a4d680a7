"""Operators' commands acting on the same data as `serve`.

`migrate` and `verify-config` get the settings only: one prepares the database the
container is built on, the other checks settings without touching the database. The others
get the composition root's container."""

from __future__ import annotations

import argparse

from moorage import wiring
from moorage.cli.output import emit, emit_one, human_bytes
from moorage.config import Settings
from moorage.domain.kernel.model import RegistryUsage
from moorage.wiring import Container


def _registry_row(usage: RegistryUsage, settings: Settings) -> dict[str, object]:
    host = settings.public_host or settings.listen
    return {
        "name": usage.registry.name,
        "project": usage.registry.project,
        "public_uri": f"{host}/{usage.registry.name}",
        "private_uri": (
            f"{settings.private_host}/{usage.registry.name}" if settings.private_host else None
        ),
        "images": usage.image_count,
        "stored_bytes": usage.stored_bytes,
        "created_at": usage.registry.created_at,
    }


def registry_create(args: argparse.Namespace, container: Container) -> int:
    registry = container.registries.create(args.name, args.project)
    if args.json:
        emit_one({"name": registry.name, "created_at": registry.created_at}, as_json=True)
    else:
        print(f"created registry {registry.name}")
    return 0


def registry_list(args: argparse.Namespace, container: Container) -> int:
    rows = [_registry_row(u, container.settings) for u in container.registries.list()]
    if not args.json:
        for row in rows:
            row["stored"] = human_bytes(int(str(row["stored_bytes"])))
    columns = ["name", "project", "public_uri", "private_uri", "images", "stored", "created_at"]
    emit(rows, columns, as_json=args.json)
    return 0


def registry_delete(args: argparse.Namespace, container: Container) -> int:
    container.registries.delete(args.name, force=args.force)
    if args.json:
        emit_one({"name": args.name, "deleted": True}, as_json=True)
    else:
        print(f"deleted registry {args.name}")
    return 0


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    revision = wiring.migrate_database(settings)
    if args.json:
        emit_one({"revision": revision}, as_json=True)
    else:
        print(f"database at revision {revision}")
    return 0


def verify_config(args: argparse.Namespace, settings: Settings) -> int:
    wiring.build_blobs(settings)
    shown = settings.model_dump(mode="json")
    if args.json:
        emit_one(shown, as_json=True)
    else:
        emit_one(shown, as_json=False)
        print("configuration is valid")
    return 0
