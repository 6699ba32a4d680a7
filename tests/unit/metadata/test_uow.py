from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import WriteWouldWait
from moorage.metadata.uow import BUSY_TIMEOUT_MS, SqlUnitOfWork, create_metadata_engine

SQLITE_SYNCHRONOUS = {"NORMAL": 1, "FULL": 2}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("level", ["NORMAL", "FULL"])
def test_sqlite_runs_in_wal_mode_with_the_chosen_durability(tmp_path: Path, level: str) -> None:
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}", level.lower())
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == SQLITE_SYNCHRONOUS[level]
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL, FULL or GROUP"):
        create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}", "off")


def test_a_write_that_may_not_wait_gives_way_to_another_process_at_once(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock (an admin command): a write asked not to
    wait gives up at once instead of after the busy timeout, and the connection keeps
    waiting as usual afterwards."""
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'm.db'}")
    uow = SqlUnitOfWork(engine)
    with uow(write=True):
        pass  # the database exists, in WAL mode, with a pooled connection
    other = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(WriteWouldWait), uow(write=True, wait=False):
            pass
        assert time.monotonic() - started < 1
        other.execute("COMMIT")
        for write, wait, timeout in [
            (True, False, 0),  # holding the write lock, it waits for no one
            (True, True, BUSY_TIMEOUT_MS),
            (True, False, 0),
            (False, True, BUSY_TIMEOUT_MS),  # a read after it waits as usual
        ]:
            with uow(write=write, wait=wait) as tx:
                assert tx.conn.execute(text("PRAGMA busy_timeout")).scalar() == timeout
    finally:
        other.close()
        engine.dispose()


@pytest.mark.anyio
async def test_a_write_that_would_wait_runs_in_a_worker_thread(tmp_path: Path) -> None:
    blocking = Blocking(inline_reads=True, inline_writes=True)
    where: list[tuple[bool, bool]] = []
    loop_thread = threading.get_ident()

    def transact(wait: bool) -> str:
        where.append((wait, threading.get_ident() == loop_thread))
        if not wait:
            raise WriteWouldWait("busy")
        return "done"

    assert await blocking.write(transact) == "done"
    assert where == [(False, True), (True, False)]  # tried inline, then waited in a thread
