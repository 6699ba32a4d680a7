"""Contract of garbage collection's roles (`GcStore`, `GcRunStore`) and the take-back paths of
`BlobIndex`, on SQLite, PostgreSQL and the in-memory fakes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, text

from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.gc.model import GcCounts
from moorage.domain.kernel.model import BlobStatus, Image
from moorage.domain.ports import Transaction, UnitOfWorkFactory
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
from tests.support.databases import MigratedDatabase


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
    """A manifest PUT holds a lock on the blobs it references until its references commit;
    a mark waiting on that lock must then see them (on PostgreSQL's read committed, a
    statement that waited re-checks the row but not its NOT EXISTS subquery: the mark's
    UPDATE comes after the wait, with a snapshot of its own)."""
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


# --- lock order on PostgreSQL -------------------------------------------------------------
# Pushes and runs lock blob rows in digest order, each all it will lock before changing any,
# so PostgreSQL never has to break a cycle between them (a manifest PUT answered 503 busy
# when it did). These interleave transactions on two or three connections.

LOCKING = re.compile(r"\bFOR (UPDATE|NO KEY UPDATE|SHARE|KEY SHARE)\b")


class InTransaction(threading.Thread):
    """`work` in a write transaction of its own, in a thread: its result or error kept."""

    def __init__(self, uow: UnitOfWorkFactory, work: Callable[[Transaction], object]) -> None:
        super().__init__(daemon=True)
        self.uow = uow
        self.work = work
        self.result: object = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with self.uow(write=True) as store:
                self.result = self.work(store)
        except Exception as exc:
            self.error = exc

    def finish(self) -> object:
        self.join(15)
        assert not self.is_alive(), "a transaction never finished"
        if self.error is not None:
            raise self.error
        return self.result


class PauseAfterFirstLock:
    """Holds one thread's transaction just after its first statement that locks rows, until
    `resume`: what another transaction may do between two statements of a push."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread: threading.Thread | None = None
        self.reached = threading.Event()
        self.resumed = threading.Event()

    def __enter__(self) -> PauseAfterFirstLock:
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.resumed.set()
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _after(self, _conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        mine = threading.current_thread() is self.thread and not self.reached.is_set()
        if mine and LOCKING.search(statement):
            self.reached.set()
            self.resumed.wait(15)


def postgres(db: Database) -> MigratedDatabase:
    if not isinstance(db, MigratedDatabase) or db.backend != "postgresql":
        pytest.skip("only PostgreSQL runs the transactions at once")
    return db


def lock_waiters(db: MigratedDatabase) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"still not {what}"
        time.sleep(0.01)


def in_digest_order(*contents: str) -> list[str]:
    return sorted(contents, key=digest)


def referencing(image: Image, name: str, *blobs: str) -> Callable[[Transaction], object]:
    """What a manifest PUT does with its blobs: take them back, then reference them."""

    def work(store: Transaction) -> object:
        live = store.blobs.take_back(blobs)
        push(store, image, manifest(name, blobs=blobs), name)
        return live

    return work


def test_a_mark_locks_only_in_digest_order_while_manifests_are_deleted(db: Database) -> None:
    """The mark locks the unreferenced blobs in digest order and waits for a push holding
    one; a manifest deleted meanwhile leaves a smaller blob unreferenced, which a second
    push locks before it waits for the mark. The mark must not then lock that blob too (an
    UPDATE over every unreferenced row did): the two would wait on each other."""
    pg = postgres(db)
    uow = pg.uow
    with uow(write=True) as store:
        image = new_image(store)
        z, y, u = (add_linked_blob(store, image, c, 1) for c in in_digest_order("z", "y", "u"))
        old = push(store, image, manifest("old", blobs=(z,)), "old")
    with uow(write=True) as first_push:
        assert first_push.blobs.take_back([u]) == {u}
        mark = InTransaction(uow, lambda store: store.gc.mark_unreferenced(T1))
        mark.start()  # locks y, waits for u
        wait_until(lambda: lock_waiters(pg) == 1, "waiting for the first push")
        with uow(write=True) as store:
            store.artifacts.delete_artifact(old)  # z is unreferenced now
        second = InTransaction(uow, referencing(image, "new", z, y))
        second.start()  # locks z, waits for y
        wait_until(lambda: lock_waiters(pg) == 2, "waiting for the mark")
    assert mark.finish() == 2  # y and u: what it locked
    assert second.finish() == {z, y}
    assert statuses(uow, z, y, u) == [BlobStatus.LIVE, BlobStatus.LIVE, BlobStatus.MARKED]


def test_a_push_locks_its_blobs_before_a_mark_between_its_statements(db: Database) -> None:
    """A push locks every blob it names at once: none can be marked between its statements.
    (Locking the marked ones first and the live ones in a later statement let a mark
    commit in between; a second push then locked the newly marked smaller blob and waited
    for the first push's larger one, while the first went back for the smaller.)"""
    pg = postgres(db)
    uow = pg.uow
    with uow(write=True) as store:
        image = new_image(store)
        first, second = in_digest_order("x", "z")
        z = add_linked_blob(store, image, second, 1)
        store.gc.mark_unreferenced(T0)
        x = add_linked_blob(store, image, first, 1)
    with PauseAfterFirstLock(pg.engine) as pause:
        one = InTransaction(uow, referencing(image, "one", x, z))
        pause.thread = one
        one.start()
        assert pause.reached.wait(10)
        mark = InTransaction(uow, lambda store: store.gc.mark_unreferenced(T1))
        mark.start()
        wait_until(lambda: not mark.is_alive() or lock_waiters(pg) == 1, "marked or waiting")
        waiting = lock_waiters(pg)
        two = InTransaction(uow, referencing(image, "two", x, z))
        two.start()
        wait_until(lambda: not two.is_alive() or lock_waiters(pg) > waiting, "pushed or waiting")
        pause.resumed.set()
        assert one.finish() == {x, z}
        assert two.finish() == {x, z}
        assert mark.finish() == 0  # both blobs referenced once it could lock them
    assert statuses(uow, x, z) == [BlobStatus.LIVE, BlobStatus.LIVE]


def test_a_push_takes_back_a_blob_the_sweeper_waits_for(db: Database) -> None:
    """The sweeper waits for a push's share of a marked blob; the push then locks it to take
    it back without waiting behind the sweeper, and the sweeper finds it live."""
    pg = postgres(db)
    uow = pg.uow
    with uow(write=True) as store:
        image = new_image(store)
        blob = add_linked_blob(store, image, "marked", 1)
        store.gc.mark_unreferenced(T0)
    with PauseAfterFirstLock(pg.engine) as pause:
        pushing = InTransaction(uow, referencing(image, "m", blob))
        pause.thread = pushing
        pushing.start()
        assert pause.reached.wait(10)
        sweep = InTransaction(uow, lambda store: store.gc.start_deleting(T1, 10))
        sweep.start()
        wait_until(lambda: lock_waiters(pg) == 1, "sweeping, waiting for the push")
        pause.resumed.set()
        assert pushing.finish() == {blob}
        assert sweep.finish() == []
    assert statuses(uow, blob) == [BlobStatus.LIVE]
