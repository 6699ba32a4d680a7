"""Appends on the filesystem driver: a body is hashed and written piece by piece in worker
threads while the next piece arrives; what lands on disk and what the hasher sees are the
body's bytes in order, however the body is cut, and the body is never read far ahead of the
writes (memory stays flat whatever the blob's size)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from moorage.storage import filesystem
from moorage.storage.filesystem import PIECE_SIZE, FilesystemBlobStore

pytestmark = pytest.mark.anyio
KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def uneven(data: bytes, seed: int, largest: int) -> list[bytes]:
    """data cut into chunks of random sizes from 1 byte to `largest`."""
    rng = random.Random(seed)
    cuts: list[bytes] = []
    start = 0
    while start < len(data):
        end = start + rng.randint(1, largest)
        cuts.append(data[start:end])
        start = end
    return cuts


async def body(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def upload_bytes(root: Path, state: dict[str, object]) -> bytes:
    return (root / "uploads" / str(state["upload_id"])).read_bytes()


@pytest.mark.parametrize(
    ("size", "largest"),
    [
        (5 * MiB + 123, 700 * KiB),  # pieces of several chunks
        (3 * MiB, 3 * MiB),  # chunks larger than a piece
        (2 * MiB + 17, 300),  # pieces cut by their number of chunks, not their size
    ],
)
async def test_appends_write_and_hash_the_body_in_order(
    tmp_path: Path, size: int, largest: int
) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(size).randbytes(size)
    first, second = data[: size // 3], data[size // 3 :]
    hasher = hashlib.sha256()
    state = await store.begin_upload()

    grown, state = await store.append(state, body(uneven(first, 1, largest)), hasher)
    assert grown == len(first)
    total, state = await store.append(state, body(uneven(second, 2, largest)), hasher)

    assert total == size
    assert upload_bytes(tmp_path, state) == data
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_an_append_without_a_hasher_writes_the_same(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(7).randbytes(3 * MiB + 5)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data, 3, 500 * KiB)))
    assert upload_bytes(tmp_path, state) == data


async def test_the_body_is_not_read_far_ahead_of_the_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With writes slower than the body, at most a piece being written, one handed over
    and one being gathered are held: the rest of the body waits in the client's socket."""
    written = 0
    ahead: list[int] = []
    real_write = filesystem._write_piece

    def slow_write(fd: int, piece: filesystem._Piece, offset: int) -> int:
        nonlocal written
        time.sleep(0.01)
        end = real_write(fd, piece, offset)
        written += piece.size
        return end

    async def counted(parts: list[bytes]) -> AsyncIterator[bytes]:
        received = 0
        for part in parts:
            received += len(part)
            ahead.append(received - written)
            yield part

    monkeypatch.setattr(filesystem, "_write_piece", slow_write)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(9).randbytes(24 * MiB)
    state = await store.begin_upload()
    size, _state = await store.append(state, counted(uneven(data, 4, 256 * KiB)), hashlib.sha256())

    assert size == len(data)
    assert max(ahead) <= 3 * PIECE_SIZE + 256 * KiB


async def test_a_body_that_breaks_off_mid_append_leaves_the_upload_as_it_was(
    tmp_path: Path,
) -> None:
    store = FilesystemBlobStore(tmp_path)
    state = await store.begin_upload()
    _size, state = await store.append(state, body([b"kept"]))

    async def breaking() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"x" * (700 * KiB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.append(state, breaking(), hashlib.sha256())
    assert upload_bytes(tmp_path, state) == b"kept"


async def test_appends_work_without_early_writeback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the C library has no sync_file_range, the fsync at commit does all the work."""
    monkeypatch.setattr(filesystem, "_writeback", lambda: None)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(11).randbytes(2 * MiB + 3)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data, 5, 600 * KiB)))
    assert upload_bytes(tmp_path, state) == data


async def test_an_append_cancelled_mid_body_leaves_the_upload_as_it_was(tmp_path: Path) -> None:
    """A request cancelled while its body stalls (a timeout, the server stopping): the
    pipeline's threads are done before the file is cut back to its recorded size."""
    store = FilesystemBlobStore(tmp_path)
    state = await store.begin_upload()
    _size, state = await store.append(state, body([b"kept"]))

    async def stalling() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"s" * (700 * KiB)
        await anyio.sleep(30)
        yield b"never"

    with anyio.move_on_after(0.3) as scope:
        await store.append(state, stalling(), hashlib.sha256())
    assert scope.cancelled_caught
    assert upload_bytes(tmp_path, state) == b"kept"
    _size, state = await store.append(state, body([b" and more"]))
    assert upload_bytes(tmp_path, state) == b"kept and more"
