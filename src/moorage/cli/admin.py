"""Operators' commands acting on the same data as `serve`.

`migrate` and `verify-config` get the settings only: one prepares the database the
container is built on, the other checks settings without touching the database. The others
act on registries, locally or on a server (`REGISTRIES`)."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from starlette.requests import Request

from moorage import wiring
from moorage.api.rest.registries import registry_out
from moorage.cli.output import Column, done, emit_items, emit_one, size, when
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group
from moorage.config import Settings
from moorage.domain.kernel.model import RegistryUsage
from moorage.wiring import Container


class Registries(Protocol):
    """`moorage registry …`: registries as the REST API shows them (`RegistryOut`)."""

    def create(self, name: str, project: str) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def delete(self, name: str, force: bool) -> None: ...


class LocalRegistries:
    def __init__(self, container: Container) -> None:
        self._container = container

    def _out(self, usage: RegistryUsage) -> dict[str, Any]:
        # The API's own rendering, as for a request to the address clients use: the public
        # host, else the listen address (what the server falls back to as well).
        settings = self._container.settings
        host = settings.public_host or settings.listen
        served = Request({"type": "http", "headers": [(b"host", host.encode())]})
        return registry_out(usage, self._container, served).model_dump(mode="json")

    def create(self, name: str, project: str) -> dict[str, Any]:
        registry = self._container.registries.create(name, project)
        return self._out(RegistryUsage(registry, 0, 0))

    def list(self) -> list[dict[str, Any]]:
        return [self._out(u) for u in self._container.registries.list()]

    def delete(self, name: str, force: bool) -> None:
        self._container.registries.delete(name, force=force)


class RemoteRegistries:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def create(self, name: str, project: str) -> dict[str, Any]:
        return dict(self._api.post("/registries", {"name": name, "project": project}))

    def list(self) -> list[dict[str, Any]]:
        return self._api.items("/registries")

    def delete(self, name: str, force: bool) -> None:
        self._api.delete(f"/registries/{segment(name)}", {"force": str(force).lower()})


REGISTRIES: Group[Registries] = Group(LocalRegistries, RemoteRegistries)
REGISTRY_COLUMNS = (
    Column("name"),
    Column("project"),
    Column("public_uri", "public uri"),
    Column("image_count", "images"),
    Column("stored_bytes", "stored", size),
    Column("created_at", "created", when),
)
PRIVATE_URI = Column("private_uri", "private uri")


def registry_create(args: argparse.Namespace, registries: Registries) -> int:
    registry = registries.create(args.name, args.project)
    message = f"created registry {registry['name']}: {registry['public_uri']}"
    return done(message, registry, as_json=args.json)


def registry_list(args: argparse.Namespace, registries: Registries) -> int:
    items = registries.list()
    columns = list(REGISTRY_COLUMNS)
    if any(item.get("private_uri") for item in items):
        columns.insert(3, PRIVATE_URI)
    emit_items(items, columns, as_json=args.json)
    return 0


def registry_delete(args: argparse.Namespace, registries: Registries) -> int:
    registries.delete(args.name, args.force)
    row = {"name": args.name, "deleted": True}
    return done(f"deleted registry {args.name}", row, as_json=args.json)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    revision = wiring.migrate_database(settings)
    if args.json:
        emit_one({"revision": revision}, as_json=True)
    else:
        print(f"database at revision {revision}")
    return 0
