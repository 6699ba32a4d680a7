"""A database out of space is DatabaseFull (a 503 with a retry hint at every entrypoint),
whichever backend says so; other failures keep their own meaning.

SQLite's SQLITE_FULL is produced for real, by a database that may not grow (`max_page_count`);
PostgreSQL's disk_full cannot be produced on a shared server, so its real exception class
(psycopg's DiskFull, SQLSTATE 53100) is raised through a unit of work. The whole path, a
real full disk under a running server, is tests/e2e/test_disk_full.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from moorage.domain.kernel.errors import Busy, DatabaseFull
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


def test_sqlite_full_is_database_full(engine: Engine) -> None:
    uow = SqlUnitOfWork(engine)
    with uow(write=True) as tx:
        tx.conn.execute(text("CREATE TABLE filler (data BLOB)"))

    @event.listens_for(engine, "connect")
    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA max_page_count = 8")

    engine.dispose()  # connections from now on cannot grow the file
    with pytest.raises(DatabaseFull, match="full"), uow(write=True) as tx:
        tx.conn.execute(text("INSERT INTO filler VALUES (zeroblob(1000000))"))
    with uow() as tx:  # the transaction left nothing, and the database still answers
        assert tx.conn.execute(text("SELECT count(*) FROM filler")).scalar() == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.errors.DiskFull("could not extend file: No space left on device"), DatabaseFull),
        (psycopg.errors.SerializationFailure("could not serialize access"), Busy),
    ],
)
def test_postgresql_disk_full_is_database_full(
    engine: Engine, error: psycopg.Error, expected: type[Exception]
) -> None:
    uow = SqlUnitOfWork(engine)
    with pytest.raises(expected) as raised, uow(write=True):
        raise OperationalError("INSERT …", {}, error)
    assert isinstance(raised.value, DatabaseFull) == (expected is DatabaseFull)
