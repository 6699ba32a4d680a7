"""The backends every metadata contract runs on: SQLite, PostgreSQL and the in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.fakes.memory import MemoryUnitOfWork, migrated_memory_uow
from tests.support.databases import MigratedDatabase


@dataclass(frozen=True, slots=True)
class MemoryDatabase:
    """The in-memory backend, seeded as the migrations seed a database; its rows are
    `uow.state`, as SQL's are the engine's tables."""

    uow: MemoryUnitOfWork = field(default_factory=migrated_memory_uow)
    backend: str = "memory"


Database = MigratedDatabase | MemoryDatabase
