"""This deployment's registry as an endpoint: copies into it (pull rules) and out of it (push
rules) over the real upload and artifact services, on the in-memory store and blob store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.replication.copy import copy_artifact
from moorage.domain.replication.endpoints import BlobOpener, BlobRef, EndpointError
from moorage.domain.replication.local import LocalRegistry
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.endpoints import MemoryEndpoint, blob_digests, digest_of, index_of, referrer
from tests.fakes.memory import migrated_memory_uow

pytestmark = pytest.mark.anyio


@pytest.fixture
def local() -> LocalRegistry:
    uow = migrated_memory_uow()
    RegistryService(uow).create("reg")
    return LocalRegistry(
        "reg",
        uploads=UploadService(uow, MemoryBlobStore()),
        artifacts=ArtifactService(uow),
        uow=uow,
        blocking=Blocking(),
    )


def _opener(data: bytes) -> BlobOpener:
    async def opener(offset: int) -> AsyncIterator[bytes]:
        yield data[offset:]

    return opener


async def _bytes(opener: BlobOpener, offset: int = 0) -> bytes:
    return b"".join([chunk async for chunk in opener(offset)])


async def test_an_index_with_a_referrer_comes_in_and_goes_out_unchanged(
    local: LocalRegistry,
) -> None:
    remote = MemoryEndpoint()
    index, children = index_of(remote, "app/web", "v1")
    signature = referrer(remote, "app/web", index, "signed")

    pulled = await copy_artifact(
        remote, local, "app/web", "app/web", "v1", override=True, log=print
    )
    assert pulled.status == "copied"
    await local.check()
    assert await local.list_repositories() == ["app/web"]
    assert await local.list_tags("app/web") == ["v1"]
    assert await local.get_manifest("app/web", "v1") == index
    assert await local.manifest_digest("app/web", "v1") == index.digest
    assert await local.referrers("app/web", index.digest) == [signature]
    layer = blob_digests(children[0])[-1]
    size = len(remote.data[layer])
    assert await local.has_blob("app/web", layer)
    assert await _bytes(local.open_blob("app/web", BlobRef(layer, size))) == remote.data[layer]
    assert (
        await _bytes(local.open_blob("app/web", BlobRef(layer, size)), 3) == remote.data[layer][3:]
    )

    again = await copy_artifact(remote, local, "app/web", "app/web", "v1", override=True, log=print)
    assert (again.status, again.bytes_sent) == ("skipped", 0)

    out = MemoryEndpoint()
    pushed = await copy_artifact(local, out, "app/web", "web", "v1", override=True, log=print)
    assert pushed.status == "copied"
    assert out.repos["web"].manifests == remote.repos["app/web"].manifests
    assert out.repos["web"].tags == {"v1": index.digest}


async def test_what_is_missing_reads_as_absent(local: LocalRegistry) -> None:
    assert await local.list_tags("nothing") == []
    assert await local.get_manifest("nothing", "v1") is None
    assert await local.manifest_digest("nothing", "v1") is None
    assert await local.referrers("nothing", digest_of(b"x")) == []
    assert not await local.has_blob("nothing", digest_of(b"x"))


async def test_a_missing_registry_fails_the_check() -> None:
    uow = migrated_memory_uow()
    gone = LocalRegistry(
        "gone",
        uploads=UploadService(uow, MemoryBlobStore()),
        artifacts=ArtifactService(uow),
        uow=uow,
        blocking=Blocking(),
    )
    with pytest.raises(EndpointError, match="does not exist"):
        await gone.check()


async def test_a_blob_whose_bytes_do_not_match_is_refused_and_not_visible(
    local: LocalRegistry,
) -> None:
    claimed = BlobRef(digest_of(b"the real bytes"), 14)
    with pytest.raises(EndpointError, match="writing blob"):
        await local.put_blob("app", claimed, _opener(b"other bytes!!!"), None)
    assert not await local.has_blob("app", claimed.digest)


async def test_a_blob_is_mounted_from_another_repository(local: LocalRegistry) -> None:
    data = b"shared layer"
    blob = BlobRef(digest_of(data), len(data))
    assert await local.put_blob("one", blob, _opener(data), None) == len(data)
    assert await local.put_blob("two", blob, _opener(b""), "one") == 0
    assert await local.has_blob("two", blob.digest)
