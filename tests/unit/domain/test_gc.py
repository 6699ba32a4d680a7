"""Garbage collection's rules on the in-memory fakes: mark, sweep and take-back, dry runs,
untagged manifests, leftovers and orphans, one run at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from moorage.domain.content.artifacts import ArtifactService
from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.content.registries import RegistryService
from moorage.domain.content.uploads import UploadService
from moorage.domain.gc.errors import GcRunActive
from moorage.domain.gc.fsck import Fsck
from moorage.domain.gc.model import GcRun
from moorage.domain.gc.service import GcService
from moorage.domain.kernel.errors import ManifestBlobUnknown
from moorage.domain.kernel.model import BlobStatus, PageRequest
from moorage.domain.policies.selectors import Selector
from moorage.domain.policies.service import PolicyService, ProtectionSpec
from moorage.oci.digest import Digest
from moorage.storage.memory import MemoryBlobStore
from tests.fakes.memory import migrated_memory_uow
from tests.unit.domain.test_services import (
    REPO,
    Env,
    FixedClock,
    image_manifest,
    index_manifest,
    push_blob,
    pushed_image,
    put,
    sha256,
    stream,
)

GRACE = 60.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Gc:
    env: Env
    service: GcService

    @property
    def blobs(self) -> MemoryBlobStore:
        return self.env.blobs

    async def run(self, *, dry_run: bool = False, delete_untagged: bool = False) -> GcRun:
        started = self.service.start_run(
            dry_run=dry_run, delete_untagged=delete_untagged, enqueue=False
        )
        return await self.service.run(started.id)

    def status(self, digest: str) -> BlobStatus | None:
        with self.env.uow() as store:
            return store.blobs.blob_status(digest)

    async def stored(self, digest: str) -> bool:
        return await self.blobs.stat(self.blobs.key_for(Digest.parse(digest))) is not None


@pytest.fixture
def gc() -> Gc:
    """Services over the fakes, the blob store on the same fixed clock (object times)."""
    uow = migrated_memory_uow()
    clock = FixedClock()
    blobs = MemoryBlobStore(clock)
    registries = RegistryService(uow, clock)
    registries.create("reg")
    uploads = UploadService(uow, blobs, clock)
    env = Env(uow, blobs, clock, ArtifactService(uow, clock), uploads, registries)
    service = GcService(uow, blobs, uploads, clock, grace_seconds=GRACE, orphan_settle_seconds=0)
    return Gc(env, service)


def later(clock: FixedClock, seconds: float = GRACE + 1) -> None:
    clock.advance(timedelta(seconds=seconds))


@pytest.mark.anyio
async def test_unreferenced_blobs_go_after_the_grace_window_and_shared_ones_stay(gc: Gc) -> None:
    env = gc.env
    keep = await pushed_image(env, "keep")
    drop = await pushed_image(env, "drop")
    put(env, "keep", keep)
    dropped = put(env, "drop", drop)
    env.artifacts.delete_manifest(REPO, dropped)
    layer = sha256(b"layer of drop")

    first = await gc.run()
    assert gc.status(layer) is BlobStatus.MARKED  # marked, not yet past the grace window
    assert first.counts.blobs_deleted == 0
    later(env.clock)
    second = await gc.run()
    assert second.counts.blobs_deleted == 2
    assert gc.status(layer) is None
    assert not await gc.stored(layer)
    assert await gc.stored(sha256(b"layer of keep"))
    assert gc.service.storage_totals().unreferenced_bytes == 0


@pytest.mark.anyio
async def test_a_dry_run_reports_and_frees_nothing(gc: Gc) -> None:
    env = gc.env
    await push_blob(env, b"loose")
    later(env.clock)  # a live blob would be marked now: not past the window
    dry = await gc.run(dry_run=True)
    assert dry.counts.blobs_deleted == 0
    assert gc.status(sha256(b"loose")) is BlobStatus.LIVE
    await gc.run()
    later(env.clock)
    dry = await gc.run(dry_run=True)
    assert dry.counts.blobs_deleted == 1
    assert dry.counts.bytes_freed == len(b"loose")
    assert gc.status(sha256(b"loose")) is BlobStatus.MARKED
    assert await gc.stored(sha256(b"loose"))


@pytest.mark.anyio
async def test_a_manifest_put_takes_a_marked_blob_back(gc: Gc) -> None:
    env = gc.env
    body = await pushed_image(env, "late")
    await gc.run()  # both blobs unreferenced: marked
    assert gc.status(sha256(b"layer of late")) is BlobStatus.MARKED
    put(env, "v1", body)
    assert gc.status(sha256(b"layer of late")) is BlobStatus.LIVE
    later(env.clock)
    run = await gc.run()
    assert run.counts.blobs_deleted == 0


@pytest.mark.anyio
async def test_upload_and_mount_take_back_and_a_deleting_blob_is_unknown(gc: Gc) -> None:
    env = gc.env
    env.registries.create("other")
    data = b"reused"
    await push_blob(env, data)
    await gc.run()
    await push_blob(env, data)  # the same content pushed again: live
    assert gc.status(sha256(data)) is BlobStatus.LIVE
    await gc.run()
    assert await env.uploads.mount("other/app", sha256(data), REPO) is not None
    assert gc.status(sha256(data)) is BlobStatus.LIVE
    # Caught deleting (the sweeper's compare-and-set won): unknown everywhere.
    await gc.run()
    later(env.clock)
    with env.uow(write=True) as store:
        store.gc.start_deleting(env.clock(), 10)
    assert await env.uploads.mount("other/new", sha256(data), REPO) is None
    with pytest.raises(ManifestBlobUnknown):
        put(env, "v1", image_manifest(data))
    with env.uow(write=True) as store, pytest.raises(BlobBeingCollected):
        store.blobs.add_blob(sha256(data), len(data), env.clock())


@pytest.mark.anyio
async def test_an_upload_onto_a_deleting_blob_waits_for_the_sweeper(
    gc: Gc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload commits only once the row is gone, so the sweeper cannot delete it."""
    env = gc.env
    monkeypatch.setattr("moorage.domain.content.uploads.COLLECTION_WAIT_SECONDS", 0)
    data = b"contested"
    await push_blob(env, data)
    await gc.run()
    later(env.clock)
    with env.uow(write=True) as store:
        [doomed] = store.gc.start_deleting(env.clock(), 10)
    with pytest.raises(BlobBeingCollected):  # the sweeper never finished: refused, retried
        await push_blob(env, data)
    await gc.run()  # resumes: object and row gone
    assert gc.status(doomed.digest) is None
    await push_blob(env, data)
    assert gc.status(doomed.digest) is BlobStatus.LIVE
    assert await gc.stored(doomed.digest)


@pytest.mark.anyio
async def test_delete_untagged_spares_tagged_index_children_and_live_referrers(gc: Gc) -> None:
    env = gc.env
    tagged = await pushed_image(env, "tagged")
    child = await pushed_image(env, "child")
    loose = await pushed_image(env, "loose")
    put(env, "v1", tagged)
    child_digest = put(env, sha256(child), child)
    put(env, "multi", index_manifest(child))
    await push_blob(env, b"{}")
    signature = image_manifest(b"{}", subject=tagged)
    put(env, sha256(signature), signature)
    loose_digest = put(env, sha256(loose), loose)
    # Every tag protected: protection is about tags, so the untagged one still goes.
    PolicyService(env.uow).add_protection(
        "reg", ProtectionSpec(Selector("**", include=True), Selector("**", include=True))
    )

    dry = await gc.run(dry_run=True, delete_untagged=True)
    assert dry.counts.manifests_deleted == 1
    run = await gc.run(delete_untagged=True)
    assert run.counts.manifests_deleted == 1
    with env.uow() as store:
        image = store.images.get_image("reg", "app")
        assert image is not None
        assert store.artifacts.get_artifact(image.id, loose_digest) is None
        assert store.artifacts.get_artifact(image.id, child_digest) is not None
        assert store.artifacts.get_artifact(image.id, sha256(signature)) is not None


@pytest.mark.anyio
async def test_leftovers_and_orphan_objects_older_than_the_window_go(gc: Gc) -> None:
    env = gc.env
    abandoned = await env.blobs.begin_upload()
    _, abandoned = await env.blobs.append(abandoned, stream(b"half a layer"))
    in_session = await env.uploads.start(REPO)
    orphan = Digest.of(b"orphan")
    state = await env.blobs.begin_upload()
    _, state = await env.blobs.append(state, stream(b"orphan"))
    await env.blobs.commit(state, env.blobs.key_for(orphan))  # committed, never recorded
    later(env.clock)
    fresh = await env.blobs.begin_upload()  # inside the window: kept
    run = await gc.run()
    everything = env.clock() + timedelta(days=1)
    refs = {lo.ref async for lo in env.blobs.upload_leftovers(everything)}
    assert env.blobs.upload_ref(abandoned) not in refs
    assert env.blobs.upload_ref(fresh) in refs
    with env.uow() as store:
        session = store.uploads.get_upload(in_session.id)
    assert session is not None
    assert env.blobs.upload_ref(session.driver_state) in refs  # a session owns it
    assert not await gc.stored(str(orphan))
    assert run.counts.blobs_deleted == 1


@pytest.mark.anyio
async def test_one_run_at_a_time_and_history(gc: Gc) -> None:
    first = gc.service.start_run(enqueue=True)
    with pytest.raises(GcRunActive, match=f"run {first.id}"):
        gc.service.start_run(dry_run=True)
    await gc.service.run(first.id)
    page = gc.service.list_runs(PageRequest(1, 10))
    assert [r.status for r in page.items] == ["succeeded"]
    assert gc.service.get_run(first.id).log[-1].endswith("0 errors")
    with gc.env.uow() as store:
        assert store.jobs.job_counts()  # the run was queued as a job
    stale = gc.service.start_run(enqueue=False)
    later(gc.env.clock, 3600)  # its worker died: no progress for an hour
    replacement = gc.service.start_run(enqueue=False)
    assert gc.service.get_run(stale.id).status == "failed"
    assert replacement.status == "queued"


@pytest.mark.anyio
async def test_a_run_whose_job_was_given_up_is_failed_and_the_next_one_starts(gc: Gc) -> None:
    run = gc.service.start_run(enqueue=False)
    gc.service.abandon_run(run.id, "too many attempts (the worker died during each)")
    closed = gc.service.get_run(run.id)
    assert closed.status == "failed"
    assert closed.log[-1].endswith("failed: too many attempts (the worker died during each)")
    assert gc.service.start_run(enqueue=False).status == "queued"  # not refused as active
    gc.service.abandon_run(run.id, "again")  # a finished run stays as it ended
    assert gc.service.get_run(run.id).log == closed.log


@pytest.mark.anyio
async def test_a_run_started_as_the_last_one_ends_is_queued_before_its_job_closes(gc: Gc) -> None:
    """A run records its end just before the job runner closes its job, which holds the
    queue's one-at-a-time key until then: a run started in between is queued, not refused."""
    first = gc.service.start_run()
    await gc.service.run(first.id)  # what the job's handler does; its job is still open
    second = gc.service.start_run()
    assert second.status == "queued"
    with gc.env.uow() as store:
        assert store.jobs.job_counts() == {"queued": 2}
    with pytest.raises(GcRunActive, match=f"run {second.id} is still queued"):
        gc.service.start_run()


@pytest.mark.anyio
async def test_schedule_is_one_per_deployment(gc: Gc) -> None:
    assert gc.service.get_schedule() is None
    gc.service.set_schedule("0 3 * * SUN")
    found = gc.service.get_schedule()
    assert found is not None
    assert found.cron == "0 3 * * SUN"
    gc.service.set_schedule(None)
    assert gc.service.get_schedule() is None


@pytest.mark.anyio
async def test_fsck_finds_missing_and_orphan_objects_and_repairs(gc: Gc) -> None:
    env = gc.env
    body = await pushed_image(env, "app")
    put(env, "v1", body)
    layer = sha256(b"layer of app")
    await env.blobs.delete(env.blobs.key_for(Digest.parse(layer)))
    fsck = Fsck(env.uow, env.blobs, env.clock, grace_seconds=GRACE)
    report = await fsck.check()
    assert [(f.kind, f.subject) for f in report.findings] == [("missing_object", layer)]
    repaired = await fsck.check(repair=True)
    assert all(f.repaired for f in repaired.findings if f.kind == "missing_object")
    after = await fsck.check()
    assert [f.kind for f in after.findings] == ["missing_blob"]  # quarantined: BLOB_UNKNOWN
