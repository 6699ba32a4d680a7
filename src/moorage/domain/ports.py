"""The whole unit of work: every role port of every capability, for adapters and wiring.

A service names only the roles it uses (its package's ports); the metadata store's
transaction offers all of them, and the composition root hands each service the one factory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from moorage.domain.content.ports import (
    ArtifactStore,
    BlobIndex,
    BlobStore,
    ImageStore,
    TagStore,
    UploadStore,
)
from moorage.domain.identity.ports import AccessKeyStore, PasswordHasher, ProjectStore, UserStore
from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore
from moorage.domain.kernel.ports import RegistryStore, UnitOfWork
from moorage.domain.policies.ports import PolicyStore
from moorage.domain.webhooks.ports import WebhookOutbox, WebhookSender, WebhookStore


class Transaction(Protocol):
    """One transaction of the metadata store, by role."""

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


@dataclass(frozen=True, slots=True)
class Services:
    """What the composition root builds and the entrypoints receive."""

    uow: UnitOfWorkFactory
    blobs: BlobStore
    password_hasher: PasswordHasher
    webhook_sender: WebhookSender
    token_key: bytes
    public_host: str | None
    private_host: str | None
    local_metadata: bool = False  # reads never wait on the network or on writers (SQLite WAL)
    webhook_retry_base_seconds: float = 5.0  # first retry delay; doubles on each failure
