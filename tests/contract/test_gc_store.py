"""Contract of garbage collection's roles (`GcStore`, `GcRunStore`) and the take-back paths of
`BlobIndex`, on SQLite, PostgreSQL and the in-memory fakes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.gc.model import GcCounts
from moorage.domain.kernel.model import BlobStatus
from moorage.domain.ports import UnitOfWorkFactory
from tests.contract.backends import Database
from tests.contract.test_metadata import (
    T0,
    T1,
    T2,
    add_linked_blob,
    digest,
    manifest,
    new_image,
    push,
    upload_session,
)


@pytest.fixture
def uow(db: Database) -> UnitOfWorkFactory:
    return db.uow


def statuses(uow: UnitOfWorkFactory, *digests: str) -> list[BlobStatus | None]:
    with uow() as store:
        return [store.blobs.blob_status(d) for d in digests]


def test_mark_sweep_and_forget_an_unreferenced_blob(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        used = add_linked_blob(store, image, "used", 10)
        loose = add_linked_blob(store, image, "loose", 20)
        push(store, image, manifest("m", blobs=(used,)), "v1")
    with uow(write=True) as store:
        assert store.gc.mark_unreferenced(T1) == 1
        assert store.gc.mark_unreferenced(T2) == 0  # already marked: keeps its marked_at
        [found] = store.gc.unreferenced_blobs(None, 10)
        assert (found.digest, found.size, found.status, found.marked_at) == (
            loose,
            20,
            BlobStatus.MARKED,
            T1,
        )
        assert store.blobs.get_blob(loose) is not None  # marked is still served
    with uow(write=True) as store:
        assert store.gc.start_deleting(T1 - timedelta(seconds=1), 10) == []  # grace not over
        moved = store.gc.start_deleting(T1, 10)
        assert [(b.digest, b.size) for b in moved] == [(loose, 20)]
        assert store.gc.start_deleting(T2, 10) == []  # compare-and-set: moved once
        assert store.blobs.get_blob(loose) is None  # deleting is unknown to clients
        assert store.blobs.get_linked_blob(image.id, loose) is None
        assert [b.digest for b in store.gc.deleting_blobs(10)] == [loose]
    with uow(write=True) as store:
        assert store.gc.forget_blobs([loose, used]) == 1  # only rows still deleting
        assert store.gc.known_digests([loose, used]) == {used}
        assert set(store.blobs.linked_sizes(image.id, [used, loose])) == {used}


def test_take_back_turns_marked_to_live_and_never_a_deleting_one(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        a = add_linked_blob(store, image, "a", 1)
        b = add_linked_blob(store, image, "b", 2)
        store.gc.mark_unreferenced(T0)
        store.gc.start_deleting(T0, 10)
    assert statuses(uow, a, b) == [BlobStatus.DELETING, BlobStatus.DELETING]
    with uow(write=True) as store:
        c = add_linked_blob(store, image, "c", 3)
        store.gc.mark_unreferenced(T1)
        assert store.blobs.take_back([a, c, digest("unknown")]) == {c}
        assert store.gc.start_deleting(T2, 10) == []  # c is live again
    assert statuses(uow, a, c) == [BlobStatus.DELETING, BlobStatus.LIVE]


def test_add_blob_takes_back_a_marked_blob_and_refuses_a_deleting_one(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        marked = add_linked_blob(store, image, "marked", 5)
        doomed = add_linked_blob(store, image, "doomed", 6)
        store.gc.mark_unreferenced(T0)
        store.gc.start_deleting(T0, 10)
        store.blobs.take_back([])  # nothing asked, nothing done
    with uow(write=True) as store:
        c = add_linked_blob(store, image, "again", 7)
        store.gc.mark_unreferenced(T1)
        store.blobs.add_blob(c, 7, T2)
        assert store.blobs.blob_status(c) is BlobStatus.LIVE
    with pytest.raises(BlobBeingCollected), uow(write=True) as store:
        store.blobs.add_blob(doomed, 6, T2)
    assert statuses(uow, marked, doomed) == [BlobStatus.DELETING, BlobStatus.DELETING]


def test_a_referenced_blob_is_never_swept_even_if_marked_before(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        layer = add_linked_blob(store, image, "layer", 9)
        store.gc.mark_unreferenced(T0)
        push(store, image, manifest("late", blobs=(layer,)))  # referenced after marking
        assert store.gc.start_deleting(T2, 10) == []
        assert store.gc.unreferenced_blobs(None, 10) == []


def test_untagged_manifests_skip_tagged_index_children_and_live_referrers(
    uow: UnitOfWorkFactory,
) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        tagged = manifest("tagged")
        push(store, image, tagged, "v1")
        child = manifest("child")
        push(store, image, child)
        push(store, image, manifest("index", children=(child.digest,)), "multi")
        push(store, image, manifest("signature", subject=tagged.digest))
        orphan_ref = manifest("orphan-ref", subject=digest("gone"))
        orphan_ref_id = push(store, image, orphan_ref)
        loose = manifest("loose")
        loose_id = push(store, image, loose)
    with uow(write=True) as store:
        found = store.gc.untagged_manifests(0, 10)
        assert [(m.artifact_id, m.digest, m.repository) for m in found] == [
            (orphan_ref_id, orphan_ref.digest, "reg/app"),
            (loose_id, loose.digest, "reg/app"),
        ]
        assert store.gc.untagged_manifests(loose_id, 10) == []
        store.tags.put_tag(image.id, "late", loose_id, T1)  # tagged since it was listed
        assert store.gc.delete_untagged_manifest(loose_id) is False
        assert store.gc.delete_untagged_manifest(orphan_ref_id) is True
        assert store.artifacts.get_artifact(image.id, orphan_ref.digest) is None


def test_storage_totals_and_missing_references(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        used = add_linked_blob(store, image, "used", 100)
        add_linked_blob(store, image, "loose", 20)
        push(store, image, manifest("m", blobs=(used, digest("never-uploaded"))), "v1")
        store.blobs.quarantine_blob(used)
    with uow() as store:
        totals = store.gc.storage_totals()
        assert (totals.blobs, totals.stored_bytes, totals.referenced_bytes) == (2, 120, 100)
        assert (totals.unreferenced_blobs, totals.unreferenced_bytes) == (1, 20)
        missing = store.gc.missing_references(10)
        assert {(m.repository, m.blob_digest, m.blob_status) for m in missing} == {
            ("reg/app", used, BlobStatus.QUARANTINED),
            ("reg/app", digest("never-uploaded"), None),
        }
        assert [r.digest for r in store.gc.blob_rows(None, 10)] == sorted([used, digest("loose")])
        assert store.gc.dangling_tags(10) == []


def test_usage_counts_only_what_artifacts_reference(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        used = add_linked_blob(store, image, "used", 100)
        add_linked_blob(store, image, "pushed-but-unused", 5)
        push(store, image, manifest("m", blobs=(used,)), "v1")
        other = new_image(store, "reg", "other")
        store.blobs.link_blob(other.id, used, T0)
        push(store, other, manifest("n", blobs=(used,)), "v1")  # shared: counted once
    with uow() as store:
        [usage] = store.registries.list_registries()
        assert usage.stored_bytes == 100


def test_upload_states_name_every_session(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        image = new_image(store)
        store.uploads.create_upload(upload_session(image, "a" * 32, T0))
    with uow() as store:
        assert store.gc.upload_states() == [{"upload_id": "a" * 32, "size": 0}]


def test_runs_history(uow: UnitOfWorkFactory) -> None:
    with uow(write=True) as store:
        first = store.gc_runs.create_run("manual", True, False, T0)
        second = store.gc_runs.create_run("schedule", False, True, T1)
    assert (first.status, first.dry_run, first.counts, first.log) == (
        "queued",
        True,
        GcCounts(),
        [],
    )
    with uow(write=True) as store:
        assert [r.id for r in store.gc_runs.active_runs()] == [first.id, second.id]
        started = store.gc_runs.start_run(second.id, T1)
        assert started is not None
        assert (started.status, started.started_at) == ("running", T1)
        again = store.gc_runs.start_run(second.id, T2)  # resumed: keeps its start
        assert again is not None
        assert again.started_at == T1
        store.gc_runs.record_progress(second.id, GcCounts(1, 2, 3, 0), ["a", "b"], T2)
        store.gc_runs.record_progress(
            second.id, GcCounts(4, 2, 30, 1), ["a", "b", "c"], T2, "succeeded"
        )
        assert store.gc_runs.start_run(second.id, T2) is None
    with uow() as store:
        done = store.gc_runs.get_run(second.id)
        assert done is not None
        assert (done.status, done.counts, done.log, done.finished_at, done.delete_untagged) == (
            "succeeded",
            GcCounts(4, 2, 30, 1),
            ["a", "b", "c"],
            T2,
            True,
        )
        runs, total = store.gc_runs.list_runs(0, 1)
        assert total == 2
        assert [r.id for r in runs] == [second.id]
        assert [r.id for r in store.gc_runs.active_runs()] == [first.id]
        assert store.gc_runs.get_run(999) is None


def test_a_reference_committed_while_the_mark_waits_for_it_keeps_the_blob_live(
    db: Database,
) -> None:
    """A manifest PUT holds a share lock on the live blobs it references until its
    references commit; a mark waiting on that lock must then see them (on PostgreSQL's
    read committed, the waiting UPDATE re-checks the row but not its NOT EXISTS subquery)."""
    if db.backend != "postgresql":
        pytest.skip("only PostgreSQL runs the two transactions at once")
    uow = db.uow
    with uow(write=True) as store:
        image = new_image(store)
        blob = add_linked_blob(store, image, "referenced while marking", 5)
    marked: list[int] = []

    def mark() -> None:
        with uow(write=True) as store:
            marked.append(store.gc.mark_unreferenced(T1))

    marker = threading.Thread(target=mark)
    with uow(write=True) as store:  # what a manifest PUT does, in one transaction
        assert store.blobs.take_back([blob]) == {blob}
        push(store, image, manifest("m", blobs=(blob,)), "v1")
        marker.start()
        time.sleep(0.3)
        assert marker.is_alive(), "the mark did not wait for the manifest's share lock"
    marker.join(10)
    assert marked == [0]
    assert statuses(uow, blob) == [BlobStatus.LIVE]
