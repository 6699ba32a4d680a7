"""Domain services against the in-memory role fakes and blob store, on a fixed clock.

The fakes pass the same contract suites as the SQL stores (tests/contract), so these tests
need no database and import neither SQLAlchemy nor moorage.metadata.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from moorage.domain.content.artifacts import ArtifactService, PullRecorder
from moorage.domain.content.errors import InvalidRegistryName, InvalidTag
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import SMALL_BODY, UploadService
from moorage.domain.identity.users import ADMIN_USERNAME, UserService
from moorage.domain.kernel.errors import (
    BlobNotFound,
    Conflict,
    DigestMismatch,
    ImageNotFound,
    ManifestBlobUnknown,
    ManifestNotFound,
    RangeInvalid,
    RegistryNotFound,
    UploadBusy,
    UploadNotFound,
)
from moorage.domain.policies.runs import CleanupRunService
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.storage.layout import blob_key
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import MemoryUnitOfWork, migrated_memory_uow

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REPO = "reg/app"
HOUR = timedelta(hours=1)
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class FixedClock:
    """Stands still until a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FakeHasher:
    def hash(self, password: str) -> str:
        return f"hashed:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.hash(password)


@dataclass
class Env:
    uow: MemoryUnitOfWork
    blobs: MemoryBlobStore
    clock: FixedClock
    artifacts: ArtifactService
    uploads: UploadService
    registries: RegistryService

    def other_node(self) -> UploadService:
        """Another process on the same database and storage: it holds no live hashers."""
        return UploadService(self.uow, self.blobs, self.clock)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def env() -> Env:
    uow = migrated_memory_uow()
    clock, blobs = FixedClock(), MemoryBlobStore()
    registries = RegistryService(uow, clock)
    registries.create("reg")
    return Env(
        uow,
        blobs,
        clock,
        ArtifactService(uow, clock),
        UploadService(uow, blobs, clock),
        registries,
    )


# --- builders ------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return str(Digest.of(data))


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def push_blob(env: Env, data: bytes, repository: str = REPO) -> str:
    started = await env.uploads.start(repository)
    await env.uploads.finish(repository, started.id, sha256(data), stream(data))
    return sha256(data)


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image_manifest(
    config: bytes, *layers: bytes, subject: bytes | None = None, artifact_type: str | None = None
) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": descriptor(CONFIG_TYPE, config),
        "layers": [descriptor(LAYER_TYPE, layer) for layer in layers],
    }
    if subject is not None:
        doc["subject"] = descriptor(mt.OCI_MANIFEST, subject)
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    return json.dumps(doc).encode()


def index_manifest(*children: bytes) -> bytes:
    platform = {"os": "linux", "architecture": "amd64"}
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [descriptor(mt.OCI_MANIFEST, c, platform=platform) for c in children],
    }
    return json.dumps(doc).encode()


async def pushed_image(env: Env, name: str, repository: str = REPO) -> bytes:
    """Push a config and a layer unique to `name`; returns a manifest referencing them."""
    config = json.dumps({"name": name}).encode()
    layer = f"layer of {name}".encode()
    await push_blob(env, config, repository)
    await push_blob(env, layer, repository)
    return image_manifest(config, layer)


def put(env: Env, reference: str, body: bytes, repository: str = REPO) -> str:
    content_type = json.loads(body)["mediaType"]
    return env.artifacts.put_manifest(repository, reference, content_type, body).digest


# --- manifests: push, pull, delete ---------------------------------------------------------


@pytest.mark.anyio
async def test_push_then_pull_by_tag_and_by_digest(env: Env) -> None:
    body = await pushed_image(env, "one")
    pushed = put(env, "v1", body)
    assert pushed == sha256(body)
    by_tag = env.artifacts.get_manifest(REPO, "v1", with_body=True)
    by_digest = env.artifacts.get_manifest(REPO, pushed, with_body=True)
    head = env.artifacts.get_manifest(REPO, "v1", with_body=False)
    assert by_tag.body == by_digest.body == body
    assert head.body is None
    assert by_tag.head == by_digest.head == head.head
    assert (head.head.digest, head.head.media_type, head.head.size) == (
        pushed,
        mt.OCI_MANIFEST,
        len(body),
    )
    assert env.artifacts.catalog(None, 10, None) == [REPO]


@pytest.mark.anyio
async def test_push_into_a_missing_registry_says_to_create_it_first(env: Env) -> None:
    body = await pushed_image(env, "one")
    with pytest.raises(RegistryNotFound, match="create it first"):
        put(env, "v1", body, repository="missing/app")
    with pytest.raises(RegistryNotFound, match="create it first"):
        await env.uploads.start("missing/app")


@pytest.mark.anyio
async def test_manifest_referencing_a_blob_not_linked_to_the_image_is_refused(env: Env) -> None:
    body = await pushed_image(env, "one", repository="reg/elsewhere")
    with pytest.raises(ManifestBlobUnknown) as caught:
        put(env, "v1", body)  # the blobs exist, but only in reg/elsewhere
    config = json.loads(body)["config"]["digest"]
    layer = json.loads(body)["layers"][0]["digest"]
    assert caught.value.digest in {config, layer}
    with pytest.raises(ImageNotFound):
        env.artifacts.get_manifest(REPO, "v1", with_body=True)


@pytest.mark.anyio
async def test_index_with_a_missing_child_is_refused(env: Env) -> None:
    present = await pushed_image(env, "present")
    put(env, sha256(present), present)
    missing = await pushed_image(env, "missing")  # blobs pushed, manifest never
    with pytest.raises(ManifestBlobUnknown, match="manifest") as caught:
        put(env, "multi", index_manifest(present, missing))
    assert caught.value.digest == sha256(missing)
    with pytest.raises(ManifestNotFound):
        env.artifacts.get_manifest(REPO, "multi", with_body=False)


@pytest.mark.anyio
async def test_digest_reference_must_match_the_body(env: Env) -> None:
    body = await pushed_image(env, "one")
    other = sha256(b"something else")
    with pytest.raises(DigestMismatch):
        put(env, other, body)
    with pytest.raises(ManifestNotFound):
        env.artifacts.get_manifest(REPO, sha256(body), with_body=False)
    assert put(env, sha256(body), body) == sha256(body)  # by digest: stored, no tag
    assert env.artifacts.list_tags(REPO, None, None) == []


@pytest.mark.anyio
@pytest.mark.parametrize("tag", ["-leading-dash", ".dot", "a" * 129, "with/slash", "sp ace"])
async def test_bad_tags_are_refused(env: Env, tag: str) -> None:
    body = await pushed_image(env, "one")
    with pytest.raises(InvalidTag):
        put(env, tag, body)
    with pytest.raises(ManifestNotFound):  # no such tag can exist
        env.artifacts.get_manifest(REPO, tag, with_body=False)
    with pytest.raises(ManifestNotFound):
        env.artifacts.get_manifest(REPO, sha256(body), with_body=False)


@pytest.mark.anyio
async def test_a_tag_moves_to_the_newest_push(env: Env) -> None:
    first = await pushed_image(env, "first")
    second = await pushed_image(env, "second")
    put(env, "latest", first)
    env.clock.advance(timedelta(minutes=1))
    put(env, "latest", second)
    assert env.artifacts.get_manifest(REPO, "latest", with_body=True).body == second
    assert env.artifacts.get_manifest(REPO, sha256(first), with_body=True).body == first
    assert env.artifacts.list_tags(REPO, None, None) == ["latest"]
    with env.uow() as store:
        image = store.images.get_image("reg", "app")
        assert image is not None
        tag = store.tags.get_tag(image.id, "latest")
    assert tag is not None
    assert (tag.digest, tag.pushed_at) == (sha256(second), T0 + timedelta(minutes=1))


@pytest.mark.anyio
async def test_deleting_by_tag_keeps_the_artifact_and_by_digest_removes_its_tags(
    env: Env,
) -> None:
    body = await pushed_image(env, "one")
    put(env, "v1", body)
    put(env, "v2", body)
    env.artifacts.delete_manifest(REPO, "v1")
    assert env.artifacts.list_tags(REPO, None, None) == ["v2"]
    with pytest.raises(ManifestNotFound):
        env.artifacts.delete_manifest(REPO, "v1")
    env.artifacts.delete_manifest(REPO, sha256(body))
    assert env.artifacts.list_tags(REPO, None, None) == []
    with pytest.raises(ManifestNotFound):
        env.artifacts.get_manifest(REPO, sha256(body), with_body=True)
    assert env.artifacts.catalog(None, 10, None) == []


@pytest.mark.anyio
async def test_a_child_of_an_index_cannot_be_deleted_before_the_index(env: Env) -> None:
    child = await pushed_image(env, "child")
    put(env, sha256(child), child)
    index = index_manifest(child)
    put(env, "multi", index)
    with pytest.raises(Conflict, match=sha256(index)):
        env.artifacts.delete_manifest(REPO, sha256(child))
    env.artifacts.delete_manifest(REPO, sha256(index))
    env.artifacts.delete_manifest(REPO, sha256(child))
    with pytest.raises(ManifestNotFound):
        env.artifacts.get_manifest(REPO, sha256(child), with_body=False)


@pytest.mark.anyio
async def test_referrers_are_listed_and_filtered(env: Env) -> None:
    subject = await pushed_image(env, "subject")
    put(env, "v1", subject)
    empty = b"{}"
    await push_blob(env, empty)
    signature = image_manifest(empty, subject=subject, artifact_type="application/x-signature")
    sbom = image_manifest(empty, b"", subject=subject, artifact_type="application/x-sbom")
    await push_blob(env, b"")
    put(env, sha256(signature), signature)
    put(env, sha256(sbom), sbom)
    found = env.artifacts.referrers(REPO, sha256(subject), None)
    assert {r.digest for r in found} == {sha256(signature), sha256(sbom)}
    only = env.artifacts.referrers(REPO, sha256(subject), "application/x-sbom")
    assert [(r.digest, r.artifact_type) for r in only] == [(sha256(sbom), "application/x-sbom")]


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_mount_only_from_an_image_where_the_blob_is_linked(env: Env) -> None:
    data = b"shared layer"
    digest = await push_blob(env, data, "reg/source")
    await push_blob(env, b"unrelated", "reg/bystander")
    assert await env.uploads.mount("reg/target", digest, "reg/bystander") is None
    assert await env.uploads.mount("reg/target", digest, "reg/no-such-image") is None
    assert await env.uploads.mount("reg/target", digest, "not a repository") is None
    assert await env.uploads.mount("reg/target", digest, None) is None
    with pytest.raises(BlobNotFound):
        await env.uploads.stat_blob("reg/target", digest)
    mounted = await env.uploads.mount("reg/target", digest, "reg/source")
    assert mounted is not None
    assert (mounted.digest, mounted.size) == (digest, len(data))
    assert (await env.uploads.stat_blob("reg/target", digest)).size == len(data)


@pytest.mark.anyio
async def test_an_upload_whose_digest_mismatches_leaves_nothing(env: Env) -> None:
    data = b"the real content"
    wrong = sha256(b"what the client claimed")
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(data))
    with env.uow() as store:
        session = store.uploads.get_upload(started.id)
    assert session is not None
    with pytest.raises(DigestMismatch):
        await env.uploads.finish(REPO, started.id, wrong, None)
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, started.id)
    for digest in (wrong, sha256(data)):
        with pytest.raises(BlobNotFound):
            await env.uploads.stat_blob(REPO, digest)
        assert await env.blobs.stat(blob_key(Digest.parse(digest))) is None
        with env.uow() as store:
            assert store.blobs.get_blob(digest) is None
    assert [key async for key in env.blobs.walk("blobs")] == []
    with env.uow() as store:
        assert store.uploads.get_upload(started.id) is None
    with pytest.raises(Exception, match="does not exist"):
        await env.blobs.append(session.driver_state, stream(b"more"))  # aborted in storage


@pytest.mark.anyio
async def test_a_multi_append_upload_is_verified(env: Env) -> None:
    parts = [b"first part, ", b"second part, ", b"third part"]
    data = b"".join(parts)
    started = await env.uploads.start(REPO)
    offset = 0
    for part in parts:
        status = await env.uploads.append(REPO, started.id, stream(part), start=offset)
        offset += len(part)
        assert status.size == offset
    with pytest.raises(RangeInvalid):
        await env.uploads.append(REPO, started.id, stream(b"x"), start=3)
    assert (await env.uploads.status(REPO, started.id)).size == len(data)
    blob = await env.uploads.finish(REPO, started.id, sha256(data), None)
    assert (blob.digest, blob.size) == (sha256(data), len(data))
    stored = b"".join([c async for c in env.blobs.read(blob_key(Digest.parse(blob.digest)))])
    assert stored == data
    assert (await env.uploads.stat_blob(REPO, sha256(data))).size == len(data)


class CountingUow:
    """The unit of work, counting the transactions opened through it (reads and writes)."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow
        self.opened: list[str] = []

    def __call__(self, *, write: bool = False, wait: bool = True) -> Any:
        self.opened.append("write" if write else "read")
        return self.uow(write=write, wait=wait)


@pytest.mark.anyio
async def test_a_chunk_finds_and_claims_its_upload_in_one_write(env: Env) -> None:
    counting = CountingUow(env.uow)
    uploads = UploadService(counting, env.blobs, env.clock)  # type: ignore[arg-type]
    started = await uploads.start(REPO)
    counting.opened.clear()
    await uploads.append(REPO, started.id, stream(b"a chunk"), start=0)
    assert counting.opened == ["write", "write"]  # found and claimed, then released
    counting.opened.clear()
    await uploads.finish(REPO, started.id, sha256(b"a chunk"), None)
    assert counting.opened[0] == "write"  # the closing PUT: found and claimed at once


@pytest.mark.anyio
async def test_a_chunk_to_an_upload_another_request_holds_is_refused(env: Env) -> None:
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"held "), start=0)
    now = env.clock()
    with env.uow(write=True) as store:
        assert store.uploads.claim_upload(started.id, 5, "another", now, now - timedelta(1))
    with pytest.raises(UploadBusy):
        await env.uploads.append(REPO, started.id, stream(b"more"), start=5)
    with env.uow(write=True) as store:  # the other request's claim is untouched
        assert store.uploads.release_upload(started.id, "another", None, None, now)
    status = await env.uploads.append(REPO, started.id, stream(b"more"), start=5)
    assert status.size == 9


@pytest.mark.anyio
async def test_a_chunk_out_of_order_leaves_the_upload_unclaimed(env: Env) -> None:
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"first "), start=0)
    with pytest.raises(RangeInvalid):
        await env.uploads.append(REPO, started.id, stream(b"late"), start=2)
    with env.uow() as store:
        session = store.uploads.get_upload(started.id)
    assert session is not None
    assert (session.size, session.writer) == (6, None)


@pytest.mark.anyio
async def test_a_multi_append_upload_with_a_wrong_digest_is_refused(env: Env) -> None:
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"one "))
    await env.uploads.append(REPO, started.id, stream(b"two"))
    with pytest.raises(DigestMismatch):
        await env.uploads.finish(REPO, started.id, sha256(b"one two!"), None)


@pytest.mark.anyio
async def test_an_upload_finished_on_another_node_is_verified_by_rereading(env: Env) -> None:
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"written here, "))
    node = env.other_node()
    await node.append(REPO, started.id, stream(b"more there"))
    data = b"written here, more there."
    blob = await node.finish(REPO, started.id, sha256(data), stream(b"."))
    assert (blob.digest, blob.size) == (sha256(data), len(data))
    assert (await env.uploads.stat_blob(REPO, blob.digest)).size == len(data)
    stored = b"".join([c async for c in env.blobs.read(blob_key(Digest.parse(blob.digest)))])
    assert stored == data


@pytest.mark.anyio
async def test_another_node_refuses_a_wrong_digest_after_rereading(env: Env) -> None:
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"some bytes"))
    node = env.other_node()
    with pytest.raises(DigestMismatch):
        await node.finish(REPO, started.id, sha256(b"other bytes"), None)
    with pytest.raises(BlobNotFound):
        await env.uploads.stat_blob(REPO, sha256(b"other bytes"))
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, started.id)


@pytest.mark.anyio
async def test_a_finish_in_one_request_and_a_cancel(env: Env) -> None:
    data = b"monolithic"
    digest = await push_blob(env, data)
    assert (await env.uploads.stat_blob(REPO, digest)).size == len(data)
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(b"abandoned"))
    await env.uploads.cancel(REPO, started.id)
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, started.id)
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, "not-an-upload-id")
    elsewhere = await env.uploads.start("reg/other")
    with pytest.raises(UploadNotFound):  # an upload belongs to the image it was started in
        await env.uploads.append(REPO, elsewhere.id, stream(b"x"))


class CountingBlobStore(MemoryBlobStore):
    """Counts the uploads begun and the blobs stored in one step."""

    def __init__(self) -> None:
        super().__init__()
        self.begun = 0
        self.puts = 0

    async def begin_upload(self) -> dict[str, Any]:
        self.begun += 1
        return await super().begin_upload()

    async def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        await super().put(key, data)


@pytest.mark.anyio
@pytest.mark.parametrize("size", [0, 10, SMALL_BODY, SMALL_BODY + 1, 3 * SMALL_BODY])
async def test_a_whole_blob_is_stored_in_one_step_when_small(env: Env, size: int) -> None:
    """POST + PUT and POST ?digest=: up to SMALL_BODY bytes the blob is stored at once
    (`put`, no upload); a larger one, however its body is cut, goes through an upload."""
    blobs = CountingBlobStore()
    uploads = UploadService(env.uow, blobs, env.clock)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    cuts = [data[start : start + 1000] for start in range(0, size, 1000)]
    started = await uploads.start(REPO)
    begun = blobs.begun
    blob = await uploads.finish(REPO, started.id, sha256(data), stream(*cuts))
    whole = await uploads.upload_whole("reg/other", sha256(data + b"!"), stream(*cuts, b"!"))

    small = size + 1 <= SMALL_BODY
    assert blobs.puts == (size <= SMALL_BODY) + small
    assert blobs.begun - begun == (size > SMALL_BODY) + (not small)
    for found, content in ((blob, data), (whole, data + b"!")):
        stored = b"".join([c async for c in blobs.read(blob_key(Digest.parse(found.digest)))])
        assert (found.size, stored) == (len(content), content)
    with pytest.raises(UploadNotFound):
        await uploads.status(REPO, started.id)
    assert [leftover async for leftover in blobs.upload_leftovers(env.clock() + HOUR)] == []


@pytest.mark.anyio
@pytest.mark.parametrize("size", [10, 3 * SMALL_BODY])
async def test_a_whole_blob_with_a_wrong_digest_leaves_nothing(env: Env, size: int) -> None:
    data = b"x" * size
    started = await env.uploads.start(REPO)
    with pytest.raises(DigestMismatch):
        await env.uploads.finish(REPO, started.id, sha256(b"other"), stream(data))
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, started.id)
    with pytest.raises(DigestMismatch):
        await env.uploads.upload_whole(REPO, sha256(b"other"), stream(data))
    assert [key async for key in env.blobs.walk("blobs")] == []
    leftovers = env.blobs.upload_leftovers(env.clock() + HOUR)
    assert [leftover async for leftover in leftovers] == []


@pytest.mark.anyio
async def test_a_sha512_digest_is_verified_by_rereading(env: Env) -> None:
    data = b"hashed with sha512"
    started = await env.uploads.start(REPO)
    await env.uploads.append(REPO, started.id, stream(data))
    wrong = str(Digest.of(b"other", "sha512"))
    with pytest.raises(DigestMismatch):
        await env.uploads.finish(REPO, started.id, wrong, None)
    started = await env.uploads.start(REPO)
    digest = str(Digest.of(data, "sha512"))
    blob = await env.uploads.finish(REPO, started.id, digest, stream(data))
    assert (blob.digest, blob.size) == (digest, len(data))
    assert await env.blobs.stat(blob_key(Digest.parse(digest))) is not None


@pytest.mark.anyio
async def test_expired_uploads_are_purged(env: Env) -> None:
    old = await env.uploads.start(REPO)
    env.clock.advance(timedelta(hours=20))
    fresh = await env.uploads.start(REPO)
    env.clock.advance(timedelta(hours=5))
    assert await env.uploads.purge_expired() == 1
    with pytest.raises(UploadNotFound):
        await env.uploads.status(REPO, old.id)
    assert (await env.uploads.status(REPO, fresh.id)).size == 0


@pytest.mark.anyio
async def test_deleting_a_blob_unlinks_it_from_the_image(env: Env) -> None:
    digest = await push_blob(env, b"layer", "reg/one")
    await push_blob(env, b"layer", "reg/two")
    await env.uploads.delete_blob("reg/one", digest)
    with pytest.raises(BlobNotFound):
        await env.uploads.stat_blob("reg/one", digest)
    assert (await env.uploads.stat_blob("reg/two", digest)).size == len(b"layer")
    with pytest.raises(BlobNotFound):
        await env.uploads.delete_blob("reg/one", digest)


# --- registries ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_registry_names_are_checked_and_unique(env: Env) -> None:
    with pytest.raises(InvalidRegistryName):
        env.registries.create("Bad_Name-")
    with pytest.raises(Conflict):
        env.registries.create("reg")
    created = env.registries.create("team")
    assert (created.name, created.created_at) == ("team", T0)
    assert [u.registry.name for u in env.registries.list()] == ["reg", "team"]


@pytest.mark.anyio
async def test_deleting_a_registry_with_images_needs_force(env: Env) -> None:
    body = await pushed_image(env, "one")
    put(env, "v1", body)
    usage = env.registries.get("reg")
    doc = json.loads(body)
    assert usage.image_count == 1
    assert usage.stored_bytes == doc["config"]["size"] + doc["layers"][0]["size"]
    with pytest.raises(Conflict, match="force"):
        env.registries.delete("reg")
    env.registries.delete("reg", force=True)
    with pytest.raises(RegistryNotFound):
        env.registries.get("reg")
    with pytest.raises(RegistryNotFound):
        env.artifacts.get_manifest(REPO, "v1", with_body=False)
    env.registries.create("empty")
    env.registries.delete("empty")  # no images: no force needed
    with pytest.raises(RegistryNotFound):
        env.registries.delete("empty")


# --- pulls and users -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_pull_recorder_writes_pulls_in_batches(env: Env) -> None:
    body = await pushed_image(env, "one")
    put(env, "v1", body)
    fetched = env.artifacts.get_manifest(REPO, "v1", with_body=False)
    recorder = PullRecorder(env.uow, env.clock)
    assert recorder.flush() == 0
    recorder.record(fetched.image_id, fetched.head.id, "v1")
    env.clock.advance(timedelta(seconds=30))
    recorder.record(fetched.image_id, fetched.head.id, "v1")  # same key: the latest wins
    env.clock.advance(timedelta(seconds=30))
    recorder.record(fetched.image_id, fetched.head.id, None)  # by digest
    with env.uow() as store:
        tag = store.tags.get_tag(fetched.image_id, "v1")
        assert tag is not None
        assert tag.pulled_at is None  # nothing is written until the batch is flushed
    assert recorder.flush() == 2
    assert recorder.flush() == 0
    with env.uow() as store:
        tag = store.tags.get_tag(fetched.image_id, "v1")
        artifact = store.artifacts.get_artifact(fetched.image_id, fetched.head.digest)
    assert tag is not None
    assert artifact is not None
    assert tag.pulled_at == T0 + timedelta(seconds=30)
    assert artifact.pulled_at == T0 + timedelta(minutes=1)


@pytest.fixture
def users(env: Env) -> UserService:
    return UserService(env.uow, FakeHasher(), env.clock)


def test_first_admin_with_a_chosen_password(users: UserService) -> None:
    first = users.ensure_first_admin("s3cret-password")
    assert first is not None
    assert first.generated_password is None
    assert (first.user.username, first.user.is_admin, first.user.password_hash) == (
        ADMIN_USERNAME,
        True,
        "hashed:s3cret-password",
    )
    assert users.ensure_first_admin("another") is None


def test_first_admin_with_a_generated_password(env: Env, users: UserService) -> None:
    first = users.ensure_first_admin(None)
    assert first is not None
    assert first.generated_password
    assert FakeHasher().verify(first.user.password_hash, first.generated_password)
    with env.uow() as store:
        assert store.users.count_users() == 1
        assert store.users.get_user(ADMIN_USERNAME) == first.user


@pytest.mark.anyio
async def test_the_artifact_pull_time_is_its_latest_pull_within_a_batch(env: Env) -> None:
    body = await pushed_image(env, "one")
    put(env, "v1", body)
    fetched = env.artifacts.get_manifest(REPO, "v1", with_body=False)
    recorder = PullRecorder(env.uow, env.clock)
    recorder.record(fetched.image_id, fetched.head.id, None)  # by digest at T0
    env.clock.advance(timedelta(seconds=10))
    recorder.record(fetched.image_id, fetched.head.id, "v1")  # by tag at T0+10s
    env.clock.advance(timedelta(seconds=10))
    recorder.record(fetched.image_id, fetched.head.id, None)  # by digest again at T0+20s
    recorder.flush()
    with env.uow() as store:
        artifact = store.artifacts.get_artifact(fetched.image_id, fetched.head.digest)
        tag = store.tags.get_tag(fetched.image_id, "v1")
    assert tag is not None
    assert tag.pulled_at == T0 + timedelta(seconds=10)
    assert artifact is not None
    assert artifact.pulled_at == T0 + timedelta(seconds=20)


# --- cleanup runs ----------------------------------------------------------------------------


def test_a_second_real_cleanup_run_waits_for_the_first(env: Env) -> None:
    runs = CleanupRunService(env.uow, env.artifacts, env.clock)
    first = runs.start("reg", dry_run=False)
    with pytest.raises(Conflict, match=f"cleanup run {first.id} of 'reg' is still queued"):
        runs.start("reg", dry_run=False)
    assert runs.start("reg", dry_run=True).dry_run  # test runs delete nothing: always allowed
    assert runs.run(first.id).status == "succeeded"
    assert runs.start("reg", dry_run=False).id > first.id


def test_a_cleanup_run_whose_job_was_given_up_is_failed_and_frees_the_next(env: Env) -> None:
    runs = CleanupRunService(env.uow, env.artifacts, env.clock)
    first = runs.start("reg", dry_run=False)
    runs.abandon(first.id, "too many attempts (the worker died during each)")
    closed = runs.detail("reg", first.id).execution
    assert (closed.status, closed.error) == (
        "failed",
        "too many attempts (the worker died during each)",
    )
    assert runs.start("reg", dry_run=False).id > first.id


@pytest.mark.anyio
async def test_a_manifest_parsed_by_the_caller_is_not_parsed_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moorage.domain.content import artifacts

    body = await pushed_image(env, "parsed once")
    parsed = artifacts.parse_manifest(body, mt.OCI_MANIFEST)

    def parse_again(body: bytes, content_type: str) -> object:
        raise AssertionError("put_manifest parsed the manifest a second time")

    monkeypatch.setattr(artifacts, "parse_manifest", parse_again)
    pushed = env.artifacts.put_manifest(REPO, "v1", mt.OCI_MANIFEST, body, parsed=parsed)
    assert pushed.digest == sha256(body)
