"""The proxy-cache service over the role fakes, the in-memory blob store and an upstream in
memory that counts what it is asked: first pulls fetch, fresh tags are answered without
asking, stale tags are revalidated with a HEAD, a dead upstream leaves the cached copy
served, digests are never revalidated, and one blob is fetched once however many ask."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.errors import BlobNotFound, ManifestNotFound, RefusedAddress
from moorage.domain.policies.selectors import Selector
from moorage.domain.policies.service import PolicyService, ProtectionSpec
from moorage.domain.proxycache.errors import InvalidUpstream, UpstreamUnavailable
from moorage.domain.proxycache.flights import FlightFailed
from moorage.domain.proxycache.model import Upstream, UpstreamDraft
from moorage.domain.proxycache.service import (
    HIT,
    KEPT,
    MISS,
    REVALIDATED,
    STALE,
    ProxyCacheService,
    check_draft,
)
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import MemoryUnitOfWork, migrated_memory_uow
from tests.fakes.proxycache import Manifest, MemoryUpstream, MemoryUpstreams
from tests.fakes.replication import PlainSecretBox

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REPO = "cache/library/app"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def digest(data: bytes) -> str:
    return str(Digest.of(data))


def image(layer: bytes, name: str = "x") -> tuple[Manifest, dict[str, bytes]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "name": name}).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer)}],
    }
    body = json.dumps(doc).encode()
    return Manifest(digest(body), mt.OCI_MANIFEST, body), {
        digest(config): config,
        digest(layer): layer,
    }


class Setup:
    def __init__(self, revalidate: int = 300) -> None:
        self.uow: MemoryUnitOfWork = migrated_memory_uow()
        self.clock = Clock()
        self.store = MemoryBlobStore()
        self.artifacts = ArtifactService(self.uow, self.clock)
        self.uploads = UploadService(self.uow, self.store, self.clock)
        self.upstreams = MemoryUpstreams()
        self.upstream: MemoryUpstream = self.upstreams.upstream
        self.box = PlainSecretBox()
        self.service = ProxyCacheService(
            self.uow,
            self.artifacts,
            self.uploads,
            self.upstreams,
            self.box,
            Blocking(inline_reads=True),
            revalidate_seconds=revalidate,
            clock=self.clock,
        )
        RegistryService(self.uow, self.clock).create("cache")
        self.cache = self.service.attach(
            "cache", UpstreamDraft("https://mirror.example.com/", "mirror", "robot", "pw")
        )

    def publish(self, tag: str, layer: bytes, name: str = "x") -> Manifest:
        manifest, blobs = image(layer, name)
        self.upstream.put("library/app", tag, manifest)
        self.upstream.blobs.update(blobs)
        return manifest

    async def pull_manifest(self, reference: str) -> str:
        return await self.service.refresh_manifest(self.cache, REPO, reference)

    def stored(self, reference: str) -> str:
        return self.artifacts.get_manifest(REPO, reference, with_body=False).head.digest

    async def read(self, blob: str) -> bytes:
        fetched = await self.service.fetch_blob(self.cache, REPO, blob)
        if fetched is None:
            return b"stored"
        return b"".join([chunk async for chunk in fetched.chunks])


async def test_attach_seals_the_password_and_checks_the_address() -> None:
    s = Setup()
    assert s.cache.url == "https://mirror.example.com"
    assert (s.cache.namespace, s.cache.username, s.cache.has_password) == ("mirror", "robot", True)
    with s.uow() as tx:
        assert tx.proxy_cache.upstream_secret(s.cache.registry_id) == s.box.seal("pw")
    assert await s.service.upstream_of("cache") == s.cache
    assert await s.service.upstream_of("other") is None
    RegistryService(s.uow, s.clock).create("inside")
    with pytest.raises(RefusedAddress) as refused:
        s.service.attach("inside", UpstreamDraft("http://10.0.0.1:5000"))
    assert refused.value.parameter == "proxy_cache.url"
    for bad, field in (
        (UpstreamDraft("ftp://mirror.example.com"), "proxy_cache.url"),
        (UpstreamDraft("https://u:p@mirror.example.com"), "proxy_cache.url"),
        (UpstreamDraft("https://m.example.com", namespace="a//b"), "proxy_cache.namespace"),
        (
            UpstreamDraft("https://m.example.com", revalidate_seconds=-1),
            "proxy_cache.revalidate_seconds",
        ),
    ):
        with pytest.raises(InvalidUpstream) as invalid:
            s.service.attach("inside", bad)
        assert invalid.value.parameter == field


async def test_a_tag_is_fetched_once_then_served_until_it_is_stale() -> None:
    s = Setup(revalidate=300)
    first = s.publish("1.0", b"layer one")
    assert await s.pull_manifest("1.0") == MISS
    assert s.stored("1.0") == first.digest  # stored though its blobs are not there yet
    assert s.upstreams.opened == [("https://mirror.example.com", "pw")]
    s.upstream.calls.clear()
    assert await s.pull_manifest("1.0") == HIT
    assert s.upstream.calls == []
    s.clock.now += timedelta(seconds=301)
    assert await s.pull_manifest("1.0") == REVALIDATED
    assert s.upstream.calls == ["HEAD manifest library/app:1.0"]
    assert await s.pull_manifest("1.0") == HIT  # renewed
    second = s.publish("1.0", b"layer two")
    s.clock.now += timedelta(seconds=301)
    assert await s.pull_manifest("1.0") == MISS
    assert s.stored("1.0") == second.digest
    artifact = s.artifacts.get_manifest(REPO, "1.0", with_body=False).head
    mark = s.service.marks([artifact.id])[artifact.id]
    assert mark.upstream == "https://mirror.example.com/mirror/library/app"
    assert mark.revalidated_at == s.clock.now
    assert s.service.counters.misses == 2
    assert s.service.counters.hits == 3


async def test_a_dead_upstream_leaves_the_cached_copy_served() -> None:
    s = Setup(revalidate=0)
    cached = s.publish("latest", b"layer")
    assert await s.pull_manifest("latest") == MISS
    s.upstream.down = True
    assert await s.pull_manifest("latest") == STALE
    assert s.stored("latest") == cached.digest
    with pytest.raises(UpstreamUnavailable, match="mirror"):
        await s.pull_manifest("never-pulled")
    assert s.service.counters.upstream_errors == 2


async def test_a_digest_is_never_revalidated_and_a_missing_one_is_unknown() -> None:
    s = Setup(revalidate=0)
    manifest = s.publish("latest", b"layer")
    assert await s.pull_manifest(manifest.digest) == MISS
    s.upstream.down = True
    s.clock.now += timedelta(days=30)
    assert await s.pull_manifest(manifest.digest) == HIT
    s.upstream.down = False
    with pytest.raises(ManifestNotFound):
        await s.pull_manifest("sha256:" + "0" * 64)
    with pytest.raises(ManifestNotFound):
        await s.pull_manifest("gone")


async def test_an_index_is_stored_before_its_children_which_come_on_demand() -> None:
    s = Setup()
    amd = s.publish("amd", b"amd64 layer", "amd")
    arm = s.publish("arm", b"arm64 layer", "arm")
    index_doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": m.media_type, "digest": m.digest, "size": len(m.body)} for m in (amd, arm)
        ],
    }
    body = json.dumps(index_doc).encode()
    s.upstream.put("library/app", "multi", Manifest(digest(body), mt.OCI_INDEX, body))
    assert await s.pull_manifest("multi") == MISS
    assert s.stored("multi") == digest(body)
    with pytest.raises(ManifestNotFound):
        s.stored(amd.digest)  # not fetched until asked for
    assert await s.pull_manifest(amd.digest) == MISS
    assert s.stored(amd.digest) == amd.digest


async def test_concurrent_pulls_of_a_blob_cause_one_fetch_and_all_get_every_byte() -> None:
    s = Setup()
    layer = bytes(range(256)) * 64
    s.publish("latest", layer)
    s.upstream.chunk = 1000
    wanted = digest(layer)
    got = await asyncio.gather(*(s.read(wanted) for _ in range(10)))
    assert all(g in (layer, b"stored") for g in got)
    assert got.count(layer) >= 1
    assert s.upstream.calls.count(f"GET blob {wanted}") == 1
    blob = await s.uploads.stat_blob(REPO, wanted)
    assert blob.size == len(layer)
    assert s.service.counters.fetched_bytes == len(layer)


async def test_a_blob_whose_bytes_are_wrong_is_never_stored() -> None:
    s = Setup()
    layer = b"the real layer"
    s.publish("latest", layer)
    s.upstream.blobs[digest(layer)] = b"something else"
    with pytest.raises(FlightFailed):
        await s.read(digest(layer))
    with pytest.raises(BlobNotFound):
        await s.uploads.stat_blob(REPO, digest(layer))


async def test_a_blob_upstream_lacks_is_unknown() -> None:
    s = Setup()
    with pytest.raises(BlobNotFound):
        await s.read("sha256:" + "1" * 64)
    with pytest.raises(BlobNotFound):
        await s.service.blob_size(s.cache, REPO, "sha256:" + "1" * 64)
    s.upstream.down = True
    with pytest.raises(UpstreamUnavailable):
        await s.read("sha256:" + "1" * 64)


async def test_a_protected_tag_stays_where_it_is() -> None:
    s = Setup(revalidate=0)
    first = s.publish("1.0", b"layer one")
    assert await s.pull_manifest("1.0") == MISS
    PolicyService(s.uow).add_protection(
        "cache", ProtectionSpec(Selector("**", include=True), Selector("**", include=True))
    )
    s.publish("1.0", b"layer two")
    assert await s.pull_manifest("1.0") == KEPT
    assert s.stored("1.0") == first.digest


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (UpstreamDraft("http://[::1"), "proxy_cache.url"),
        (UpstreamDraft("http://host:99999"), "proxy_cache.url"),
        (UpstreamDraft("http://ho st"), "proxy_cache.url"),
        (UpstreamDraft("http://host\x00"), "proxy_cache.url"),
        (UpstreamDraft("https://mirror.example.com?x=1"), "proxy_cache.url"),
        (UpstreamDraft("https://m.example.com", namespace="Library"), "proxy_cache.namespace"),
        (UpstreamDraft("https://m.example.com", namespace="a b"), "proxy_cache.namespace"),
        (UpstreamDraft("https://m.example.com", username="x\x00"), "proxy_cache.username"),
    ],
)
def test_drafts_a_client_can_send_are_refused_naming_the_field(
    draft: UpstreamDraft, field: str
) -> None:
    with pytest.raises(InvalidUpstream) as invalid:
        check_draft(draft)
    assert invalid.value.parameter == field


def test_a_draft_is_normalised() -> None:
    draft = check_draft(UpstreamDraft(" https://m.example.com/ ", "/library/x/", "  ", None))
    assert (draft.url, draft.namespace, draft.username) == (
        "https://m.example.com",
        "library/x",
        None,
    )


async def test_a_deleted_cached_artifact_is_fetched_again_on_the_next_pull() -> None:
    s = Setup()
    manifest = s.publish("latest", b"layer")
    assert await s.pull_manifest("latest") == MISS
    s.artifacts.delete_artifacts(REPO, ["latest"])  # as REST, the console or cleanup do
    with pytest.raises(ManifestNotFound):
        s.stored("latest")
    assert await s.pull_manifest("latest") == MISS
    assert s.stored("latest") == manifest.digest


async def test_each_image_fetches_a_blob_for_itself() -> None:
    s = Setup()
    layer = b"shared layer" * 100
    s.publish("latest", layer)
    RegistryService(s.uow, s.clock).create("other")
    other = s.service.attach("other", UpstreamDraft("https://elsewhere.example.com"))
    wanted = digest(layer)

    async def read(upstream: Upstream, repository: str) -> bytes:
        fetched = await s.service.fetch_blob(upstream, repository, wanted)
        assert fetched is not None
        return b"".join([chunk async for chunk in fetched.chunks])

    got = await asyncio.gather(read(s.cache, REPO), read(other, "other/library/app"))
    assert got == [layer, layer]
    assert s.upstream.calls.count(f"GET blob {wanted}") == 2  # one per registry's upstream
    for repository in (REPO, "other/library/app"):
        assert (await s.uploads.stat_blob(repository, wanted)).size == len(layer)


async def test_a_burst_of_first_pulls_of_a_tag_asks_upstream_once() -> None:
    s = Setup()
    manifest = s.publish("latest", b"layer")
    outcomes = await asyncio.gather(*(s.pull_manifest("latest") for _ in range(10)))
    assert sorted(set(outcomes)) == [HIT, MISS]
    assert outcomes.count(MISS) == 1
    assert s.upstream.calls == [
        "HEAD manifest library/app:latest",
        f"GET manifest library/app:{manifest.digest}",
    ]
    assert s.stored("latest") == manifest.digest
    by_digest = await asyncio.gather(*(s.pull_manifest(manifest.digest) for _ in range(5)))
    assert by_digest == [HIT] * 5


async def test_those_waiting_on_a_failed_refresh_fail_as_it_did() -> None:
    s = Setup()
    s.upstream.down = True
    outcomes = await asyncio.gather(
        *(s.pull_manifest("latest") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, UpstreamUnavailable) for o in outcomes)
    assert len(s.upstream.calls) == 1
    s.upstream.down = False
    s.publish("latest", b"layer")
    assert await s.pull_manifest("latest") == MISS  # nothing of the failure is kept
