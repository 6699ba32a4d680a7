"""Fixed statements of the hot paths, run on SQLite's own cursor.

SQLAlchemy Core spends about 40 µs of Python on each statement it executes (an execution
context, parameter and result processing, a result object) where SQLite itself answers one
of these small indexed statements in 2-5 µs: a manifest push's dozen statements cost more in
SQLAlchemy than in the database. A `Prepared` statement is compiled by SQLAlchemy once per
dialect, with SQLAlchemy's own bind and result processors (datetimes, JSON), and executed
on the driver's cursor of the connection's transaction: the same SQL, the same types, the
same transaction, none of the per-statement machinery.

On PostgreSQL (where a statement is a network round trip and SQLAlchemy also watches for
lost connections) a `Prepared` statement runs through Core unchanged. Either way rows are
named tuples of the statement's columns (`row.digest`, `row._asdict()`), and a driver error
comes out as the `sqlalchemy.exc` error Core raises for it (the unit of work's error
handling relies on it).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler

Row = Any  # a named tuple of the statement's columns
_Processor = Callable[[Any], Any]
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Bind:
    name: str
    default: Any  # _REQUIRED when the caller must give it
    process: _Processor | None


@dataclass(frozen=True, slots=True)
class _SqliteForm:
    """The statement compiled for SQLite: its SQL, its parameters in position order and the
    processors of its result columns (None when no column needs one)."""

    sql: str
    binds: tuple[_Bind, ...]
    results: tuple[_Processor | None, ...] | None
    make: Callable[..., Row]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for bind in self.binds:
            value = (
                params[bind.name]
                if bind.default is _REQUIRED
                else params.get(bind.name, bind.default)
            )
            arguments.append(value if bind.process is None else bind.process(value))
        return arguments

    def row(self, raw: Sequence[Any]) -> Row:
        if self.results is None:
            return self.make(*raw)
        return self.make(
            *(
                value if process is None or value is None else process(value)
                for process, value in zip(self.results, raw, strict=True)
            )
        )


class Prepared:
    """One fixed statement (no expanding IN list); see the module's docstring."""

    __slots__ = ("_make", "_sqlite", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._make = _row_type(statement)
        self._sqlite: _SqliteForm | None = None

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Row]:
        if conn.dialect.name != "sqlite":
            return [self._make(*row) for row in conn.execute(self.statement, params)]
        form = self._sqlite_form(conn.dialect)
        cursor = self._run(conn, form, form.arguments(params))
        return [form.row(raw) for raw in cursor.fetchall()]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Row | None:
        if conn.dialect.name != "sqlite":
            found = conn.execute(self.statement, params).first()
            return None if found is None else self._make(*found)
        form = self._sqlite_form(conn.dialect)
        raw = self._run(conn, form, form.arguments(params)).fetchone()
        return None if raw is None else form.row(raw)

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute; the number of rows changed."""
        if conn.dialect.name != "sqlite":
            return int(conn.execute(self.statement, params).rowcount)
        form = self._sqlite_form(conn.dialect)
        return int(self._run(conn, form, form.arguments(params)).rowcount)

    def run_many(self, conn: Connection, params: Iterable[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (an INSERT of several rows)."""
        batch = list(params)
        if not batch:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(self.statement, batch)
            return
        form = self._sqlite_form(conn.dialect)
        driver = conn.connection.driver_connection
        arguments = [form.arguments(one) for one in batch]
        try:
            driver.executemany(form.sql, arguments)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise _as_sqlalchemy_error(form, arguments, exc, conn.dialect) from exc

    @staticmethod
    def _run(conn: Connection, form: _SqliteForm, arguments: list[Any]) -> sqlite3.Cursor:
        driver = conn.connection.driver_connection
        try:
            return driver.execute(form.sql, arguments)  # type: ignore[union-attr, no-any-return]
        except sqlite3.Error as exc:
            raise _as_sqlalchemy_error(form, arguments, exc, conn.dialect) from exc

    def _sqlite_form(self, dialect: Dialect) -> _SqliteForm:
        form = self._sqlite
        if form is None:
            form = self._sqlite = _compile_for_sqlite(self.statement, dialect, self._make)
        return form


def _row_type(statement: Executable) -> Callable[..., Row]:
    keys = [column.key for column in statement.exported_columns]  # type: ignore[attr-defined]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a prepared statement's columns need distinct names: {keys}")
    return namedtuple("Row", keys)


def _compile_for_sqlite(
    statement: Executable, dialect: Dialect, make: Callable[..., Row]
) -> _SqliteForm:
    clause = cast(ClauseElement, statement)
    compiled = clause.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if not compiled.positional:
        raise ValueError("a prepared statement needs the positional parameters SQLite takes")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("a column default computed in Python cannot be prepared: bind it")
    required = set()
    for bind in compiled.binds.values():
        if bind.callable is not None:
            raise ValueError(f"{bind.key}: a value computed at execution cannot be prepared")
        if bind.required:
            if bind.expanding:
                raise ValueError(f"{bind.key}: an IN list given at execution cannot be prepared")
            required.add(bind.key)
    # The SQL as SQLAlchemy runs it: a constant IN list (a status among two) rendered as
    # plain positional parameters, with their values and every parameter's processor.
    state = compiled.construct_expanded_state(dict.fromkeys(required))
    assert state.positiontup is not None
    binds = tuple(
        _Bind(
            name,
            _REQUIRED if name in required else state.parameters[name],
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if name in compiled.binds
            else state.processors.get(name),  # an element of a constant IN list
        )
        for name in state.positiontup
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.exported_columns  # type: ignore[attr-defined]
    )
    return _SqliteForm(
        state.statement,
        binds,
        results if any(process is not None for process in results) else None,
        make,
    )


def _as_sqlalchemy_error(
    form: _SqliteForm, arguments: Any, exc: sqlite3.Error, dialect: Dialect
) -> StatementError:
    return DBAPIError.instance(form.sql, arguments, exc, sqlite3.Error, dialect=dialect)
