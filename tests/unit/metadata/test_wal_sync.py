"""Group commit on SQLite (`sqlite_synchronous = "group"`): a write is acknowledged only
once the log holding its commit is synced, and the commits of one pass of the event loop
share one sync."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import create_engine

from moorage import wiring
from moorage.api.app import create_app
from moorage.config import Settings
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import Busy
from moorage.metadata.uow import SqlUnitOfWork, create_metadata_engine, wal_sync_for
from moorage.metadata.wal_sync import WalSync
from moorage.oci.digest import Digest


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A SQLite database in WAL mode with one committed row (so its log exists)."""
    path = str(tmp_path / "db.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    # Kept open so SQLite does not checkpoint and remove the log behind the tests' back.
    yield path
    conn.close()


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors fsynced from now on (each still synced for real)."""
    synced: list[int] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return synced


def test_a_commit_in_a_thread_returns_once_the_log_is_synced(
    database: str, fsyncs: list[int]
) -> None:
    sync = WalSync(database)
    sync.after_commit()
    assert sync.syncs == 1
    assert len(fsyncs) == 1
    sync.after_commit()  # a later commit needs a later sync
    assert sync.syncs == 2


def test_the_commits_of_one_pass_of_the_loop_share_one_sync(database: str) -> None:
    sync = WalSync(database)

    async def request(index: int) -> int:
        sync.after_commit()
        assert sync.syncs == 0  # not yet: the request has not gone on
        await WalSync.settle()
        assert sync.syncs == 1
        return index

    async def main() -> list[int]:
        return await asyncio.gather(*(request(i) for i in range(8)))

    assert asyncio.run(main()) == list(range(8))
    assert sync.syncs == 1


def test_blocking_write_awaits_the_sync_before_the_request_goes_on(database: str) -> None:
    sync = WalSync(database)
    blocking = Blocking(inline_reads=True, inline_writes=True, settle=WalSync.settle)
    seen: list[int] = []

    def transact(_wait: bool) -> str:
        sync.after_commit()
        seen.append(sync.syncs)
        return "done"

    async def main() -> str:
        done = await blocking.write(transact)
        seen.append(sync.syncs)
        return done

    assert asyncio.run(main()) == "done"
    assert seen == [0, 1]


def test_a_failed_sync_fails_its_writers_with_busy(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    sync = WalSync(database)
    with pytest.raises(Busy, match="could not be written to disk"):
        sync.after_commit()

    async def request() -> None:
        sync.after_commit()
        await WalSync.settle()

    with pytest.raises(Busy):
        asyncio.run(request())
    assert sync.syncs == 0


def test_a_cancelled_request_does_not_cancel_the_sync_others_wait_for(database: str) -> None:
    sync = WalSync(database)

    async def request(started: asyncio.Event, release: asyncio.Event) -> None:
        sync.after_commit()
        started.set()
        await release.wait()
        await WalSync.settle()

    async def main() -> None:
        started = [asyncio.Event(), asyncio.Event()]
        release = asyncio.Event()
        first = asyncio.create_task(request(started[0], release))
        second = asyncio.create_task(request(started[1], release))
        await asyncio.gather(*(event.wait() for event in started))
        first.cancel()
        release.set()
        await second  # its sync went through, whatever happened to the first
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
    assert sync.syncs == 1


def test_no_log_left_is_nothing_to_sync(tmp_path: Path, fsyncs: list[int]) -> None:
    sync = WalSync(str(tmp_path / "checkpointed.sqlite"))  # no "-wal" file beside it
    sync.after_commit()
    assert fsyncs == []
    assert sync.syncs == 1


def test_concurrent_commits_in_threads_are_each_covered(database: str) -> None:
    sync = WalSync(database)
    threads = [threading.Thread(target=sync.after_commit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= sync.syncs <= 16
    assert sync._synced == 16  # every commit noted is covered by a sync


def test_only_group_on_a_sqlite_file_syncs_after_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert wal_sync_for(create_metadata_engine(url, "GROUP"), "group") is not None
    assert wal_sync_for(create_metadata_engine(url, "NORMAL"), "normal") is None
    assert wal_sync_for(create_engine("sqlite://"), "group") is None  # in memory: no log
    with pytest.raises(ValueError, match="NORMAL, FULL or GROUP"):
        create_metadata_engine(url, "OFF")


@pytest.fixture
def group_node(tmp_path: Path) -> Iterator[wiring.Container]:
    container = wiring.build(
        Settings(data_dir=tmp_path / "data", auth="none", sqlite_synchronous="group")
    )
    container.registries.create("reg")
    try:
        yield container
    finally:
        container.close()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_a_push_over_http_is_answered_after_its_commits_are_synced(
    group_node: wiring.Container,
) -> None:
    assert isinstance(group_node.uow, SqlUnitOfWork)
    wal_sync = group_node.uow.wal_sync
    assert wal_sync is not None
    app = create_app(group_node)
    blob = b"a small layer"
    digest = str(Digest.of(blob))
    synced_at_answer: list[int] = []

    async def push() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            started = await client.post("/v2/reg/app/blobs/uploads/")
            assert started.status_code == 202, started.text
            done = await client.put(
                started.headers["location"], params={"digest": digest}, content=blob
            )
            assert done.status_code == 201, done.text
            synced_at_answer.append(wal_sync._synced)

    anyio.run(push)
    # Every commit the push made (the upload's start, the blob's record) was synced first.
    assert synced_at_answer == [wal_sync._committed]
    assert wal_sync.syncs >= 1
    stat = anyio.run(group_node.uploads.stat_blob, "reg/app", digest)
    assert stat.size == len(blob)
    assert stat.digest == digest
