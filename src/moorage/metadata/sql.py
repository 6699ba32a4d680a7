"""SQL helpers the role stores share: conflict-safe inserts, new ids, common conditions.

Roles share these, never each other: a role object belongs to one transaction's `SqlTransaction`
and is built only when used.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Executable,
    Select,
    Table,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.kernel.model import BlobStatus
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared

# Images count and list only while they hold artifacts (their blob links outlive them).
HAS_ARTIFACTS = exists().where(t.artifact.c.image_id == t.image.c.id)
# A blob clients may read: live, or marked by garbage collection (a candidate, not gone).
SERVED_BLOB = t.blob.c.status.in_([BlobStatus.LIVE.value, BlobStatus.MARKED.value])


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def is_unique_violation(exc: IntegrityError) -> bool:
    """A duplicate key, as opposed to a NOT NULL or foreign-key failure (a bug, not a clash)."""
    if getattr(exc.orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        return True
    return "UNIQUE constraint failed" in str(exc.orig)  # SQLite


def insert_unique(conn: Connection, stmt: Any, what: str) -> Any:
    """Run an INSERT (or an UPDATE of a unique column); a unique violation becomes AlreadyExists
    without spoiling the transaction."""
    savepoint = conn.begin_nested()
    try:
        result = conn.execute(stmt)
    except IntegrityError as exc:
        savepoint.rollback()
        if not is_unique_violation(exc):
            raise
        raise AlreadyExists(f"{what} already exists") from None
    savepoint.commit()
    return result


def insert_new(
    conn: Connection, table: Table, row: dict[str, Any], returning: str | None = None
) -> Any | None:
    """Insert the row unless one with the same unique key exists (ON CONFLICT DO NOTHING):
    one statement where `insert_unique` takes three (a savepoint, the INSERT, its release).
    None when the row was not inserted; else the `returning` column's value, or 1."""
    statement = _insert_new_statement(conn.dialect.name, table, tuple(row), returning)
    inserted = statement.first(conn, row)
    return None if inserted is None else inserted[0]


@cache
def _insert_new_statement(
    dialect: str, table: Table, columns: tuple[str, ...], returning: str | None
) -> Prepared:
    # Built once per table and set of columns. RETURNING says whether the row went in
    # (psycopg's rowcount does not, here).
    column = table.c[returning] if returning else literal_column("1").label("inserted")
    values: dict[str, Any] = {name: bindparam(name) for name in columns}
    insert = dialect_insert(dialect)(table).values(values)
    return Prepared(insert.on_conflict_do_nothing().returning(column))


def dialect_insert(dialect: str) -> Any:
    """The dialect's own `insert` (with ON CONFLICT); its module is imported only for the
    database in use."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as chosen
    else:
        from sqlalchemy.dialects import sqlite as chosen  # type: ignore[no-redef]
    return chosen.insert


def in_json_array(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column` IN the values of a JSON array bound as `name` (SQLite's `json_each`): one
    fixed statement, and so a `Prepared` one, for any number of values, where an expanding
    IN list is a new statement per length. Bind the list itself (the JSON type encodes it)."""
    values: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=JSON))
    )
    return column.in_(values)


def first_column(conn: Connection, statement: Executable, params: dict[str, Any]) -> list[Any]:
    """The first column of every row, fetched from the driver's cursor in one call: for a
    long list (a repository's 10,000 tags) building SQLAlchemy's rows costs several times
    the query itself."""
    result = conn.execute(statement, params)
    try:
        return [row[0] for row in result.cursor.fetchall()]
    finally:
        result.close()


def new_id(result: Any) -> int:
    """The primary key an INSERT generated."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def earlier(column: Any, at: datetime) -> ColumnElement[bool]:
    """The column is unset or before `at` (times only ever move forwards)."""
    return or_(column.is_(None), column < at)


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(search: str) -> str:
    """A LIKE pattern (escape `\\`) matching `search` anywhere, taken literally."""
    return f"%{_like_literal(search)}%"


def prefix_pattern(prefix: str) -> str:
    """A LIKE pattern (escape `\\`) matching values that start with `prefix`, taken literally."""
    return f"{_like_literal(prefix)}%"


def page_order(
    sorts: dict[str, Any], sort: str | None, default: str, *, reverse: bool = False
) -> list[ColumnElement[Any]]:
    """ORDER BY for `field` or `-field`, then the row id; unknown fields were refused by the
    caller (the domain's browse service).

    Every paged list counts its total and pages with LIMIT/OFFSET on indexed columns, so a
    page of an image with 100,000 tags costs one indexed range scan and one count."""
    name = sort or default
    column = sorts[name.lstrip("-")]
    descending = name.startswith("-") != reverse
    tie = t.tag.c.id if column.table is t.tag else column.table.c.id
    if descending:
        return [column.desc(), tie.desc()]
    return [column.asc(), tie.asc()]


def nearer_end(offset: int, size: int, total: int) -> tuple[bool, int, int]:
    """(reverse?, offset, limit) that fetch the rows [offset, offset + size) of `total` by
    scanning from whichever end is nearer: a page deep in a long list costs no more than one
    half-way through (NULLs sort exactly reversed on both SQLite and PostgreSQL)."""
    if offset <= total // 2:
        return False, offset, size
    end = min(total, offset + size)
    return True, max(0, total - end), max(0, end - offset)
