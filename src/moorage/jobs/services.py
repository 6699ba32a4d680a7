"""What background work uses of the composition root's container (`wiring.Container`).

Handlers are handed the services built once in `wiring.build`; nothing under `jobs/` builds
a domain service.
"""

from __future__ import annotations

from typing import Protocol

from moorage.config import Settings
from moorage.domain.audit.service import AuditService
from moorage.domain.content.uploads import UploadService
from moorage.domain.gc.service import GcService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.policies.runs import CleanupRunService
from moorage.domain.ports import UnitOfWorkFactory
from moorage.domain.replication.runs import ReplicationRunner
from moorage.domain.webhooks.subscriptions import WebhookService


class JobServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def uow(self) -> UnitOfWorkFactory: ...

    @property
    def blocking(self) -> Blocking: ...

    @property
    def uploads(self) -> UploadService: ...

    @property
    def cleanup_runs(self) -> CleanupRunService: ...

    @property
    def webhooks(self) -> WebhookService: ...

    @property
    def gc(self) -> GcService: ...

    @property
    def audit(self) -> AuditService: ...

    @property
    def replication_runs(self) -> ReplicationRunner: ...
