"""`UploadService.peek_small`: a config's bytes for what a manifest push records, read by
digest straight from the store, verified (wrong bytes are quarantined), and bounded; or,
for a small JSON blob this process has just stored, from memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from moorage.domain.content.digest_cache import entry_bytes
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import RECENT_DOCUMENT_BYTES, UploadService
from moorage.oci.digest import Digest
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import migrated_memory_uow


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _stored(blobs: MemoryBlobStore, key: str, data: bytes) -> None:
    _size, state = await blobs.append(await blobs.begin_upload(), _body(data))
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


@pytest.mark.anyio
async def test_a_small_json_blob_just_pushed_is_read_from_memory() -> None:
    """The config pushed moments before its manifest: read without the store, and only a
    JSON document (a small layer is never read this way, so it is not kept)."""
    blobs, uow = MemoryBlobStore(), migrated_memory_uow()
    RegistryService(uow).create("reg")
    uploads = UploadService(uow, blobs)
    config, layer = b'{"architecture":"arm64","os":"linux"}', b"\x1f\x8b small layer"
    for data in (config, layer):
        digest = str(Digest.of(data))
        started = await uploads.start("reg/app")
        await uploads.finish("reg/app", started.id, digest, _body(data))
        await blobs.delete(blobs.key_for(Digest.of(data)))  # gone from the store

    assert await uploads.peek_small(str(Digest.of(config)), 64) == config
    assert await uploads.peek_small(str(Digest.of(config)), 8) is None  # over the limit
    assert await uploads.peek_small(str(Digest.of(layer)), 64) is None
    other_node = UploadService(uow, blobs)  # holds nothing in memory: reads the store
    assert await other_node.peek_small(str(Digest.of(config)), 64) is None


@pytest.mark.anyio
async def test_the_documents_kept_are_bounded_by_bytes() -> None:
    blobs, uow = MemoryBlobStore(), migrated_memory_uow()
    RegistryService(uow).create("reg")
    uploads = UploadService(uow, blobs)
    # Sixteen fit: each takes a sixteenth of the bound with its digest and bookkeeping.
    size = RECENT_DOCUMENT_BYTES // 16 - entry_bytes(str(Digest.of(b"")), b"")
    documents = [b'{"n":"' + bytes([65 + i]) * (size - 8) + b'"}' for i in range(20)]
    for data in documents:
        started = await uploads.start("reg/app")
        await uploads.finish("reg/app", started.id, str(Digest.of(data)), _body(data))
        await blobs.delete(blobs.key_for(Digest.of(data)))

    kept = [await uploads.peek_small(str(Digest.of(d)), size) for d in documents]
    assert kept[:4] == [None] * 4  # the oldest went first
    assert kept[4:] == documents[4:]
