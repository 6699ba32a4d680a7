"""Garbage collection runs (SPEC §11): start, schedule, history, and the run itself.

The blob lifecycle: live → marked (no artifact references it; `marked_at`) → deleting (the
sweeper's compare-and-set, once the grace window has passed and it is still unreferenced) →
gone (object deleted with the driver's batched `delete_many`, then row and image links).
Every path that makes a blob referenced or readable again (an upload finishing with it, a
mount, a manifest PUT) turns marked back to live by compare-and-set in its own transaction
(`BlobIndex.take_back`), and treats a deleting blob as unknown; see docs/operators.md.

A run, in order: finish deleting what a previous run left deleting (a run killed midway
resumes here), delete untagged manifests (if asked), mark, sweep, then the leftovers:
expired upload sessions, upload leftovers no session owns, and objects no row knows, each
older than the grace window. Every step is idempotent, so a run retried after its worker
died simply runs again. A dry run computes the same figures and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

import anyio

from moorage.domain.content.ports import BlobStore
from moorage.domain.content.uploads import UPLOAD_EXPIRY, UploadService
from moorage.domain.gc import rules
from moorage.domain.gc.errors import GcRunActive, GcRunNotFound
from moorage.domain.gc.model import (
    ACTIVE,
    CollectableBlob,
    GcCounts,
    GcRun,
    RunLog,
    RunStatus,
    StorageTotals,
    UnreferencedBlob,
    UntaggedManifest,
)
from moorage.domain.gc.ports import GcTx
from moorage.domain.jobs.specs import JobSpec
from moorage.domain.kernel.blocking import Blocking
from moorage.domain.kernel.clock import Clock, utcnow
from moorage.domain.kernel.errors import DomainError, InvalidInput
from moorage.domain.kernel.model import Page, PageRequest, Schedule
from moorage.domain.kernel.ports import UnitOfWork
from moorage.domain.policies.protection import check_artifact_delete
from moorage.domain.policies.schedules import parse_cron
from moorage.domain.policies.service import protection_for
from moorage.oci.digest import Digest

T = TypeVar("T")
log = logging.getLogger("moorage.gc")

GC_SCHEDULE = "gc"
"""The schedule kind of garbage collection; one per deployment (subject `DEPLOYMENT`)."""
DEPLOYMENT = "deployment"
JOB_TIMEOUT_SECONDS = 6 * 3600
GC_JOB = JobSpec(
    "gc_run",
    max_attempts=3,
    timeout_seconds=JOB_TIMEOUT_SECONDS,
    backoff_base_seconds=30,
    dedupe_on=(),  # one at a time
)
"""A queued run (payload: run_id); the handler is `GcService.run`."""
BATCH = 1000
UNTAGGED_PASSES = 10
"""Deleting an untagged index frees its children; passes repeat until nothing more goes."""
ORPHAN_LIMIT = 100_000
"""Objects without a row deleted per run at most (the rest wait for the next run)."""

Progress = Callable[[str, int], None]
"""(phase, items done so far in it): a line per phase for terminals."""


class GcService:
    def __init__(
        self,
        uow: UnitOfWork[GcTx],
        blobs: BlobStore,
        uploads: UploadService,
        clock: Clock = utcnow,
        *,
        grace_seconds: float = 7200.0,
        upload_expiry: timedelta = UPLOAD_EXPIRY,
        orphan_settle_seconds: float = 5.0,
        batch: int = BATCH,
        blocking: Blocking | None = None,
    ) -> None:
        self._uow = uow
        self._blocking = blocking or Blocking()
        self.blobs = blobs
        self.uploads = uploads
        self.clock = clock
        self.grace_seconds = grace_seconds
        self.upload_expiry = upload_expiry
        self.orphan_settle_seconds = orphan_settle_seconds
        self.batch = batch

    # starting -------------------------------------------------------------------------

    def start_run(
        self,
        *,
        dry_run: bool = False,
        delete_untagged: bool = False,
        trigger: str = "manual",
        enqueue: bool = True,
    ) -> GcRun:
        """Record a run and (unless the caller runs it itself) queue its job, in one
        transaction. Refused (GcRunActive, a Conflict) while another run is queued or running."""
        now = self.clock()
        with self._uow(write=True) as store:
            self._refuse_if_active(store, now)
            return self._create(store, trigger, dry_run, delete_untagged, enqueue, now)

    def _refuse_if_active(self, store: GcTx, now: datetime) -> None:
        """Refuse while a run is active; a run whose worker died long ago is closed."""
        for run in store.gc_runs.active_runs():
            if not rules.is_stale(run, now):
                raise GcRunActive(run.id, run.status)
            lines = [
                *run.log,
                f"{_stamp(now)} abandoned: no progress since {_stamp(run.updated_at)}",
            ]
            store.gc_runs.record_progress(run.id, run.counts, lines, now, RunStatus.FAILED)

    def _create(
        self,
        store: GcTx,
        trigger: str,
        dry_run: bool,
        delete_untagged: bool,
        enqueue: bool,
        now: datetime,
    ) -> GcRun:
        run = store.gc_runs.create_run(trigger, dry_run, delete_untagged, now)
        payload = {"run_id": run.id}
        if enqueue and GC_JOB.enqueue(store.jobs, payload, now) is None:
            # The queue's one-at-a-time key is taken. Look again (on PostgreSQL a fresh
            # snapshot, taken after the key's holder committed): a run another request just
            # started refuses this one. Otherwise the key belongs to the job of a run that
            # has ended (the runner closes a job just after its run records its end; or the
            # run was abandoned), which will not run again: queue this run's job without it.
            for other in store.gc_runs.active_runs():
                if other.id != run.id:
                    raise GcRunActive(other.id, other.status)
            store.jobs.enqueue_job(
                GC_JOB.kind, payload, now, dedupe_key=None, max_attempts=GC_JOB.max_attempts
            )
        return run

    def fire_schedule(self, store: GcTx, schedule: Schedule, now: datetime) -> None:
        """The scheduler's trigger: a real run (untagged manifests kept), unless one is on
        (then skipped, with a warning: the schedule is not a queue)."""
        try:
            self._refuse_if_active(store, now)
        except GcRunActive as exc:
            log.warning("scheduled garbage collection skipped: %s", exc)
            return
        run = store.gc_runs.create_run("schedule", False, False, now)
        if GC_JOB.enqueue(store.jobs, {"run_id": run.id}, now) is None:
            line = f"{_stamp(now)} skipped: a garbage-collection job is still queued or running"
            store.gc_runs.record_progress(run.id, run.counts, [line], now, RunStatus.FAILED)

    # history, schedule, figures -------------------------------------------------------

    def get_run(self, run_id: int) -> GcRun:
        with self._uow() as store:
            run = store.gc_runs.get_run(run_id)
        if run is None:
            raise GcRunNotFound(run_id)
        return run

    def list_runs(self, page: PageRequest) -> Page[GcRun]:
        """Runs newest first, or oldest first with `sort="created_at"`."""
        if page.sort not in (None, "created_at", "-created_at"):
            raise InvalidInput("sort must be created_at (with '-' for descending)")
        with self._uow() as store:
            if page.sort != "created_at":
                items, total = store.gc_runs.list_runs(page.offset, page.page_size)
                return Page(items, total)
            # Oldest first is the newest-first order read from its other end.
            _, total = store.gc_runs.list_runs(0, 1)
            start = max(total - page.offset - page.page_size, 0)
            count = max(min(page.page_size, total - page.offset), 0)
            items, total = store.gc_runs.list_runs(start, count) if count else ([], total)
        return Page(list(reversed(items)), total)

    def get_schedule(self) -> Schedule | None:
        with self._uow() as store:
            return store.schedules.get_schedule(GC_SCHEDULE, DEPLOYMENT)

    def set_schedule(self, cron: str | None) -> Schedule | None:
        """Set (validated 5-field cron, as cleanup schedules) or remove (None) the schedule."""
        parsed = parse_cron(cron) if cron is not None else None
        now = self.clock()
        with self._uow(write=True) as store:
            if parsed is None:
                store.schedules.delete_schedule(GC_SCHEDULE, DEPLOYMENT)
                return None
            return store.schedules.put_schedule(
                GC_SCHEDULE, DEPLOYMENT, str(parsed), parsed.next_after(now), now
            )

    def storage_totals(self) -> StorageTotals:
        """All blob bytes, those artifacts reference, and what GC would free (unreferenced)."""
        with self._uow() as store:
            return store.gc.storage_totals()

    # running --------------------------------------------------------------------------

    async def run(self, run_id: int, progress: Progress | None = None) -> GcRun:
        """Carry out a run (the job handler; the CLI runs it in its own process). A run
        retried after its worker died resumes; a finished one is left as it is."""
        now = self.clock()
        run = await self._db(lambda s: s.gc_runs.start_run(run_id, now), write=True)
        if run is None:
            return self.get_run(run_id)
        execution = _Execution(self, run, progress)
        try:
            await execution.carry_out()
        except Exception as exc:
            log.exception("garbage-collection run %d failed", run_id)
            execution.note(f"failed: {type(exc).__name__}: {exc}")
            await execution.save(RunStatus.FAILED)
            raise
        await execution.save(RunStatus.SUCCEEDED)
        return self.get_run(run_id)

    def abandon_run(self, run_id: int, reason: str) -> None:
        """Close as failed a run whose job was given up (its workers died, or it failed
        every attempt): otherwise it would show as running and hold back the next run."""
        now = self.clock()
        with self._uow(write=True) as store:
            run = store.gc_runs.get_run(run_id)
            if run is None or run.status not in ACTIVE:
                return
            lines = [*run.log, f"{_stamp(now)} failed: {reason}"]
            store.gc_runs.record_progress(run_id, run.counts, lines, now, RunStatus.FAILED)

    async def _db(self, fn: Callable[[GcTx], T], *, write: bool = False) -> T:
        def run() -> T:
            with self._uow(write=write) as store:
                return fn(store)

        return await self._blocking.run(run)


class _Execution:
    """One run being carried out: its counts and log, saved as it goes (the heartbeat)."""

    def __init__(self, service: GcService, run: GcRun, progress: Progress | None) -> None:
        self.db = service._db
        self.clock = service.clock
        self.blobs = service.blobs
        self.uploads = service.uploads
        self.grace = service.grace_seconds
        self.upload_expiry = service.upload_expiry
        self.orphan_settle = service.orphan_settle_seconds
        self.batch = service.batch
        self.run = run
        self.dry = run.dry_run
        self.counts = run.counts  # a resumed run adds to what it had done
        self.log = RunLog(list(run.log))
        self.progress = progress

    def note(self, line: str) -> None:
        self.log.add(f"{_stamp(self.clock())} {line}")

    def add(self, **counts: int) -> None:
        self.counts = self.counts.plus(GcCounts(**counts))

    async def save(self, status: str | None = None) -> None:
        lines = list(self.log.lines)
        if self.log.dropped:
            lines.append(f"... {self.log.dropped} more lines not kept")
        now = self.clock()
        await self.db(
            lambda tx: tx.gc_runs.record_progress(self.run.id, self.counts, lines, now, status),
            write=True,
        )

    def tell(self, phase: str, done: int) -> None:
        if self.progress is not None:
            self.progress(phase, done)

    async def carry_out(self) -> None:
        grace = self.grace
        self.note(
            f"{'dry run' if self.dry else 'run'} started: grace window {grace:g} s"
            f"{', deleting untagged manifests' if self.run.delete_untagged else ''}"
        )
        if not self.dry:
            await self.resume_deleting()
        if self.run.delete_untagged:
            await self.delete_untagged()
        await self.mark_and_sweep()
        await self.expire_uploads()
        await self.discard_upload_leftovers()
        await self.delete_orphans()
        c = self.counts
        verb = "would free" if self.dry else "freed"
        self.note(
            f"done: {c.blobs_deleted} blobs, {c.manifests_deleted} manifests, "
            f"{verb} {c.bytes_freed} bytes, {c.errors} errors"
        )

    # blobs ----------------------------------------------------------------------------

    async def resume_deleting(self) -> None:
        """Delete the objects of rows a previous run left deleting, then the rows."""
        tried: set[str] = set()
        resumed = 0
        while True:
            batch = await self.db(lambda tx: tx.gc.deleting_blobs(self.batch))
            batch = [b for b in batch if b.digest not in tried]
            if not batch:
                break
            tried.update(b.digest for b in batch)
            resumed += await self.delete_blobs(batch)
        if resumed:
            self.note(f"resumed: deleted {resumed} blobs an earlier run left deleting")
        self.tell("resume", resumed)

    async def delete_blobs(self, batch: Sequence[CollectableBlob]) -> int:
        """Objects first (batched, idempotent), then the rows still deleting."""
        keys = {self.blobs.key_for(Digest.parse(b.digest)): b for b in batch}
        failed = set(await self.blobs.delete_many(sorted(keys)))
        gone = [b for key, b in keys.items() if key not in failed]
        if failed:
            self.add(errors=len(failed))
            self.note(f"{len(failed)} objects could not be deleted (kept deleting, retried later)")
        await self.db(lambda tx: tx.gc.forget_blobs([b.digest for b in gone]), write=True)
        self.add(blobs_deleted=len(gone), bytes_freed=sum(b.size for b in gone))
        await self.save()
        return len(gone)

    async def mark_and_sweep(self) -> None:
        mark_time = self.clock()
        if self.dry:
            await self.dry_sweep(mark_time)
            return
        marked = await self.db(lambda tx: tx.gc.mark_unreferenced(mark_time), write=True)
        self.note(f"marked {marked} unreferenced blobs")
        self.tell("mark", marked)
        cutoff = rules.sweep_cutoff(self.clock(), self.grace)
        swept = 0
        while True:
            batch = await self.db(
                lambda tx: tx.gc.start_deleting(cutoff, self.batch),
                write=True,
            )
            if not batch:
                break
            swept += await self.delete_blobs(batch)
            self.tell("sweep", swept)
            if len(batch) < self.batch:
                break
        self.note(f"swept {swept} blobs marked before {_stamp(cutoff)}")
        self.tell("sweep", swept)

    async def dry_sweep(self, mark_time: datetime) -> None:
        cutoff = rules.sweep_cutoff(self.clock(), self.grace)
        after: str | None = None
        found = 0
        while True:
            page = await self.db(partial(_unreferenced, after=after, limit=self.batch))
            if not page:
                break
            for blob in page:
                if rules.would_collect(blob, mark_time, cutoff):
                    found += 1
                    self.add(blobs_deleted=1, bytes_freed=blob.size)
            after = page[-1].digest
        self.note(f"would delete {found} unreferenced blobs")
        self.tell("sweep", found)

    # manifests ------------------------------------------------------------------------

    async def delete_untagged(self) -> None:
        total = 0
        for _ in range(UNTAGGED_PASSES):
            deleted = await self.untagged_pass()
            total += deleted
            if self.dry or not deleted:
                break
        self.note(f"{'would delete' if self.dry else 'deleted'} {total} untagged manifests")
        self.tell("untagged", total)

    async def untagged_pass(self) -> int:
        after = 0
        deleted = 0
        while True:
            page = await self.db(partial(_untagged, after=after, limit=self.batch))
            if not page:
                return deleted
            for manifest in page:
                if self.dry or await self.db(
                    partial(_delete_untagged, manifest=manifest), write=True
                ):
                    deleted += 1
                    self.add(manifests_deleted=1)
                    if len(self.log.lines) < self.log.limit - 50:
                        self.note(f"manifest {manifest.repository}@{manifest.digest} deleted")
            after = page[-1].artifact_id
            await self.save()

    # leftovers ------------------------------------------------------------------------

    async def expire_uploads(self) -> None:
        if self.dry:
            return
        purged = await self.uploads.purge_expired(self.upload_expiry)
        if purged:
            self.note(f"discarded {purged} expired upload sessions")
        self.tell("uploads", purged)

    async def discard_upload_leftovers(self) -> None:
        cutoff = rules.sweep_cutoff(self.clock(), self.grace)
        states = await self.db(lambda tx: tx.gc.upload_states())
        owned = {self.blobs.upload_ref(state) for state in states}
        discarded = 0
        freed = 0
        async for leftover in self.blobs.upload_leftovers(cutoff):
            if leftover.ref in owned:
                continue
            if not self.dry:
                try:
                    await self.blobs.discard_leftover(leftover)
                except (OSError, DomainError) as exc:
                    self.add(errors=1)
                    self.note(f"upload leftover {leftover.ref} not discarded: {exc}")
                    continue
            discarded += 1
            freed += leftover.size or 0
        self.add(bytes_freed=freed)
        verb = "would discard" if self.dry else "discarded"
        self.note(f"{verb} {discarded} upload leftovers ({freed} bytes)")
        self.tell("leftovers", discarded)
        await self.save()

    async def delete_orphans(self) -> None:
        """Objects under blobs/ that no row knows, written before the grace window: a crash
        between committing an object and recording it. Checked twice, the second time after
        a pause, so an upload between its commit and its record is never taken for one."""
        cutoff = rules.sweep_cutoff(self.clock(), self.grace)
        candidates: dict[str, tuple[str, int]] = {}  # key -> (digest, size)
        pending: list[tuple[str, str, int]] = []
        async for obj in self.blobs.list_blobs():
            if not rules.is_old_enough(obj.modified, cutoff):
                continue
            digest = self.blobs.digest_of(obj.key)
            if digest is None:
                continue  # not a blob key: not ours to judge
            pending.append((obj.key, str(digest), obj.size))
            if len(pending) >= self.batch:
                candidates.update(await self.unknown(pending))
                pending = []
            if len(candidates) >= ORPHAN_LIMIT:
                break
        candidates.update(await self.unknown(pending))
        if candidates and not self.dry:
            await anyio.sleep(self.orphan_settle)
            still = await self.unknown([(k, d, n) for k, (d, n) in candidates.items()])
            failed = set(await self.blobs.delete_many(sorted(still))) if still else set()
            candidates = {k: v for k, v in still.items() if k not in failed}
            if failed:
                self.add(errors=len(failed))
        self.add(blobs_deleted=len(candidates), bytes_freed=sum(n for _, n in candidates.values()))
        verb = "would delete" if self.dry else "deleted"
        self.note(f"{verb} {len(candidates)} objects no blob row knows")
        self.tell("orphans", len(candidates))
        await self.save()

    async def unknown(self, objects: Sequence[tuple[str, str, int]]) -> dict[str, tuple[str, int]]:
        if not objects:
            return {}
        digests = [d for _, d, _ in objects]
        known = await self.db(lambda tx: tx.gc.known_digests(digests))
        return {key: (d, size) for key, d, size in objects if d not in known}


def _delete_untagged(store: GcTx, *, manifest: UntaggedManifest) -> bool:
    """In one transaction: lock the image (tag moves wait), check protection (an untagged
    artifact is never protected, but the rule is protection's to say) and that it is still
    untagged and unreferred, then delete it."""
    store.images.lock_image(manifest.image_id)
    name = manifest.repository.partition("/")[2]
    try:
        check_artifact_delete(protection_for(store, manifest.registry_id), name, [])
    except DomainError:
        return False
    return store.gc.delete_untagged_manifest(manifest.artifact_id)


def _unreferenced(store: GcTx, *, after: str | None, limit: int) -> list[UnreferencedBlob]:
    return store.gc.unreferenced_blobs(after, limit)


def _untagged(store: GcTx, *, after: int, limit: int) -> list[UntaggedManifest]:
    return store.gc.untagged_manifests(after, limit)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
