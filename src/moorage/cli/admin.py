"""Operators' commands acting on the same data as `serve`.

`migrate` and `verify-config` get the settings only: one prepares the database the
container is built on, the other checks settings without touching the database. The others
act on registries, locally or on a server (`REGISTRIES`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Protocol

from moorage import wiring
from moorage.cli.output import Column, done, emit_items, emit_one, size, when
from moorage.cli.remote import RemoteApi, segment
from moorage.cli.target import Group
from moorage.config import Settings
from moorage.domain.kernel.model import RegistryUsage
from moorage.domain.proxycache.model import Upstream, UpstreamDraft
from moorage.wiring import Container


class Registries(Protocol):
    """`moorage registry …`: registries as the REST API shows them (`RegistryOut`)."""

    def create(
        self, name: str, project: str, proxy_cache: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`proxy_cache`: the upstream as the REST API takes it (`ProxyCacheIn`)."""

    def list(self) -> list[dict[str, Any]]: ...
    def delete(self, name: str, force: bool) -> None: ...


class LocalRegistries:
    def __init__(self, container: Container) -> None:
        self._container = container

    def _out(self, usage: RegistryUsage, upstream: Upstream | None = None) -> dict[str, Any]:
        # The API's own rendering, as for a request to the address clients use: the public
        # host, else the listen address (what the server falls back to as well).
        from starlette.requests import Request

        from moorage.api.rest.registries import registry_out

        settings = self._container.settings
        host = settings.public_host or settings.listen
        served = Request({"type": "http", "headers": [(b"host", host.encode())]})
        out = registry_out(usage, self._container, served, upstream=upstream)
        return out.model_dump(mode="json")

    def create(
        self, name: str, project: str, proxy_cache: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        upstream = None
        with self._container.uow.scope(write=True):  # the registry and its upstream, or neither
            registry = self._container.registries.create(name, project)
            if proxy_cache is not None:
                draft = UpstreamDraft(**proxy_cache)
                upstream = self._container.proxy_cache.attach(registry.name, draft)
        return self._out(RegistryUsage(registry, 0, 0), upstream)

    def list(self) -> list[dict[str, Any]]:
        upstreams = self._container.proxy_cache.upstreams()
        return [
            self._out(u, upstreams.get(u.registry.name)) for u in self._container.registries.list()
        ]

    def delete(self, name: str, force: bool) -> None:
        self._container.registries.delete(name, force=force)


class RemoteRegistries:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    def create(
        self, name: str, project: str, proxy_cache: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "project": project}
        if proxy_cache is not None:
            body["proxy_cache"] = proxy_cache
        return dict(self._api.post("/registries", body))

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
    registry = registries.create(args.name, args.project, _proxy_cache(args))
    message = f"created registry {registry['name']}: {registry['public_uri']}"
    if registry.get("upstream"):
        message += f" (a proxy cache of {registry['upstream']['url']})"
    return done(message, registry, as_json=args.json)


def _proxy_cache(args: argparse.Namespace) -> dict[str, Any] | None:
    """The upstream `--proxy-cache URL` and its options describe; the password from stdin."""
    if not args.proxy_cache:
        return None
    password = sys.stdin.readline().rstrip("\n") if args.upstream_password_stdin else None
    return {
        "url": args.proxy_cache,
        "namespace": args.upstream_namespace or "",
        "username": args.upstream_username,
        "password": password or None,
        "verify_tls": not args.upstream_insecure,
        "revalidate_seconds": args.revalidate_seconds,
    }


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
