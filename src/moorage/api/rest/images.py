"""/registries/{registry}/images, their artifacts and the artifacts' tags."""

from __future__ import annotations

from fastapi import Response

from moorage.api.rest.deps import ImageName, Paging, Services
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import (
    ArtifactDetailOut,
    ArtifactOut,
    ArtifactsDelete,
    HelmChartOut,
    ImageOut,
    ImagesDelete,
    LayerOut,
    PageOut,
    TagCreate,
    TagOut,
    TagsDelete,
)
from moorage.api.rest.security import Caller, Security
from moorage.domain.identity.access import Action
from moorage.domain.kernel.model import ArtifactSummary, HelmChart, PageRequest, Tag
from moorage.domain.proxycache.model import CacheMark

router = api_router(prefix="/registries/{registry}/images", tags=["images"])


def _artifact(summary: ArtifactSummary, marks: dict[int, CacheMark] | None = None) -> ArtifactOut:
    mark = (marks or {}).get(summary.id)
    return ArtifactOut(
        digest=summary.digest,
        media_type=summary.media_type,
        artifact_type=summary.artifact_type,
        size=summary.size,
        platforms=list(summary.platforms),
        pushed_at=summary.pushed_at,
        pulled_at=summary.pulled_at,
        tags=list(summary.tags),
        tag_count=summary.tag_count,
        referrer_count=summary.referrer_count,
        protected=summary.protected,
        protected_by=summary.protected_by,
        helm=_helm(summary.helm_chart),
        cached=mark is not None,
        upstream=mark.upstream if mark else None,
        revalidated_at=mark.revalidated_at if mark else None,
    )


def _artifacts(services: Services, summaries: list[ArtifactSummary]) -> list[ArtifactOut]:
    """Artifacts with their proxy-cache marks (one query for the page)."""
    marks = services.proxy_cache.marks([a.id for a in summaries])
    return [_artifact(a, marks) for a in summaries]


def _helm(chart: HelmChart | None) -> HelmChartOut | None:
    if chart is None:
        return None
    return HelmChartOut(name=chart.name, version=chart.version, app_version=chart.app_version)


def _tag(tag: Tag) -> TagOut:
    return TagOut(
        name=tag.name,
        digest=tag.digest,
        pushed_at=tag.pushed_at,
        pulled_at=tag.pulled_at,
        protected=tag.protected,
        protected_by=tag.protected_by,
    )


@router.get("", name="list_images", response_model=PageOut[ImageOut])
def list_images(
    registry: str, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[ImageOut]:
    """Images of a registry; `q` searches names; sort by `name` or `created_at`."""
    security.require(caller, registry, Action.PULL)
    page = services.browse.images(registry, paging)
    items = [
        ImageOut(
            name=i.name,
            repository=f"{registry}/{i.name}",
            artifact_count=i.artifact_count,
            tag_count=i.tag_count,
            pushed_at=i.pushed_at,
            pulled_at=i.pulled_at,
            created_at=i.created_at,
        )
        for i in page.items
    ]
    return PageOut(items=items, total=page.total, page=paging.page, page_size=paging.page_size)


@router.delete("", name="delete_images", status_code=204)
def delete_images(
    registry: str, body: ImagesDelete, services: Services, security: Security, caller: Caller
) -> Response:
    """Delete several images with all their artifacts and tags: all of them or none."""
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_images(registry, body.names, caller.username)
    return Response(status_code=204)


@router.delete("/{image}", name="delete_image", status_code=204)
def delete_image(
    registry: str, image: ImageName, services: Services, security: Security, caller: Caller
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_images(registry, [image], caller.username)
    return Response(status_code=204)


@router.get("/{image}/artifacts", name="list_artifacts", response_model=PageOut[ArtifactOut])
def list_artifacts(
    registry: str,
    image: ImageName,
    services: Services,
    security: Security,
    caller: Caller,
    paging: Paging,
) -> PageOut[ArtifactOut]:
    """Top-level artifacts of an image (an index's children are in its detail, referrers
    under their subject); each carries its 10 most recent tags and `tag_count`. `q`
    matches a digest or a tag; sort by `pushed_at` (default, newest first), `pulled_at`,
    `size` or `digest`."""
    security.require(caller, registry, Action.PULL)
    page = services.browse.artifacts(f"{registry}/{image}", paging)
    items = _artifacts(services, list(page.items))
    return PageOut(items=items, total=page.total, page=paging.page, page_size=paging.page_size)


@router.delete("/{image}/artifacts", name="delete_artifacts", status_code=204)
def delete_artifacts(
    registry: str,
    image: ImageName,
    body: ArtifactsDelete,
    services: Services,
    security: Security,
    caller: Caller,
) -> Response:
    """Delete several artifacts (digests or tags) with all their tags: all or none."""
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_artifacts(f"{registry}/{image}", body.references, caller.username)
    return Response(status_code=204)


@router.get("/{image}/artifacts/{reference}", name="get_artifact", response_model=ArtifactDetailOut)
def get_artifact(
    registry: str,
    image: ImageName,
    reference: str,
    services: Services,
    security: Security,
    caller: Caller,
) -> ArtifactDetailOut:
    """One artifact by digest or tag: layers, platforms, children, annotations, manifest."""
    security.require(caller, registry, Action.PULL)
    detail = services.browse.artifact(f"{registry}/{image}", reference)
    return ArtifactDetailOut(
        **_artifacts(services, [detail.summary])[0].model_dump(),
        config_digest=detail.config_digest,
        layers=[
            LayerOut(digest=x.digest, media_type=x.media_type, size=x.size) for x in detail.layers
        ],
        children=list(detail.children),
        subject_digest=detail.subject_digest,
        annotations=detail.annotations,
        manifest=detail.manifest,
    )


@router.delete("/{image}/artifacts/{reference}", name="delete_artifact", status_code=204)
def delete_artifact(
    registry: str,
    image: ImageName,
    reference: str,
    services: Services,
    security: Security,
    caller: Caller,
) -> Response:
    """Delete one artifact (by digest or tag) with every tag on it."""
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_artifacts(f"{registry}/{image}", [reference], caller.username)
    return Response(status_code=204)


@router.get("/{image}/artifacts/{reference}/tags", name="list_tags", response_model=PageOut[TagOut])
def list_tags(
    registry: str,
    image: ImageName,
    reference: str,
    services: Services,
    security: Security,
    caller: Caller,
    paging: Paging,
) -> PageOut[TagOut]:
    """Tags of one artifact; `q` searches; sort by `name`, `pushed_at` or `pulled_at`."""
    security.require(caller, registry, Action.PULL)
    return _tag_page(services, f"{registry}/{image}", reference, paging)


@router.get(
    "/{image}/artifacts/{reference}/referrers",
    name="list_artifact_referrers",
    response_model=PageOut[ArtifactOut],
)
def list_artifact_referrers(
    registry: str,
    image: ImageName,
    reference: str,
    services: Services,
    security: Security,
    caller: Caller,
    paging: Paging,
) -> PageOut[ArtifactOut]:
    """Artifacts whose subject is this one (signatures, SBOMs, attestations), in the order
    they were first pushed (no `q`, no `sort`). They are not in the image's artifact list:
    they show here."""
    security.require(caller, registry, Action.PULL)
    page = services.browse.referrers(f"{registry}/{image}", reference, paging)
    items = _artifacts(services, list(page.items))
    return PageOut(items=items, total=page.total, page=paging.page, page_size=paging.page_size)


@router.get("/{image}/tags", name="list_image_tags", response_model=PageOut[TagOut])
def list_image_tags(
    registry: str,
    image: ImageName,
    services: Services,
    security: Security,
    caller: Caller,
    paging: Paging,
) -> PageOut[TagOut]:
    """Every tag of an image, paged (fast even with 100,000 tags)."""
    security.require(caller, registry, Action.PULL)
    return _tag_page(services, f"{registry}/{image}", None, paging)


@router.delete("/{image}/tags", name="delete_tags", status_code=204)
def delete_tags(
    registry: str,
    image: ImageName,
    body: TagsDelete,
    services: Services,
    security: Security,
    caller: Caller,
) -> Response:
    """Delete several tags of the image (their artifacts stay): all or none. An unknown tag
    is a 404 and a protected one a 412 naming it and its policy; either deletes nothing."""
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_tags(f"{registry}/{image}", body.names, caller.username)
    return Response(status_code=204)


def _tag_page(
    services: Services, repository: str, reference: str | None, paging: PageRequest
) -> PageOut[TagOut]:
    page = services.browse.tags(repository, reference, paging)
    items = [_tag(t) for t in page.items]
    return PageOut(items=items, total=page.total, page=paging.page, page_size=paging.page_size)


@router.post(
    "/{image}/artifacts/{reference}/tags",
    name="create_tag",
    status_code=201,
    response_model=TagOut,
)
def create_tag(
    registry: str,
    image: ImageName,
    reference: str,
    body: TagCreate,
    services: Services,
    security: Security,
    caller: Caller,
) -> TagOut:
    """Point a tag at this artifact. A tag that points at another artifact is moved only
    with `move` (and unless protected); without it the 409 names that artifact's `digest`."""
    security.require(caller, registry, Action.PUSH)
    repository = f"{registry}/{image}"
    services.artifacts.tag_artifact(repository, reference, body.name, move=body.move)
    page = services.browse.tags(repository, body.name, _one_tag(body.name))
    return _tag(next(t for t in page.items if t.name == body.name))


def _one_tag(name: str) -> PageRequest:
    return PageRequest(page=1, page_size=100, search=name)


@router.delete("/{image}/artifacts/{reference}/tags/{tag}", name="delete_tag", status_code=204)
def delete_tag(
    registry: str,
    image: ImageName,
    reference: str,
    tag: str,
    services: Services,
    security: Security,
    caller: Caller,
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.artifacts.delete_tag(f"{registry}/{image}", tag, reference, caller.username)
    return Response(status_code=204)
