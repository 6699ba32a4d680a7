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

    def snapshot(self) -> MemoryState:
        """A copy to restore if a transaction fails: the tables and their rows are copied, the
        rows' values shared. No value is ever changed in place: writes store a new row dict
        or new values in it (a JSON column's value is a fresh copy, `rows._stored`) and
        reads hand out copies of JSON values, so sharing them is safe, and a snapshot costs
        a fraction of a deep copy of every value."""
        copied = MemoryState()
        copied.tables = {
            name: {key: dict(row) for key, row in rows.items()}
            for name, rows in self.tables.items()
        }
        copied.sequences = dict(self.sequences)
        return copied

    def restore(self, snapshot: MemoryState) -> None:
        self.tables, self.sequences = snapshot.tables, snapshot.sequences
