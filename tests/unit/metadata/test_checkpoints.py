"""SQLite's write-ahead log is checkpointed by a thread of the server, not inside commits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from moorage.metadata.checkpoints import FALLBACK_AUTOCHECKPOINT_PAGES, Checkpoint, WalCheckpoints
from moorage.metadata.uow import create_metadata_engine, wal_checkpoints


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_metadata_engine(f"sqlite:///{tmp_path / 'moorage.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    engine.dispose()


def commit_notes(engine: Engine, count: int) -> None:
    for _ in range(count):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": "x" * 500})


def database_of(engine: Engine) -> str:
    assert engine.url.database
    return engine.url.database


def test_commits_leave_the_log_to_the_thread(engine: Engine) -> None:
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    assert pages == FALLBACK_AUTOCHECKPOINT_PAGES  # a bound, no longer the commits' job
    checkpoints = WalCheckpoints(database_of(engine))
    try:
        checkpoints.checkpoint_if_committed()
        commit_notes(engine, 50)
        done = checkpoints.checkpoint_if_committed()
        assert done is not None
        assert not done.busy
        assert done.log_frames >= 50  # the commits checkpointed nothing themselves
        assert done.checkpointed_frames == done.log_frames
        assert checkpoints.checkpoint_if_committed() is None  # nothing committed since
    finally:
        checkpoints.stop()


def test_the_thread_checkpoints_after_commits_until_stopped(engine: Engine) -> None:
    with wal_checkpoints(engine) as checkpoints:
        assert isinstance(checkpoints, WalCheckpoints)
        commit_notes(engine, 20)
        deadline = time.monotonic() + 10
        while checkpoints.last is None and time.monotonic() < deadline:
            time.sleep(0.05)
        last = checkpoints.last
        assert isinstance(last, Checkpoint)
        assert last.log_frames > 0
        assert last.checkpointed_frames == last.log_frames
        thread = checkpoints._thread
        assert thread is not None
        assert thread.is_alive()
    assert not thread.is_alive()


def test_no_thread_without_a_database_file() -> None:
    memory = create_engine("sqlite://")
    with wal_checkpoints(memory) as checkpoints:
        assert checkpoints is None
    postgres = create_engine("postgresql+psycopg://moorage@127.0.0.1/none")
    with wal_checkpoints(postgres) as checkpoints:
        assert checkpoints is None
