"""A blob store out of space says so (StorageFull: 503, "blob storage is full"), not just
"storage failure": on the filesystem ENOSPC, EDQUOT and EFBIG; on S3 the quota errors of
the stores that have quotas.

EFBIG is produced for real: a file size limit (RLIMIT_FSIZE) on this process, with SIGXFSZ
ignored as Python ignores it, makes the driver's write fail as a full disk would. The
filling of a real disk is tests/e2e/test_disk_full.py.
"""

from __future__ import annotations

import resource
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from moorage.domain.kernel.errors import StorageFailure, StorageFull
from moorage.storage.filesystem import FilesystemBlobStore
from moorage.storage.s3 import _s3_errors

pytestmark = pytest.mark.anyio
LIMIT = 64 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    if signal.getsignal(signal.SIGXFSZ) != signal.SIG_IGN:
        pytest.skip("SIGXFSZ is not ignored here: a write past the limit would kill pytest")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


async def chunks(size: int) -> AsyncIterator[bytes]:
    yield b"x" * size


async def test_a_write_past_the_file_size_limit_is_storage_full(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    state = await store.begin_upload()
    with file_size_limit(LIMIT), pytest.raises(StorageFull, match="File too large"):
        await store.append(state, chunks(2 * LIMIT))
    size, _ = await store.append(state, chunks(LIMIT))  # the limit gone, it writes again
    assert size == LIMIT


async def test_a_large_append_past_the_limit_is_storage_full_and_keeps_the_upload(
    tmp_path: Path,
) -> None:
    """The same when the write fails in the worker thread of a pipelined append: the error
    is StorageFull itself (not wrapped), and the upload keeps its recorded size."""
    store = FilesystemBlobStore(tmp_path)
    state = await store.begin_upload()
    _size, state = await store.append(state, chunks(LIMIT // 2))
    limit = 3 * 1024 * 1024

    async def large() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield b"y" * (512 * 1024)

    with file_size_limit(limit), pytest.raises(StorageFull, match="File too large"):
        await store.append(state, large())
    assert (tmp_path / "uploads" / state["upload_id"]).stat().st_size == LIMIT // 2
    size, _ = await store.append(state, large())
    assert size == LIMIT // 2 + 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("code", "full"),
    [("QuotaExceeded", True), ("XMinioStorageFull", True), ("AccessDenied", False)],
)
def test_s3_quota_errors_are_storage_full(code: str, full: bool) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "refused"}}, "PutObject")
    with pytest.raises(StorageFailure) as raised, _s3_errors("cannot write k"):
        raise error
    assert isinstance(raised.value, StorageFull) == full
