"""Read models for the console and the REST API: pages of images, artifacts and tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from moorage.domain.content.artifacts import is_digest, is_valid_tag, parse_digest
from moorage.domain.content.names import existing_image
from moorage.domain.content.ports import ContentTx, TagCursor, TagStore
from moorage.domain.content.tag_globs import tag_globs
from moorage.domain.kernel.errors import InvalidInput, InvalidParameter, ManifestNotFound
from moorage.domain.kernel.lookups import existing_registry
from moorage.domain.kernel.model import (
    ArtifactHead,
    ArtifactSummary,
    Image,
    ImageSummary,
    Page,
    PageRequest,
    Tag,
)
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
    if page.sort is not None and not sorts:
        raise InvalidParameter("sort", "this list has one order and cannot be sorted")
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


TAG_BATCH = 1000  # tag names read at once when a pattern is matched in Python


def _flag_artifact(
    tags: TagStore, policies: list[ProtectionPolicy], image: str, summary: ArtifactSummary
) -> ArtifactSummary:
    policy = _protecting_policy(tags, policies, image, summary)
    if policy is None:
        return replace(summary, protected=False, protected_by=None)
    return replace(summary, protected=True, protected_by=policy.describe())


def _protecting_policy(
    tags: TagStore, policies: list[ProtectionPolicy], image: str, summary: ArtifactSummary
) -> ProtectionPolicy | None:
    """The policy protecting a tag of the artifact, if any, without reading every tag: no
    policy for the image, no tags, or a protected tag among the recent ones answer at once;
    otherwise each policy's tag pattern is asked of the store (or matched in batches)."""
    applicable = [p for p in policies if p.enabled and p.image.selects(image)]
    if not applicable or summary.tag_count == 0:
        return None
    found = artifact_protection(applicable, image, summary.tags)
    if summary.tag_count <= len(summary.tags):
        return found
    # As for a delete, the lowest policy id wins: only policies before `found` are asked.
    earlier = sorted(
        (p for p in applicable if found is None or p.id < found.id), key=lambda p: p.id
    )
    return next((p for p in earlier if _protects_a_tag(tags, summary.id, p)), found)


def _flag_tag(policies: list[ProtectionPolicy], image: str, tag: Tag) -> Tag:
    policy = protecting_policy(policies, image, tag.name)
    if policy is None:
        return replace(tag, protected=False, protected_by=None)
    return replace(tag, protected=True, protected_by=policy.describe())


def _protects_a_tag(tags: TagStore, artifact_id: int, policy: ProtectionPolicy) -> bool:
    selector = policy.tag
    globs = tag_globs(selector.pattern)
    if globs is not None:
        return tags.artifact_has_tag_like(artifact_id, globs, matching=selector.include)
    cursor: TagCursor | None = None
    while True:  # a pattern no glob expresses: names in batches, stop at the first match
        names, cursor = tags.artifact_tag_batch(artifact_id, cursor, TAG_BATCH)
        if any(selector.selects(name) for name in names):
            return True
        if cursor is None:
            return False


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
            items = [_flag_artifact(store.tags, policies, image.name, a) for a in found.items]
        return Page(items, found.total)

    def artifact(self, repository: str, reference: str) -> ArtifactDetail:
        with self._uow() as store:
            image = existing_image(store, repository)
            head = self._resolve(store, image, repository, reference)
            (summary,) = store.artifacts.artifact_summaries(image.id, [head.id])
            policies = protection_for(store, image.registry_id)
            summary = _flag_artifact(store.tags, policies, image.name, summary)
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

    def referrers(
        self, repository: str, reference: str, page: PageRequest
    ) -> Page[ArtifactSummary]:
        """Artifacts of the image whose subject is this one (signatures, SBOMs,
        attestations), in the order they were first pushed; they are not listed on their
        own. Only the page's referrers are summarised."""
        check_page(page, ())
        if page.search:
            raise InvalidParameter("q", "referrers cannot be searched")
        with self._uow() as store:
            image = existing_image(store, repository)
            head = self._resolve(store, image, repository, reference)
            found = store.artifacts.referrers(image.id, head.digest, None)  # first pushed first
            shown = found[page.offset : page.offset + page.page_size]
            ids = [
                artifact.id
                for r in shown
                if (artifact := store.artifacts.get_artifact(image.id, r.digest)) is not None
            ]
            summaries = {s.id: s for s in store.artifacts.artifact_summaries(image.id, ids)}
            policies = protection_for(store, image.registry_id)
            items = [_flag_artifact(store.tags, policies, image.name, summaries[i]) for i in ids]
        return Page(items, len(found))

    @staticmethod
    def _resolve(store: ContentTx, image: Image, repository: str, reference: str) -> ArtifactHead:
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
        elif not is_valid_tag(reference):
            raise ManifestNotFound(repository, reference)
        found = store.artifacts.resolve_artifact(image.registry, image.name, reference, by_digest)
        if found is None:
            raise ManifestNotFound(repository, reference)
        return found[1]

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
        return Page([_flag_tag(policies, image.name, t) for t in tags.items], tags.total)
