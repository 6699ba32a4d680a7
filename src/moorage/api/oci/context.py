"""What every protocol handler gets: the domain services and small HTTP helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from starlette.requests import Request

from moorage.api.access import Authorizer
from moorage.domain.audit.service import AuditService
from moorage.domain.content.artifacts import ArtifactService, PullRecorder
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.proxycache.service import ProxyCacheService

P = ParamSpec("P")
T = TypeVar("T")


class OciServices(Protocol):
    """What the protocol layer uses of the composition root's container (built in `wiring`)."""

    @property
    def artifacts(self) -> ArtifactService: ...

    @property
    def uploads(self) -> UploadService: ...

    @property
    def pulls(self) -> PullRecorder: ...

    @property
    def blocking(self) -> Blocking: ...

    @property
    def uow(self) -> UnitOfWork[Any]:
        """A manifest write and its audit entry are one scope of it."""

    @property
    def audit(self) -> AuditService: ...

    @property
    def proxy_cache(self) -> ProxyCacheService: ...


@dataclass(frozen=True, slots=True)
class OciContext:
    artifacts: ArtifactService
    uploads: UploadService
    pulls: PullRecorder
    authorizer: Authorizer
    blocking: Blocking
    uow: UnitOfWork[Any]
    audit: AuditService
    proxy_cache: ProxyCacheService

    @classmethod
    def of(cls, services: OciServices, authorizer: Authorizer) -> OciContext:
        """The container's services, copied into plain fields: handlers on the pull path
        reach them in one attribute lookup."""
        return cls(
            artifacts=services.artifacts,
            uploads=services.uploads,
            pulls=services.pulls,
            authorizer=authorizer,
            blocking=services.blocking,
            uow=services.uow,
            audit=services.audit,
            proxy_cache=services.proxy_cache,
        )

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a metadata read where `Blocking` says reads run."""
        return await self.blocking.read(fn, *args, **kwargs)


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives, without empty chunks; never read whole."""
    async for chunk in request.stream():
        if chunk:
            yield chunk


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "chunked" in request.headers.get("transfer-encoding", "").lower()
