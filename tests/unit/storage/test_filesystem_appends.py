"""Appends on the filesystem driver: a body is hashed and written piece by piece in worker
threads while the next piece arrives; what lands on disk and what the hasher sees are the
body's bytes in order, however the body is cut and wherever an append starts, whether the
pieces go around the page cache (O_DIRECT) or through it, and the body is never read far
ahead of the writes (memory stays flat whatever the blob's size)."""

from __future__ import annotations

import errno
import hashlib
import os
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


@pytest.fixture(params=["direct", "page cache"])
def write_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test taking this runs with direct writes and again as on a file system that
    refuses them."""
    if request.param == "page cache":
        monkeypatch.setattr(filesystem, "_DIRECT_WRITES", False)
    return str(request.param)


def direct_writes_here(path: Path) -> bool:
    fd = os.open(path / "probe", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return filesystem._direct_writes(fd)
    finally:
        os.close(fd)


def cached(path: Path, offset: int, length: int) -> bool:
    """Whether the page cache holds the file's bytes at offset (a read that may not wait)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(length)], offset, os.RWF_NOWAIT)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


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
    ("size", "largest", "first_size"),
    [
        (5 * MiB + 123, 700 * KiB, None),  # pieces of several chunks
        (3 * MiB, 3 * MiB, None),  # chunks larger than a piece
        (2 * MiB + 17, 300, None),  # pieces cut by their number of chunks, not their size
        (3 * MiB + 1, 64 * KiB, 1_000),  # a small append, then a large one mid-block
        (4 * MiB, 64 * KiB, 2 * MiB),  # both appends whole blocks
    ],
)
async def test_appends_write_and_hash_the_body_in_order(
    tmp_path: Path, write_mode: str, size: int, largest: int, first_size: int | None
) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(size).randbytes(size)
    cut = size // 3 if first_size is None else first_size
    first, second = data[:cut], data[cut:]
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_mode: str
) -> None:
    """With writes slower than the body, at most a piece being written, one handed over
    and one being gathered are held: the rest of the body waits in the client's socket."""
    written = 0
    ahead: list[int] = []
    writer = filesystem._DirectWriter if write_mode == "direct" else filesystem._Writer
    real_write = writer.__call__

    def slow_write(self: filesystem._Writer, piece: filesystem._Piece) -> None:
        nonlocal written
        time.sleep(0.01)
        real_write(self, piece)
        written += piece.size

    async def counted(parts: list[bytes]) -> AsyncIterator[bytes]:
        received = 0
        for part in parts:
            received += len(part)
            ahead.append(received - written)
            yield part

    monkeypatch.setattr(writer, "__call__", slow_write)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(9).randbytes(24 * MiB)
    state = await store.begin_upload()
    size, _state = await store.append(state, counted(uneven(data, 4, 256 * KiB)), hashlib.sha256())

    assert size == len(data)
    assert max(ahead) <= 3 * PIECE_SIZE + 256 * KiB


async def test_a_body_that_breaks_off_mid_append_leaves_the_upload_as_it_was(
    tmp_path: Path, write_mode: str
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
    monkeypatch.setattr(filesystem, "_DIRECT_WRITES", False)
    monkeypatch.setattr(filesystem, "_writeback", lambda: None)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(11).randbytes(2 * MiB + 3)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data, 5, 600 * KiB)))
    assert upload_bytes(tmp_path, state) == data


async def test_an_append_cancelled_mid_body_leaves_the_upload_as_it_was(
    tmp_path: Path, write_mode: str
) -> None:
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


async def test_large_appends_go_around_the_page_cache(tmp_path: Path) -> None:
    """A large body's pieces are not left in the page cache; a small body's are (it is
    written on the event loop, through the cache)."""
    if not direct_writes_here(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(12).randbytes(4 * MiB)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data, 6, 256 * KiB)))
    small = await store.begin_upload()
    _size, small = await store.append(small, body([b"s" * 4 * KiB]))

    upload = tmp_path / "uploads" / str(state["upload_id"])
    assert not cached(upload, 0, 1 * MiB)
    assert cached(tmp_path / "uploads" / str(small["upload_id"]), 0, 4 * KiB)
    await store.commit(state, "blobs/sha256/ab/" + "ab" * 32)
    assert (tmp_path / "blobs/sha256/ab" / ("ab" * 32)).read_bytes() == data


async def test_a_refused_direct_write_falls_back_to_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device whose blocks are larger than DIRECT_ALIGN refuses the writes (EINVAL): the
    same bytes are written through the page cache, and so is every later upload."""
    if not direct_writes_here(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    monkeypatch.setattr(filesystem, "_DIRECT_WRITES", True)
    real_pwrite = os.pwrite
    refused: list[int] = []

    def refusing(fd: int, data: memoryview, offset: int) -> int:
        if filesystem.fcntl.fcntl(fd, filesystem.fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(filesystem.os, "pwrite", refusing)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(13).randbytes(3 * MiB + 77)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data, 7, 512 * KiB)))

    assert refused == [0]
    assert not filesystem._DIRECT_WRITES
    assert upload_bytes(tmp_path, state) == data


async def test_a_refused_direct_read_of_a_blocks_start_falls_back_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append that starts mid-block reads the block's start back; refused in direct mode,
    it is read through the page cache and the upload goes on there."""
    if not direct_writes_here(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    monkeypatch.setattr(filesystem, "_DIRECT_WRITES", True)
    store = FilesystemBlobStore(tmp_path)
    data = random.Random(14).randbytes(3 * MiB + 5_000)
    state = await store.begin_upload()
    _size, state = await store.append(state, body(uneven(data[: 1 * MiB + 100], 8, 512 * KiB)))
    real_preadv = os.preadv

    def refusing(fd: int, buffers: list[memoryview], offset: int, *flags: int) -> int:
        if filesystem.fcntl.fcntl(fd, filesystem.fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_preadv(fd, buffers, offset, *flags)

    monkeypatch.setattr(filesystem.os, "preadv", refusing)
    _size, state = await store.append(state, body(uneven(data[1 * MiB + 100 :], 9, 512 * KiB)))

    assert not filesystem._DIRECT_WRITES
    assert upload_bytes(tmp_path, state) == data


async def test_concurrent_direct_appends_each_have_their_own_buffer(tmp_path: Path) -> None:
    """More uploads at once than buffers kept: each writes through its own aligned buffer,
    and at most STAGING_KEPT stay mapped afterwards."""
    if not direct_writes_here(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    store = FilesystemBlobStore(tmp_path)
    blobs = [random.Random(20 + i).randbytes(2 * MiB + i * 4_099) for i in range(6)]
    states = [await store.begin_upload() for _ in blobs]

    async def append(i: int) -> None:
        _size, states[i] = await store.append(states[i], body(uneven(blobs[i], i, 200 * KiB)))

    async with anyio.create_task_group() as tasks:
        for i in range(len(blobs)):
            tasks.start_soon(append, i)

    for data, state in zip(blobs, states, strict=True):
        assert upload_bytes(tmp_path, state) == data
    assert len(filesystem._staging_kept) <= filesystem.STAGING_KEPT
