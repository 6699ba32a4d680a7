"""The rows of the in-memory metadata store; see `tests.fakes.memory`."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


class MemoryState:
    """All rows, by table; see the module docstring."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Row]] = {}
        self.sequences: dict[str, int] = {}

    def table(self, name: str) -> dict[Any, Row]:
        return self.tables.setdefault(name, {})

    def next_id(self, table: str) -> int:
        self.sequences[table] = self.sequences.get(table, 0) + 1
        return self.sequences[table]

    def restore(self, snapshot: MemoryState) -> None:
        self.tables, self.sequences = snapshot.tables, snapshot.sequences
