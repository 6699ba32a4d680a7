"""Garbage collection's SQL: marking, sweeping and reference queries (`GcStore`), and the
history of runs (`GcRunStore`).

A blob is referenced while an `artifact_blob` row names it. The sweep moves blobs from
marked to deleting in one UPDATE whose WHERE re-checks the state, the grace window and the
absence of references, so a concurrent take-back (`metadata/blobs.py`) and the sweep cannot
both win a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, not_, or_, select, update

from moorage.domain.gc.model import (
    BlobRow,
    CollectableBlob,
    DanglingTag,
    GcCounts,
    GcRun,
    MissingReference,
    StorageTotals,
    UnreferencedBlob,
    UntaggedManifest,
)
from moorage.domain.gc.rules import progress_values
from moorage.domain.kernel.model import BlobStatus, DriverState
from moorage.metadata import tables as t
from moorage.metadata.sql import SERVED_BLOB, is_postgres, new_id

LIVE = BlobStatus.LIVE.value
MARKED = BlobStatus.MARKED.value
DELETING = BlobStatus.DELETING.value

UNREFERENCED = not_(exists().where(t.artifact_blob.c.digest == t.blob.c.digest))
MARK_BATCH = 1000
"""Blobs the mark locks and marks per statement on PostgreSQL (bind parameters stay few)."""


def _collectable(row: Any) -> CollectableBlob:
    return CollectableBlob(row.digest, int(row.size))


class SqlGcStore:
    """`GcStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def mark_unreferenced(self, now: datetime) -> int:
        mark = update(t.blob).values(status=MARKED, marked_at=now)
        if not is_postgres(self.conn):  # writers exclude one another: one statement
            result = self.conn.execute(mark.where(t.blob.c.status == LIVE, UNREFERENCED))
            return int(result.rowcount or 0)
        marked = 0
        after = ""
        while True:
            # Locked in digest order, as pushes lock the blobs they reference, batch after
            # batch upwards; the UPDATE changes only rows this transaction has locked. An
            # UPDATE over every unreferenced row would also lock the rows that became
            # unreferenced since (a manifest deleted meanwhile) out of that order, waiting on
            # a push that holds one of them and waits for a row locked here: a cycle.
            batch = list(
                self.conn.execute(
                    select(t.blob.c.digest)
                    .where(t.blob.c.status == LIVE, UNREFERENCED, t.blob.c.digest > after)
                    .order_by(t.blob.c.digest)
                    .limit(MARK_BATCH)
                    .with_for_update(of=t.blob)
                ).scalars()
            )
            if not batch:
                return marked
            # Its own snapshot, taken once the rows are locked (after any push holding one
            # committed): references committed meanwhile are seen, and no push can add one
            # until this transaction ends (take_back waits for these locks).
            result = self.conn.execute(
                mark.where(t.blob.c.digest.in_(batch), t.blob.c.status == LIVE, UNREFERENCED)
            )
            marked += int(result.rowcount or 0)
            if len(batch) < MARK_BATCH:
                return marked
            after = batch[-1]

    def start_deleting(self, cutoff: datetime, limit: int) -> list[CollectableBlob]:
        candidates = [
            row.digest
            for row in self.conn.execute(
                self._locked(
                    select(t.blob.c.digest)
                    .where(t.blob.c.status == MARKED, t.blob.c.marked_at <= cutoff, UNREFERENCED)
                    .order_by(t.blob.c.digest)
                    .limit(limit)
                )
            )
        ]
        if not candidates:
            return []
        # The compare-and-set: each condition again, in the UPDATE itself.
        self.conn.execute(
            update(t.blob)
            .where(
                t.blob.c.digest.in_(candidates),
                t.blob.c.status == MARKED,
                t.blob.c.marked_at <= cutoff,
                UNREFERENCED,
            )
            .values(status=DELETING)
        )
        rows = self.conn.execute(
            select(t.blob.c.digest, t.blob.c.size).where(
                t.blob.c.digest.in_(candidates), t.blob.c.status == DELETING
            )
        )
        return [_collectable(row) for row in rows]

    def _locked(self, query: Any) -> Any:
        """The query's rows, locked in its (digest) order on PostgreSQL."""
        return query.with_for_update(of=t.blob) if is_postgres(self.conn) else query

    def deleting_blobs(self, limit: int) -> list[CollectableBlob]:
        rows = self.conn.execute(
            select(t.blob.c.digest, t.blob.c.size)
            .where(t.blob.c.status == DELETING)
            .order_by(t.blob.c.digest)
            .limit(limit)
        )
        return [_collectable(row) for row in rows]

    def forget_blobs(self, digests: Sequence[str]) -> int:
        if not digests:
            return 0
        doomed = select(t.blob.c.digest).where(
            t.blob.c.digest.in_(list(digests)), t.blob.c.status == DELETING
        )
        self.conn.execute(delete(t.image_blob).where(t.image_blob.c.digest.in_(doomed)))
        result = self.conn.execute(
            delete(t.blob).where(t.blob.c.digest.in_(list(digests)), t.blob.c.status == DELETING)
        )
        return int(result.rowcount or 0)

    def unreferenced_blobs(self, after: str | None, limit: int) -> list[UnreferencedBlob]:
        query = (
            select(t.blob.c.digest, t.blob.c.size, t.blob.c.status, t.blob.c.marked_at)
            .where(t.blob.c.status.in_([LIVE, MARKED]), UNREFERENCED)
            .order_by(t.blob.c.digest)
            .limit(limit)
        )
        if after is not None:
            query = query.where(t.blob.c.digest > after)
        return [
            UnreferencedBlob(r.digest, int(r.size), BlobStatus(r.status), r.marked_at)
            for r in self.conn.execute(query)
        ]

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        if not digests:
            return set()
        rows = self.conn.execute(select(t.blob.c.digest).where(t.blob.c.digest.in_(list(digests))))
        return {row.digest for row in rows}

    def upload_states(self) -> list[DriverState]:
        return [row.driver_state for row in self.conn.execute(select(t.upload.c.driver_state))]

    def untagged_manifests(self, after_id: int, limit: int) -> list[UntaggedManifest]:
        rows = self.conn.execute(
            select(
                t.artifact.c.id,
                t.artifact.c.image_id,
                t.artifact.c.digest,
                t.image.c.registry_id,
                t.image.c.name.label("image"),
                t.registry.c.name.label("registry"),
            )
            .join(t.image, t.image.c.id == t.artifact.c.image_id)
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .where(t.artifact.c.id > after_id, _collectable_manifest(t.artifact))
            .order_by(t.artifact.c.id)
            .limit(limit)
        )
        return [
            UntaggedManifest(r.id, r.image_id, r.registry_id, f"{r.registry}/{r.image}", r.digest)
            for r in rows
        ]

    def delete_untagged_manifest(self, artifact_id: int) -> bool:
        still = select(t.artifact.c.id).where(
            t.artifact.c.id == artifact_id, _collectable_manifest(t.artifact)
        )
        if self.conn.execute(still).first() is None:
            return False
        for table in (t.tag, t.artifact_blob, t.artifact_child):
            self.conn.execute(delete(table).where(table.c.artifact_id == artifact_id))
        self.conn.execute(delete(t.artifact).where(t.artifact.c.id == artifact_id))
        return True

    def storage_totals(self) -> StorageTotals:
        all_rows = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(t.blob.c.size), 0))
        ).one()
        unreferenced = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(t.blob.c.size), 0)).where(
                t.blob.c.status.in_([LIVE, MARKED]), UNREFERENCED
            )
        ).one()
        referenced = select(t.artifact_blob.c.digest).distinct().subquery()
        referenced_bytes = self.conn.execute(
            select(func.coalesce(func.sum(t.blob.c.size), 0)).join(
                referenced, referenced.c.digest == t.blob.c.digest
            )
        ).scalar_one()
        return StorageTotals(
            blobs=int(all_rows[0]),
            stored_bytes=int(all_rows[1]),
            referenced_bytes=int(referenced_bytes),
            unreferenced_blobs=int(unreferenced[0]),
            unreferenced_bytes=int(unreferenced[1]),
        )

    def blob_rows(self, after: str | None, limit: int) -> list[BlobRow]:
        query = (
            select(t.blob.c.digest, t.blob.c.size, t.blob.c.status)
            .order_by(t.blob.c.digest)
            .limit(limit)
        )
        if after is not None:
            query = query.where(t.blob.c.digest > after)
        return [
            BlobRow(r.digest, int(r.size), BlobStatus(r.status)) for r in self.conn.execute(query)
        ]

    def missing_references(self, limit: int) -> list[MissingReference]:
        rows = self.conn.execute(
            select(
                t.registry.c.name.label("registry"),
                t.image.c.name.label("image"),
                t.artifact.c.digest.label("artifact"),
                t.artifact_blob.c.digest.label("blob"),
                t.blob.c.status,
            )
            .select_from(t.artifact_blob)
            .join(t.artifact, t.artifact.c.id == t.artifact_blob.c.artifact_id)
            .join(t.image, t.image.c.id == t.artifact.c.image_id)
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .outerjoin(t.blob, t.blob.c.digest == t.artifact_blob.c.digest)
            .outerjoin(t.cached_artifact, t.cached_artifact.c.artifact_id == t.artifact.c.id)
            .where(
                or_(
                    and_(t.blob.c.digest.is_(None), t.cached_artifact.c.artifact_id.is_(None)),
                    not_(SERVED_BLOB),
                )
            )
            .order_by(t.artifact.c.id, t.artifact_blob.c.digest)
            .limit(limit)
        )
        return [
            MissingReference(
                f"{r.registry}/{r.image}",
                r.artifact,
                r.blob,
                BlobStatus(r.status) if r.status is not None else None,
            )
            for r in rows
        ]

    def dangling_tags(self, limit: int) -> list[DanglingTag]:
        rows = self.conn.execute(
            select(
                t.registry.c.name.label("registry"),
                t.image.c.name.label("image"),
                t.tag.c.name.label("tag"),
                t.artifact.c.digest,
            )
            .select_from(t.tag)
            .join(t.image, t.image.c.id == t.tag.c.image_id)
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
            .where(t.artifact.c.image_id != t.tag.c.image_id)
            .order_by(t.tag.c.id)
            .limit(limit)
        )
        return [DanglingTag(f"{r.registry}/{r.image}", r.tag, r.digest) for r in rows]


def _collectable_manifest(artifact: Any) -> Any:
    """No tag; no index of its image lists it; not a referrer whose subject is in its image."""
    # Core aliases (not sqlalchemy.orm's `aliased`): the ORM is never imported.
    parent = t.artifact.alias()
    subject = t.artifact.alias()
    listed_by_index = exists().where(
        t.artifact_child.c.digest == artifact.c.digest,
        t.artifact_child.c.artifact_id == parent.c.id,
        parent.c.image_id == artifact.c.image_id,
    )
    subject_present = exists().where(
        subject.c.image_id == artifact.c.image_id,
        subject.c.digest == artifact.c.subject_digest,
    )
    return and_(
        not_(exists().where(t.tag.c.artifact_id == artifact.c.id)),
        not_(listed_by_index),
        or_(artifact.c.subject_digest.is_(None), not_(subject_present)),
    )


def _run(row: Any) -> GcRun:
    return GcRun(
        id=row.id,
        trigger=row.trigger,
        dry_run=row.dry_run,
        delete_untagged=row.delete_untagged,
        status=row.status,
        counts=GcCounts(
            int(row.blobs_deleted),
            int(row.manifests_deleted),
            int(row.bytes_freed),
            int(row.errors),
        ),
        log=list(row.log or []),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )


class SqlGcRunStore:
    """`GcRunStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_run(
        self, trigger: str, dry_run: bool, delete_untagged: bool, now: datetime
    ) -> GcRun:
        result = self.conn.execute(
            insert(t.gc_run).values(
                trigger=trigger,
                dry_run=dry_run,
                delete_untagged=delete_untagged,
                status="queued",
                blobs_deleted=0,
                manifests_deleted=0,
                bytes_freed=0,
                errors=0,
                log=[],
                created_at=now,
                updated_at=now,
            )
        )
        found = self.get_run(new_id(result))
        assert found is not None
        return found

    def get_run(self, run_id: int) -> GcRun | None:
        row = self.conn.execute(select(t.gc_run).where(t.gc_run.c.id == run_id)).first()
        return _run(row) if row else None

    def list_runs(self, offset: int, limit: int) -> tuple[list[GcRun], int]:
        total = self.conn.execute(select(func.count()).select_from(t.gc_run)).scalar_one()
        rows = self.conn.execute(
            select(t.gc_run).order_by(t.gc_run.c.id.desc()).offset(offset).limit(limit)
        )
        return [_run(row) for row in rows], int(total)

    def active_runs(self) -> list[GcRun]:
        rows = self.conn.execute(
            select(t.gc_run)
            .where(t.gc_run.c.status.in_(["queued", "running"]))
            .order_by(t.gc_run.c.id)
        )
        return [_run(row) for row in rows]

    def start_run(self, run_id: int, now: datetime) -> GcRun | None:
        result = self.conn.execute(
            update(t.gc_run)
            .where(t.gc_run.c.id == run_id, t.gc_run.c.status.in_(["queued", "running"]))
            .values(
                status="running",
                started_at=func.coalesce(t.gc_run.c.started_at, now),
                updated_at=now,
            )
        )
        return self.get_run(run_id) if result.rowcount else None

    def record_progress(
        self,
        run_id: int,
        counts: GcCounts,
        log: Sequence[str],
        now: datetime,
        status: str | None = None,
    ) -> None:
        values = progress_values(counts, log, now, status)
        self.conn.execute(update(t.gc_run).where(t.gc_run.c.id == run_id).values(**values))
