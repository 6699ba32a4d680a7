"""Ports every capability shares: the unit of work, and the registries it hangs off."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from moorage.domain.kernel.model import (
        Project,
        Registry,
        RegistryUsage,
    )


class RegistryStore(Protocol):
    """Registries (namespaces), their usage and the tags across them."""

    def create_registry(self, name: str, project: Project, now: datetime) -> Registry:
        """Insert a registry; raises Conflict when the name is taken."""

    def get_registry(self, name: str) -> Registry | None: ...

    def list_registries(self) -> list[RegistryUsage]:
        """Every registry with its image count and stored bytes (distinct blobs linked)."""

    def registry_usage(self, registry_id: int) -> RegistryUsage | None:
        """One registry with its image count and stored bytes."""

    def delete_registry(self, registry_id: int) -> None:
        """Delete a registry with its images, artifacts, tags, links and uploads."""

    def registry_image_count(self, registry_id: int) -> int: ...

    def registry_tags(self, registry_id: int) -> list[tuple[str, str]]:
        """(image name, tag) for every tag in the registry."""


Tx_co = TypeVar("Tx_co", covariant=True)


class UnitOfWork(Protocol[Tx_co]):
    """Opens a transaction exposing the role ports a service uses; everything done through
    them commits together, or is rolled back on an exception."""

    def __call__(self, *, write: bool = False, wait: bool = True) -> AbstractContextManager[Tx_co]:
        """Open a transaction; `write=True` takes the write lock up front (SQLite). With
        `wait=False` a write transaction that would have to wait for another writer raises
        `WriteWouldWait` instead, before anything ran (a store whose writers never wait
        for one another may ignore it)."""

    def scope(self, *, write: bool, wait: bool = True) -> AbstractContextManager[None]:
        """Make the block one transaction: every transaction opened inside it, in this
        thread, joins a single one, opened on first use and committed when the block ends
        (rolled back if it raises). A write inside a read-only scope runs on its own.
        `wait=False`: that first use raises `WriteWouldWait` rather than wait for another
        writer (so the block must do nothing that matters before its first transaction).

        An edge uses it to make one request one transaction (the REST API does); services
        never do, so they stay correct with or without it."""


class RegistryTx(Protocol):
    """A transaction that reaches registries: what every capability's transaction offers."""

    @property
    def registries(self) -> RegistryStore: ...


class CommittedVersion(Protocol):
    """What lets a read skip the store: a value that changes whenever anything is committed
    to the metadata store, by this process or any other.

    A service may keep what it read under the value it saw before reading, and use it for as
    long as the value stays the same. None means the value cannot be told cheaply here (a
    shared database, or an open transaction scope in this context whose own writes are not
    committed yet): then nothing may be kept."""

    def __call__(self) -> Hashable | None: ...


def no_committed_version() -> None:
    """A `CommittedVersion` that never knows: every read goes to the store."""
