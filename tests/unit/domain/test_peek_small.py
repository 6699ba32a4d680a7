"""`UploadService.peek_small`: a config's bytes for what a manifest push records, read by
digest straight from the store, verified (wrong bytes are quarantined), and bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

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
    blobs, uow = MemoryBlobStore(), migrated_memory_uow()
    uploads = UploadService(uow, blobs)
    config, big = b'{"os":"linux"}', b"x" * 100
    for data in (config, big):
        await _stored(blobs, blobs.key_for(Digest.of(data)), data)
    liar = Digest.of(b"something else")
    await _stored(blobs, blobs.key_for(liar), config)  # bytes that do not match the key
    with uow(write=True) as tx:
        tx.blobs.add_blob(str(liar), len(config), datetime.now(UTC))

    assert await uploads.peek_small(str(Digest.of(config)), 64) == config
    assert await uploads.peek_small(str(Digest.of(big)), 64) is None  # over the limit
    assert await uploads.peek_small(str(liar), 64) is None
    with uow() as tx:
        assert tx.blobs.get_blob(str(liar)) is None  # quarantined: no longer served
    assert await uploads.peek_small(str(Digest.of(b"never stored")), 64) is None
