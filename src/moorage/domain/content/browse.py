"""Read models for the console and the REST API: pages of images, artifacts and tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from moorage.domain.content.artifacts import is_digest, is_valid_tag, parse_digest
from moorage.domain.content.names import existing_image
from moorage.domain.content.ports import ContentTx
from moorage.domain.kernel.errors import InvalidInput, InvalidParameter, ManifestNotFound
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import ArtifactSummary, ImageSummary, Page, PageRequest, Tag
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.protection import (
    ProtectionPolicy,
    artifact_protection,
    protecting_policy,
)
from moorage.domain.policies.service import protection_for

MAX_PAGE_SIZE = 100
IMAGE_SORTS = ("name", "created_at")
ARTIFACT_SORTS = ("pushed_at", "pulled_at", "size", "digest")
TAG_SORTS = ("name", "pushed_at", "pulled_at")


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ArtifactDetail:
    summary: ArtifactSummary
    config_digest: str | None
    layers: tuple[Layer, ...]
    children: tuple[dict[str, Any], ...]  # an index's manifests, as pushed
    subject_digest: str | None
    annotations: dict[str, str]
    manifest: dict[str, Any]


def check_page(page: PageRequest, sorts: tuple[str, ...]) -> PageRequest:
    if page.page < 1:
        raise InvalidParameter("page", "page must be 1 or more")
    if not 1 <= page.page_size <= MAX_PAGE_SIZE:
        raise InvalidParameter("page_size", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    if page.sort is not None and page.sort.lstrip("-") not in sorts:
        choices = ", ".join(sorts)
        raise InvalidParameter("sort", f"sort must be one of {choices} (with '-' for descending)")
    if page.search is not None and len(page.search) > 255:
        raise InvalidInput("search is longer than 255 characters")
    return page


def _layers(doc: dict[str, Any]) -> tuple[Layer, ...]:
    return tuple(
        Layer(str(item.get("digest")), str(item.get("mediaType")), int(item.get("size", 0)))
        for item in doc.get("layers") or ()
        if isinstance(item, dict)
    )


def _flag_artifact(
    policies: list[ProtectionPolicy], image: str, summary: ArtifactSummary
) -> ArtifactSummary:
    protected = artifact_protection(policies, image, summary.tags) is not None
    return replace(summary, protected=protected)


class BrowseService:
    def __init__(self, uow: UnitOfWork[ContentTx]) -> None:
        self._uow = uow

    def images(self, registry: str, page: PageRequest) -> Page[ImageSummary]:
        check_page(page, IMAGE_SORTS)
        with self._uow() as store:
            return store.images.list_images(existing_registry(store, registry).id, page)

    def artifacts(self, repository: str, page: PageRequest) -> Page[ArtifactSummary]:
        check_page(page, ARTIFACT_SORTS)
        with self._uow() as store:
            image = existing_image(store, repository)
            found = store.artifacts.list_artifacts(image.id, page)
            policies = protection_for(store, image.registry_id)
        items = [_flag_artifact(policies, image.name, a) for a in found.items]
        return Page(items, found.total)

    def artifact(self, repository: str, reference: str) -> ArtifactDetail:
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
        elif not is_valid_tag(reference):
            raise ManifestNotFound(repository, reference)
        with self._uow() as store:
            image = existing_image(store, repository)
            found = store.artifacts.resolve_artifact(
                image.registry, image.name, reference, by_digest
            )
            if found is None:
                raise ManifestNotFound(repository, reference)
            head = found[1]
            (summary,) = store.artifacts.artifact_summaries(image.id, [head.id])
            summary = _flag_artifact(protection_for(store, image.registry_id), image.name, summary)
            artifact = store.artifacts.get_artifact(image.id, head.digest)
            doc = json.loads(store.artifacts.manifest_body(head.id))
        assert artifact is not None
        config = doc.get("config") if isinstance(doc.get("config"), dict) else None
        return ArtifactDetail(
            summary=summary,
            config_digest=str(config.get("digest")) if config else None,
            layers=_layers(doc),
            children=tuple(c for c in doc.get("manifests") or () if isinstance(c, dict)),
            subject_digest=artifact.subject_digest,
            annotations=artifact.annotations,
            manifest=doc,
        )

    def tags(self, repository: str, reference: str | None, page: PageRequest) -> Page[Tag]:
        check_page(page, TAG_SORTS)
        with self._uow() as store:
            image = existing_image(store, repository)
            artifact_id = None
            if reference is not None:
                by_digest = is_digest(reference)
                found = store.artifacts.resolve_artifact(
                    image.registry, image.name, reference, by_digest
                )
                if found is None:
                    raise ManifestNotFound(repository, reference)
                artifact_id = found[1].id
            tags = store.tags.list_tag_page(image.id, artifact_id, page)
            policies = protection_for(store, image.registry_id)
        flagged = [
            replace(t, protected=protecting_policy(policies, image.name, t.name) is not None)
            for t in tags.items
        ]
        return Page(flagged, tags.total)
