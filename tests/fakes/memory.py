"""The in-memory unit of work: one state, transactions serialised by a lock, rollback by copy.

The state mirrors the SQL schema one to one: `state.table("blob")` is a dict from primary key
(a tuple for composite keys) to a row dict whose keys are the column names of
`moorage/metadata/tables.py`. Every role fake reads and writes those rows, so roles see each
other's data exactly as the SQL stores do through joins. `state.next_id(table)` hands out
integer ids like an autoincrement column.

A transaction holds the state's lock from start to end (transactions are serialisable, like
SQLite's), and works on the live state; on an exception the state is restored from a copy
taken at the start, so nothing of a failed transaction remains.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

from moorage.domain.content.registries import DEFAULT_PROJECT
from moorage.domain.kernel.errors import WriteWouldWait
from tests.fakes.audit import MemoryAuditLog
from tests.fakes.content import (
    MemoryArtifactStore,
    MemoryBlobIndex,
    MemoryImageStore,
    MemoryRegistryStore,
    MemoryTagStore,
    MemoryUploadStore,
)
from tests.fakes.gc import MemoryGcRunStore, MemoryGcStore
from tests.fakes.identity import (
    MemoryAccessKeyStore,
    MemoryLoginFailureStore,
    MemoryProjectStore,
    MemorySessionStore,
    MemoryUserStore,
)
from tests.fakes.jobs import MemoryExecutionStore, MemoryJobQueue, MemoryScheduleStore
from tests.fakes.policies import MemoryPolicyStore
from tests.fakes.proxycache import MemoryProxyCacheStore
from tests.fakes.replication import MemoryReplicationStore
from tests.fakes.state import MemoryState
from tests.fakes.webhooks import MemoryWebhookOutbox, MemoryWebhookStore


class MemoryTransaction:
    """Every role port over one state (structurally a `moorage.domain.ports.Transaction`)."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state
        self.registries = MemoryRegistryStore(state)
        self.images = MemoryImageStore(state)
        self.blobs = MemoryBlobIndex(state)
        self.uploads = MemoryUploadStore(state)
        self.artifacts = MemoryArtifactStore(state)
        self.tags = MemoryTagStore(state)
        self.policies = MemoryPolicyStore(state)
        self.jobs = MemoryJobQueue(state)
        self.schedules = MemoryScheduleStore(state)
        self.executions = MemoryExecutionStore(state)
        self.webhooks = MemoryWebhookStore(state)
        self.outbox = MemoryWebhookOutbox(state)
        self.users = MemoryUserStore(state)
        self.projects = MemoryProjectStore(state)
        self.access_keys = MemoryAccessKeyStore(state)
        self.sessions = MemorySessionStore(state)
        self.login_failures = MemoryLoginFailureStore(state)
        self.gc = MemoryGcStore(state)
        self.gc_runs = MemoryGcRunStore(state)
        self.audit = MemoryAuditLog(state)
        self.replication = MemoryReplicationStore(state)
        self.proxy_cache = MemoryProxyCacheStore(state)


class MemoryUnitOfWork:
    """`UnitOfWork[Transaction]` in memory: `with uow(write=True) as tx: tx.uploads...`."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self._lock = threading.RLock()
        self._scopes = threading.local()  # `write` of the scope this thread is in, if any

    @contextmanager
    def __call__(self, *, write: bool = False, wait: bool = True) -> Iterator[MemoryTransaction]:
        if not self._lock.acquire(blocking=wait or not write):
            raise WriteWouldWait("another transaction holds the store")
        try:
            if self._joins(write):  # the scope's snapshot restores everything
                yield MemoryTransaction(self.state)
                return
            snapshot = self.state.snapshot()
            try:
                yield MemoryTransaction(self.state)
            except BaseException:
                self.state.restore(snapshot)
                raise
        finally:
            self._lock.release()

    @contextmanager
    def scope(self, *, write: bool, wait: bool = True) -> Iterator[None]:
        # Only a writing scope is rolled back as one; a write inside a reading one is its own.
        with self(write=True, wait=wait) if write else nullcontext():
            outer = getattr(self._scopes, "write", None)
            self._scopes.write = write
            try:
                yield
            finally:
                self._scopes.write = outer

    def _joins(self, write: bool) -> bool:
        scope_writes: bool | None = getattr(self._scopes, "write", None)
        return scope_writes is not None and (scope_writes or not write)


def migrated_memory_uow() -> MemoryUnitOfWork:
    """An in-memory unit of work that starts as a freshly migrated database does: with the
    default project every registry belongs to unless another is named."""
    uow = MemoryUnitOfWork()
    with uow(write=True) as tx:
        tx.projects.create_project(DEFAULT_PROJECT, datetime.now(UTC))
    return uow
