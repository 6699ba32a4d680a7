"""One transaction of the metadata store, by role: `Transaction` over a SQLAlchemy connection.

Each role is a small object over the transaction's connection, built on first use: a
manifest GET builds the artifact store alone. Roles share SQL helpers (`metadata.sql`),
never each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from sqlalchemy import Connection

from moorage.domain.audit.ports import AuditLog
from moorage.domain.content.ports import ArtifactStore, BlobIndex, ImageStore, TagStore, UploadStore
from moorage.domain.gc.ports import GcRunStore, GcStore
from moorage.domain.identity.ports import (
    AccessKeyStore,
    LoginFailureStore,
    ProjectStore,
    SessionStore,
    UserStore,
)
from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore
from moorage.domain.kernel.ports import RegistryStore
from moorage.domain.policies.ports import PolicyStore
from moorage.domain.proxycache.ports import ProxyCacheStore
from moorage.domain.replication.ports import ReplicationStore
from moorage.domain.webhooks.ports import WebhookOutbox, WebhookStore
from moorage.metadata.artifacts import SqlArtifactStore
from moorage.metadata.audit import SqlAuditLog
from moorage.metadata.blobs import SqlBlobIndex
from moorage.metadata.executions import SqlExecutionStore
from moorage.metadata.gc import SqlGcRunStore, SqlGcStore
from moorage.metadata.identity import (
    SqlAccessKeyStore,
    SqlLoginFailureStore,
    SqlProjectStore,
    SqlSessionStore,
    SqlUserStore,
)
from moorage.metadata.images import SqlImageStore
from moorage.metadata.jobs import SqlJobQueue
from moorage.metadata.policies import SqlPolicyStore
from moorage.metadata.proxycache import SqlProxyCacheStore
from moorage.metadata.registries import SqlRegistryStore
from moorage.metadata.replication import SqlReplicationStore
from moorage.metadata.schedules import SqlScheduleStore
from moorage.metadata.tags import SqlTagStore
from moorage.metadata.uploads import SqlUploadStore
from moorage.metadata.webhooks import SqlWebhookOutbox, SqlWebhookStore

if TYPE_CHECKING:
    from moorage.domain.ports import Transaction

R = TypeVar("R")


class _Role(Generic[R]):
    """A role port built from the connection on first use, then a plain instance attribute.

    `functools.cached_property` without its lock (on Python 3.11 each first use takes one lock
    shared by the transactions of every thread); a first use costs half as much.
    """

    __slots__ = ("build", "name")

    def __init__(self, build: Callable[[Connection], R]) -> None:
        self.build = build
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, tx: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, tx: SqlTransaction, owner: type[Any]) -> R: ...

    def __get__(self, tx: SqlTransaction | None, owner: type[Any]) -> Self | R:
        if tx is None:
            return self
        role = tx.__dict__[self.name] = self.build(tx.conn)
        return role


class SqlTransaction:
    """`Transaction` over one SQLAlchemy connection inside an open transaction.

    Each attribute is typed as its port: mypy checks every SQL role against its Protocol.
    """

    registries = _Role[RegistryStore](SqlRegistryStore)
    images = _Role[ImageStore](SqlImageStore)
    blobs = _Role[BlobIndex](SqlBlobIndex)
    uploads = _Role[UploadStore](SqlUploadStore)
    artifacts = _Role[ArtifactStore](SqlArtifactStore)
    tags = _Role[TagStore](SqlTagStore)
    policies = _Role[PolicyStore](SqlPolicyStore)
    jobs = _Role[JobQueue](SqlJobQueue)
    schedules = _Role[ScheduleStore](SqlScheduleStore)
    executions = _Role[ExecutionStore](SqlExecutionStore)
    webhooks = _Role[WebhookStore](SqlWebhookStore)
    outbox = _Role[WebhookOutbox](SqlWebhookOutbox)
    users = _Role[UserStore](SqlUserStore)
    projects = _Role[ProjectStore](SqlProjectStore)
    access_keys = _Role[AccessKeyStore](SqlAccessKeyStore)
    sessions = _Role[SessionStore](SqlSessionStore)
    login_failures = _Role[LoginFailureStore](SqlLoginFailureStore)
    gc = _Role[GcStore](SqlGcStore)
    gc_runs = _Role[GcRunStore](SqlGcRunStore)
    audit = _Role[AuditLog](SqlAuditLog)
    replication = _Role[ReplicationStore](SqlReplicationStore)
    proxy_cache = _Role[ProxyCacheStore](SqlProxyCacheStore)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


if TYPE_CHECKING:

    def _is_a_transaction(tx: SqlTransaction) -> Transaction:
        return tx  # mypy checks here that every role of the port is offered
