"""The whole unit of work: every role port of every capability, for adapters and wiring.

A service names only the roles it uses (its package's ports); the metadata store's
transaction offers all of them, and the composition root hands each service the one factory.
"""

from __future__ import annotations

from typing import Protocol

from moorage.domain.audit.ports import AuditRoles
from moorage.domain.content.ports import (
    ArtifactStore,
    BlobIndex,
    ImageStore,
    TagStore,
    UploadStore,
)
from moorage.domain.gc.ports import GcRoles
from moorage.domain.identity.ports import AccessKeyStore, ProjectStore, SignInRoles, UserStore
from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore
from moorage.domain.kernel.ports import RegistryStore, UnitOfWork
from moorage.domain.policies.ports import PolicyStore
from moorage.domain.proxycache.ports import ProxyCacheRoles
from moorage.domain.replication.ports import ReplicationRoles
from moorage.domain.webhooks.ports import WebhookOutbox, WebhookStore


class Transaction(GcRoles, AuditRoles, ReplicationRoles, SignInRoles, ProxyCacheRoles, Protocol):
    """One transaction of the metadata store, by role (garbage collection's two roles come
    with `GcRoles`, the audit log's with `AuditRoles`, replication's with `ReplicationRoles`,
    identity's sign-in roles with `SignInRoles`, proxy caches' with `ProxyCacheRoles`:
    fifteen properties to a Protocol at most)."""

    @property
    def registries(self) -> RegistryStore: ...

    @property
    def images(self) -> ImageStore: ...

    @property
    def blobs(self) -> BlobIndex: ...

    @property
    def uploads(self) -> UploadStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def tags(self) -> TagStore: ...

    @property
    def policies(self) -> PolicyStore: ...

    @property
    def jobs(self) -> JobQueue: ...

    @property
    def schedules(self) -> ScheduleStore: ...

    @property
    def executions(self) -> ExecutionStore: ...

    @property
    def webhooks(self) -> WebhookStore: ...

    @property
    def outbox(self) -> WebhookOutbox: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def projects(self) -> ProjectStore: ...

    @property
    def access_keys(self) -> AccessKeyStore: ...


UnitOfWorkFactory = UnitOfWork[Transaction]
