"""`UploadService.peek_small`: a config's bytes for what a manifest push records, read by
digest straight from the store, verified, and bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from moorage.domain.content.uploads import UploadService
from moorage.oci.digest import Digest
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import migrated_memory_uow


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _stored(blobs: MemoryBlobStore, key: str, data: bytes) -> None:
    async def one() -> AsyncIterator[bytes]:
        yield data

    _size, state = await blobs.append(await blobs.begin_upload(), one())
    await blobs.commit(state, key)


@pytest.mark.anyio
async def test_the_verified_bytes_or_nothing() -> None:
    blobs = MemoryBlobStore()
    uploads = UploadService(migrated_memory_uow(), blobs)
    config, big = b'{"os":"linux"}', b"x" * 100
    for data in (config, big):
        await _stored(blobs, blobs.key_for(Digest.of(data)), data)
    liar = Digest.of(b"something else")
    await _stored(blobs, blobs.key_for(liar), config)  # bytes that do not match the key

    assert await uploads.peek_small(str(Digest.of(config)), 64) == config
    assert await uploads.peek_small(str(Digest.of(big)), 64) is None  # over the limit
    assert await uploads.peek_small(str(liar), 64) is None
    assert await uploads.peek_small(str(Digest.of(b"never stored")), 64) is None
