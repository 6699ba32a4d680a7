"""Rows written as the SQL schema has them: every fake inserts, updates and deletes through here.

`insert_row`, `update_row` and `delete_rows` enforce the constraints `tests.fakes.schema`
describes (a plain copy of `moorage/metadata/tables.py`): NOT NULL, unique keys, foreign
keys, and ON DELETE CASCADE (so deleting a registry takes its images, artifacts, tags,
links, uploads, and also its policies, webhooks, events and executions, as the databases
do). UTC columns store the same instant in UTC and refuse naive datetimes, JSON columns
store a JSON copy, binary columns bytes. A duplicate key is a `UniqueViolation`; any other
violation an `IntegrityViolation` (SQL: an IntegrityError). A fake turns a
`UniqueViolation` into `Conflict` where its SQL store turns the IntegrityError into one.

A row lives in `state.table(name)` under its key (`row_key`): its primary key, or the unique
key of a table without one (`image_blob`, `artifact_blob`, `artifact_child`,
`project_member`); a tuple when the key has several columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.fakes.schema import TABLES, Table
from tests.fakes.state import MemoryState, Row

CASCADE = "CASCADE"


class IntegrityViolation(ValueError):
    """A constraint of the schema the SQL store does not turn into `Conflict`: NOT NULL, a
    foreign key, or a unique key written without a clash check (SQL: an IntegrityError)."""


class UniqueViolation(IntegrityViolation):
    """A duplicate key."""


def _key_columns(table: Table) -> tuple[str, ...]:
    if table.primary_key:
        return table.primary_key
    if len(table.unique) != 1:
        raise TypeError(f"table {table.name} has no primary key and no single unique key")
    return table.unique[0]


_SCHEMA: dict[str, Table] = {table.name: table for table in TABLES}
_KEYS = {name: _key_columns(table) for name, table in _SCHEMA.items()}
_UNIQUES = {
    name: sorted({table.primary_key} - {()} | set(table.unique)) for name, table in _SCHEMA.items()
}
_REQUIRED = {name: frozenset(table.required) for name, table in _SCHEMA.items()}
_JSON = {name: frozenset(table.json) for name, table in _SCHEMA.items()}
# For each table: (referencing table, its column, the referenced column, ON DELETE action).
_REFERENCED_BY: dict[str, list[tuple[str, str, str, str | None]]] = {n: [] for n in _SCHEMA}
for _table in TABLES:
    for _fk in _table.foreign_keys:
        if _fk.on_delete not in (None, CASCADE):
            raise NotImplementedError(f"ON DELETE {_fk.on_delete} ({_table.name}.{_fk.column})")
        _REFERENCED_BY[_fk.table].append((_table.name, _fk.column, _fk.referenced, _fk.on_delete))


def utc(value: datetime) -> datetime:
    """What a UTC column stores and gives back: the same instant, in UTC; naive is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def row_key(table: str, row: Row) -> Any:
    """The key of a row in `state.table(table)`: its primary key (else its unique key)."""
    columns = _KEYS[table]
    return row[columns[0]] if len(columns) == 1 else tuple(row[c] for c in columns)


def _stored(table: Table, name: str, value: Any) -> Any:
    """The value as the column stores it."""
    if value is None:
        return None
    if name in table.utc:
        return utc(value)
    if name in table.json:
        return json.loads(json.dumps(value))
    if name in table.binary:
        return bytes(value)
    return value


def _check_columns(table: Table, values: Row) -> None:
    unknown = set(values) - set(table.columns)
    if unknown:
        raise TypeError(f"no such {table.name} columns: {sorted(unknown)}")


def _check_row(state: MemoryState, table: Table, row: Row, given: Iterable[str], key: Any) -> None:
    """NOT NULL, unique and foreign keys of `row` (stored under `key`, None when new)."""
    # A JSON column given None holds JSON `null`, which is not SQL NULL.
    json_nulls = _JSON[table.name] & set(given)
    for column in table.columns:
        if row[column] is None and column in _REQUIRED[table.name] and column not in json_nulls:
            raise IntegrityViolation(f"NOT NULL constraint failed: {table.name}.{column}")
    rows = state.table(table.name)
    for columns in _UNIQUES[table.name]:
        values = tuple(row[c] for c in columns)
        if None in values:  # NULLs never clash
            continue
        if columns == _KEYS[table.name]:
            candidate = values[0] if len(columns) == 1 else values
            clash = candidate in rows and candidate != key
        else:
            clash = any(
                tuple(other[c] for c in columns) == values for k, other in rows.items() if k != key
            )
        if clash:
            raise UniqueViolation(f"UNIQUE constraint failed: {table.name}.{', '.join(columns)}")
    for fk in table.foreign_keys:
        value = row[fk.column]
        if value is not None and not _exists(state, fk.table, fk.referenced, value):
            raise IntegrityViolation(
                f"FOREIGN KEY constraint failed: {table.name}.{fk.column} = {value!r}"
            )


def _exists(state: MemoryState, table: str, column: str, value: Any) -> bool:
    rows = state.table(table)
    if _KEYS[table] == (column,):
        return value in rows
    return any(row[column] == value for row in rows.values())


def insert_row(state: MemoryState, table: str, values: Row) -> Row:
    """INSERT: defaults and autoincrement ids filled in, every constraint checked."""
    schema = _SCHEMA[table]
    _check_columns(schema, values)
    row: Row = {}
    for column in schema.columns:
        if column in values:
            value = _stored(schema, column, values[column])
        elif column == schema.autoincrement:
            value = state.next_id(table)
        else:
            value = schema.defaults.get(column)
        row[column] = value
    _check_row(state, schema, row, values, None)
    state.table(table)[row_key(table, row)] = row
    return row


def update_row(state: MemoryState, table: str, key: Any, values: Row) -> bool:
    """UPDATE of the row under `key` (its key columns stay as they are); False when there is
    no such row (SQL: a rowcount of 0)."""
    schema = _SCHEMA[table]
    _check_columns(schema, values)
    rows = state.table(table)
    if key not in rows:
        return False
    changed = {**rows[key], **{n: _stored(schema, n, v) for n, v in values.items()}}
    if row_key(table, changed) != key:
        raise TypeError(f"the fakes never change the key of a {table} row")
    # Every JSON column was given once (None in it is JSON `null`, not SQL NULL).
    _check_row(state, schema, changed, schema.columns, key)
    rows[key].update(changed)
    return True


def delete_rows(state: MemoryState, table: str, keys: Iterable[Any]) -> int:
    """DELETE these rows, with what ON DELETE CASCADE takes along; returns how many of them
    existed. A row still referenced without CASCADE fails the whole delete."""
    doomed: dict[str, set[Any]] = {}
    pending = [(table, key) for key in keys if key in state.table(table)]
    deleted = len(set(pending))
    while pending:
        name, key = pending.pop()
        if key in doomed.setdefault(name, set()):
            continue
        doomed[name].add(key)
        row = state.table(name)[key]
        for child, column, referenced, action in _REFERENCED_BY[name]:
            if action == CASCADE:
                pending.extend(
                    (child, k)
                    for k, r in state.table(child).items()
                    if r[column] == row[referenced]
                )
    for name, keys_of in doomed.items():
        for child, column, referenced, action in _REFERENCED_BY[name]:
            if action == CASCADE:
                continue
            gone = {state.table(name)[k][referenced] for k in keys_of}
            spared = doomed.get(child, set())
            for k, r in state.table(child).items():
                if r[column] in gone and k not in spared:
                    raise IntegrityViolation(
                        f"FOREIGN KEY constraint failed: {child}.{column} = {r[column]!r}"
                    )
    for name, keys_of in doomed.items():
        rows = state.table(name)
        for k in keys_of:
            del rows[k]
    return deleted


def find_row(state: MemoryState, table: str, **values: Any) -> Row | None:
    """The first row whose columns hold these values (in key order of insertion), or None."""
    return next(iter(select_rows(state, table, **values)), None)


def select_rows(state: MemoryState, table: str, **values: Any) -> list[Row]:
    """The rows whose columns hold these values."""
    return [
        row
        for row in state.table(table).values()
        if all(row[name] == value for name, value in values.items())
    ]
