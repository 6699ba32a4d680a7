"""`UploadService.peek_small`: a config's bytes for what a manifest push records, read by
digest straight from the store, verified (wrong bytes are quarantined), and bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from moorage.domain.content.digest_cache import DigestCache
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.oci.digest import Digest
from moorage.oci.manifests import MAX_CONFIG_BYTES
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


async def _body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_a_config_pushed_here_is_read_from_memory() -> None:
    """The config a manifest push reads was mostly pushed a moment before: its verified bytes
    are kept, so the push reads neither the store nor its hash again. Layers, and blobs too
    large to be a config, are not kept."""
    blobs, uow = MemoryBlobStore(), migrated_memory_uow()
    RegistryService(uow).create("reg")
    uploads = UploadService(uow, blobs)
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"\x1f\x8b" + b"layer" * 10
    large = b"{" + b" " * MAX_CONFIG_BYTES + b"}"
    for data in (config, layer, large):
        await uploads.upload_whole("reg/app", str(Digest.of(data)), _body(data))
        await blobs.delete(blobs.key_for(Digest.of(data)))  # the store no longer has them

    assert await uploads.peek_small(str(Digest.of(config)), MAX_CONFIG_BYTES) == config
    assert await uploads.peek_small(str(Digest.of(config)), len(config) - 1) is None
    assert await uploads.peek_small(str(Digest.of(layer)), MAX_CONFIG_BYTES) is None
    assert await uploads.peek_small(str(Digest.of(large)), 2 * MAX_CONFIG_BYTES) is None
    # Another process (another node) did not receive it: it reads the store.
    assert await UploadService(uow, blobs).peek_small(str(Digest.of(config)), 1024) is None


def test_the_digest_cache_keeps_the_latest_used_within_its_bytes() -> None:
    cache = DigestCache(max_bytes=1600)  # sixteen bodies of 100 bytes
    for number in range(17):
        cache.put(str(number), b"x" * 100)
    assert cache.get("0") is None  # the oldest went for the seventeenth
    assert cache.get("1") is not None  # now the latest used
    cache.put("17", b"x" * 100)
    assert cache.get("2") is None
    assert cache.get("1") is not None
    cache.put("large", b"x" * 101)  # over a sixteenth of the cache: it would evict many
    assert cache.get("large") is None
    assert cache.size == 1600
