"""Request-scoped dependencies: the domain services, paging parameters, path names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import unquote

from fastapi import Depends, Path, Query, Request

from moorage.domain.audit.service import AuditService
from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.browse import BrowseService, check_page
from moorage.domain.content.registries import RegistryService
from moorage.domain.gc.service import GcService
from moorage.domain.identity.service import IdentityService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.model import PageRequest
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.service import PolicyService
from moorage.domain.proxycache.service import ProxyCacheService
from moorage.domain.replication.service import ReplicationService
from moorage.domain.webhooks.subscriptions import WebhookService

T = TypeVar("T")


class RestServices(Protocol):
    """What the REST API uses of the composition root's container (built in `wiring`)."""

    @property
    def blocking(self) -> Blocking: ...

    @property
    def uow(self) -> UnitOfWork[Any]:
        """Each request is one scope of it (`moorage.api.rest.routing`)."""

    @property
    def registries(self) -> RegistryService: ...

    @property
    def browse(self) -> BrowseService: ...

    @property
    def artifacts(self) -> ArtifactService: ...

    @property
    def identities(self) -> IdentityService: ...

    @property
    def policies(self) -> PolicyService: ...

    @property
    def cleanup_runs(self) -> CleanupRunService: ...

    @property
    def webhooks(self) -> WebhookService: ...

    @property
    def gc(self) -> GcService: ...

    @property
    def audit(self) -> AuditService: ...

    @property
    def replication(self) -> ReplicationService: ...

    @property
    def proxy_cache(self) -> ProxyCacheService: ...

    @property
    def region(self) -> str:
        """This deployment's region name (the `region` setting)."""

    @property
    def public_host(self) -> str | None: ...

    @property
    def private_host(self) -> str | None: ...


def services(request: Request) -> RestServices:
    found: RestServices = request.app.state.services
    return found


def page_request(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    q: Annotated[str | None, Query(max_length=255, description="search text")] = None,
    sort: Annotated[
        str | None, Query(max_length=32, description="a field, '-' in front for descending")
    ] = None,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size, search=q or None, sort=sort)


def page_of(
    items: Sequence[T],
    paging: PageRequest,
    sorts: Mapping[str, Callable[[T], Any]],
    text: Callable[[T], str],
) -> tuple[list[T], int]:
    """Search, sort and page a short list held in memory (projects, members, keys…).

    The first of `sorts` is the default order; an unknown sort field is refused (400)."""
    check_page(paging, tuple(sorts))
    found = [item for item in items if not paging.search or paging.search in text(item)]
    name = paging.sort or next(iter(sorts))
    found.sort(key=sorts[name.lstrip("-")], reverse=name.startswith("-"))
    return found[paging.offset : paging.offset + paging.page_size], len(found)


def image_name(
    image: Annotated[str, Path(description="image name inside the registry; '/' as %2F")],
) -> str:
    return unquote(image)


Services = Annotated[RestServices, Depends(services)]
Paging = Annotated[PageRequest, Depends(page_request)]
ImageName = Annotated[str, Depends(image_name)]
