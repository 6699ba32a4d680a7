"""`moorage image list`, `artifact list`, `tag list|create|delete`: what registries hold, as
the REST API shows it (`ImageOut`, `ArtifactOut`, `TagOut`), locally or on a server."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from moorage.cli.output import (
    Column,
    done,
    emit_items,
    joined,
    short_digest,
    size,
    when,
    yes_no,
)
from moorage.cli.remote import PAGE_SIZE, RemoteApi, segment
from moorage.cli.target import Group, every_page
from moorage.domain.kernel.model import PageRequest
from moorage.wiring import Container

if TYPE_CHECKING:
    from moorage.api.rest.schemas import ArtifactOut, TagOut


class Content(Protocol):
    def images(self, registry: str) -> list[dict[str, Any]]: ...
    def artifacts(self, registry: str, image: str) -> list[dict[str, Any]]: ...
    def tags(self, registry: str, image: str) -> list[dict[str, Any]]: ...
    def create_tag(self, registry: str, image: str, reference: str, tag: str) -> dict[str, Any]:
        """Point `tag` (new, or moved) at the artifact `reference` (a digest or a tag)."""

    def delete_tag(self, registry: str, image: str, tag: str) -> None: ...


class LocalContent:
    def __init__(self, container: Container) -> None:
        self._browse = container.browse
        self._artifacts = container.artifacts

    def images(self, registry: str) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import ImageOut

        found = every_page(lambda page: self._browse.images(registry, page))
        return [
            ImageOut(repository=f"{registry}/{i.name}", **asdict(i)).model_dump(mode="json")
            for i in found
        ]

    def artifacts(self, registry: str, image: str) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import ArtifactOut

        found = every_page(lambda page: self._browse.artifacts(f"{registry}/{image}", page))
        return [_api_json(ArtifactOut, a) for a in found]

    def tags(self, registry: str, image: str) -> list[dict[str, Any]]:
        from moorage.api.rest.schemas import TagOut

        found = every_page(lambda page: self._browse.tags(f"{registry}/{image}", None, page))
        return [_api_json(TagOut, t) for t in found]

    def create_tag(self, registry: str, image: str, reference: str, tag: str) -> dict[str, Any]:
        from moorage.api.rest.schemas import TagOut

        repository = f"{registry}/{image}"
        self._artifacts.tag_artifact(repository, reference, tag)
        page = self._browse.tags(repository, tag, PageRequest(search=tag, page_size=PAGE_SIZE))
        return _api_json(TagOut, next(t for t in page.items if t.name == tag))

    def delete_tag(self, registry: str, image: str, tag: str) -> None:
        self._artifacts.delete_tag(f"{registry}/{image}", tag)


def _api_json(model: type[ArtifactOut] | type[TagOut], record: object) -> dict[str, Any]:
    return model.model_validate(record, from_attributes=True).model_dump(mode="json")


class RemoteContent:
    def __init__(self, api: RemoteApi) -> None:
        self._api = api

    @staticmethod
    def _image(registry: str, image: str) -> str:
        return f"/registries/{segment(registry)}/images/{segment(image)}"

    def images(self, registry: str) -> list[dict[str, Any]]:
        return self._api.items(f"/registries/{segment(registry)}/images")

    def artifacts(self, registry: str, image: str) -> list[dict[str, Any]]:
        return self._api.items(f"{self._image(registry, image)}/artifacts")

    def tags(self, registry: str, image: str) -> list[dict[str, Any]]:
        return self._api.items(f"{self._image(registry, image)}/tags")

    def create_tag(self, registry: str, image: str, reference: str, tag: str) -> dict[str, Any]:
        path = f"{self._image(registry, image)}/artifacts/{segment(reference)}/tags"
        return dict(self._api.post(path, {"name": tag}))

    def delete_tag(self, registry: str, image: str, tag: str) -> None:
        # The API deletes a tag of an artifact; the tag itself names that artifact.
        path = f"{self._image(registry, image)}/artifacts/{segment(tag)}/tags/{segment(tag)}"
        self._api.delete(path)


CONTENT: Group[Content] = Group(LocalContent, RemoteContent)

IMAGE_COLUMNS = (
    Column("name", "image"),
    Column("artifact_count", "artifacts"),
    Column("tag_count", "tags"),
    Column("pushed_at", "pushed", when),
    Column("pulled_at", "pulled", when),
)
ARTIFACT_COLUMNS = (
    Column("digest", show=short_digest),
    Column("tags", show=joined),
    Column("platforms", show=joined),
    Column("size", show=size),
    Column("pushed_at", "pushed", when),
)
TAG_COLUMNS = (
    Column("name", "tag"),
    Column("digest", show=short_digest),
    Column("protected", show=yes_no),
    Column("pushed_at", "pushed", when),
    Column("pulled_at", "pulled", when),
)


def image_list(args: argparse.Namespace, content: Content) -> int:
    emit_items(content.images(args.registry), IMAGE_COLUMNS, as_json=args.json)
    return 0


def artifact_list(args: argparse.Namespace, content: Content) -> int:
    emit_items(content.artifacts(args.registry, args.image), ARTIFACT_COLUMNS, as_json=args.json)
    return 0


def tag_list(args: argparse.Namespace, content: Content) -> int:
    emit_items(content.tags(args.registry, args.image), TAG_COLUMNS, as_json=args.json)
    return 0


def tag_create(args: argparse.Namespace, content: Content) -> int:
    tag = content.create_tag(args.registry, args.image, args.reference, args.tag)
    message = f"tagged {args.registry}/{args.image}:{tag['name']} -> {tag['digest']}"
    return done(message, tag, as_json=args.json)


def tag_delete(args: argparse.Namespace, content: Content) -> int:
    content.delete_tag(args.registry, args.image, args.tag)
    message = f"deleted tag {args.registry}/{args.image}:{args.tag}"
    return done(message, {"name": args.tag, "deleted": True}, as_json=args.json)


def add_commands(
    common: argparse.ArgumentParser,
    group: Callable[[str, str], argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    """`image`, `artifact` and `tag` commands (`group` makes a command group)."""
    images = group("image", "images of a registry")
    p = images.add_parser("list", parents=[common], help="images with artifact and tag counts")
    p.add_argument("registry")
    p.set_defaults(run=image_list, group=CONTENT)
    artifacts = group("artifact", "artifacts (manifests) of an image")
    p = artifacts.add_parser("list", parents=[common], help="artifacts, newest first")
    p.add_argument("registry")
    p.add_argument("image")
    p.set_defaults(run=artifact_list, group=CONTENT)
    tags = group("tag", "tags of an image")
    p = tags.add_parser("list", parents=[common], help="every tag of an image")
    p.add_argument("registry")
    p.add_argument("image")
    p.set_defaults(run=tag_list, group=CONTENT)
    p = tags.add_parser("create", parents=[common], help="point a tag at an artifact")
    p.add_argument("registry")
    p.add_argument("image")
    p.add_argument("reference", help="the artifact: a digest or a tag")
    p.add_argument("tag", help="the tag to create (or move)")
    p.set_defaults(run=tag_create, group=CONTENT)
    p = tags.add_parser("delete", parents=[common], help="delete a tag (not its artifact)")
    p.add_argument("registry")
    p.add_argument("image")
    p.add_argument("tag")
    p.set_defaults(run=tag_delete, group=CONTENT)
