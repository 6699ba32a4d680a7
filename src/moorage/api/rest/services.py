"""`RestServices`: what the REST API is given. Apart from the routes, so that the server can
name it without loading FastAPI (the REST app is built on its first request)."""

from __future__ import annotations

from typing import Any, Protocol

from moorage.domain.audit.service import AuditService
from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.browse import BrowseService
from moorage.domain.content.registries import RegistryService
from moorage.domain.gc.service import GcService
from moorage.domain.identity.service import IdentityService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.policies.service import PolicyService
from moorage.domain.proxycache.service import ProxyCacheService
from moorage.domain.replication.service import ReplicationService
from moorage.domain.webhooks.subscriptions import WebhookService


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
