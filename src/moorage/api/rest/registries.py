"""/registries: create (a proxy cache, with its upstream), list (with addresses and usage),
get, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Request, Response

from moorage.api.rest.deps import Paging, Services, page_of
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import (
    PageOut,
    ProxyCacheIn,
    RegistryCreate,
    RegistryOut,
    UpstreamOut,
)
from moorage.api.rest.security import OPEN_MODE_IDENTITY, Caller, Security
from moorage.domain.identity.access import Action, Identity, registry_permissions
from moorage.domain.kernel.model import RegistryUsage, Role
from moorage.domain.proxycache.model import Upstream, UpstreamDraft

router = api_router(prefix="/registries", tags=["registries"])
REGISTRY_SORTS: dict[str, Callable[[RegistryUsage], Any]] = {
    "name": lambda u: u.registry.name,
    "created_at": lambda u: u.registry.created_at,
    "stored_bytes": lambda u: u.stored_bytes,
    "image_count": lambda u: u.image_count,
}


def project_roles(services: Services, caller: Identity) -> dict[str, Role]:
    """The caller's role in each of its projects: one query for a whole list of registries."""
    return dict(services.identities.memberships(caller))


def registry_out(
    usage: RegistryUsage,
    services: Services,
    request: Request,
    caller: Identity = OPEN_MODE_IDENTITY,
    roles: dict[str, Role] | None = None,
    upstream: Upstream | None = None,
) -> RegistryOut:
    """The API's rendering of a registry; `caller` by default is an operator on the machine
    (as the CLI acts locally), who may do everything."""
    host = services.public_host or request.headers.get("host", "localhost")
    name = usage.registry.name
    return RegistryOut(
        name=name,
        project=usage.registry.project,
        public_uri=f"{host}/{name}",
        private_uri=f"{services.private_host}/{name}" if services.private_host else None,
        image_count=usage.image_count,
        stored_bytes=usage.stored_bytes,
        created_at=usage.registry.created_at,
        docker_login=f"docker login {host}",
        docker_push_example=(
            f"docker tag IMAGE {host}/{name}/IMAGE:TAG && docker push {host}/{name}/IMAGE:TAG"
        ),
        permissions=registry_permissions(caller, (roles or {}).get(usage.registry.project)),
        kind="proxy_cache" if upstream else "local",
        upstream=_upstream_out(services, upstream) if upstream else None,
    )


def _upstream_out(services: Services, upstream: Upstream) -> UpstreamOut:
    return UpstreamOut(
        url=upstream.url,
        namespace=upstream.namespace,
        username=upstream.username,
        has_password=upstream.has_password,
        verify_tls=upstream.verify_tls,
        revalidate_seconds=int(services.proxy_cache.interval(upstream).total_seconds()),
    )


def _draft(body: ProxyCacheIn) -> UpstreamDraft:
    return UpstreamDraft(
        url=body.url,
        namespace=body.namespace,
        username=body.username,
        password=body.password,
        verify_tls=body.verify_tls,
        revalidate_seconds=body.revalidate_seconds,
    )


@router.get("", name="list_registries", response_model=PageOut[RegistryOut])
def list_registries(
    request: Request, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[RegistryOut]:
    """Registries the caller may see, with public/private URI, image count and usage."""
    readable = services.identities.readable_registries(caller)
    usages = services.registries.list()
    visible = [u for u in usages if readable is None or u.registry.name in readable]
    shown, total = page_of(visible, paging, REGISTRY_SORTS, lambda u: u.registry.name)
    roles = project_roles(services, caller)
    upstreams = services.proxy_cache.upstreams()
    items = [
        registry_out(u, services, request, caller, roles, upstreams.get(u.registry.name))
        for u in shown
    ]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post("", name="create_registry", status_code=201, response_model=RegistryOut)
def create_registry(
    body: RegistryCreate, request: Request, services: Services, security: Security, caller: Caller
) -> RegistryOut:
    security.require_in_project(caller, body.project, Action.PUSH)
    registry = services.registries.create(body.name, body.project)
    upstream = None
    if body.proxy_cache is not None:  # in the same transaction: both or neither
        upstream = services.proxy_cache.attach(registry.name, _draft(body.proxy_cache))
    roles = project_roles(services, caller)
    usage = RegistryUsage(registry, 0, 0)
    return registry_out(usage, services, request, caller, roles, upstream)


@router.get("/{registry}", name="get_registry", response_model=RegistryOut)
def get_registry(
    registry: str, request: Request, services: Services, security: Security, caller: Caller
) -> RegistryOut:
    security.require(caller, registry, Action.PULL)
    usage = services.registries.get(registry)
    upstream = services.proxy_cache.upstreams().get(registry)
    roles = project_roles(services, caller)
    return registry_out(usage, services, request, caller, roles, upstream)


@router.delete("/{registry}", name="delete_registry", status_code=204)
def delete_registry(
    registry: str,
    services: Services,
    security: Security,
    caller: Caller,
    force: Annotated[bool, Query(description="also delete the images it holds")] = False,
) -> Response:
    security.require(caller, registry, Action.DELETE)
    services.registries.delete(registry, force=force)
    services.proxy_cache.forget_registries()  # a name reused at once is not a proxy cache
    return Response(status_code=204)
