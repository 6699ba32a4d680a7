"""Which blobs exist, their state, and which image may read which blob: `BlobIndex`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, exists, insert, select, update

from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import Blob, BlobStatus
from moorage.metadata import tables as t
from moorage.metadata.sql import SERVED_BLOB, insert_unique, is_postgres


class SqlBlobIndex:
    """`BlobIndex` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_blob(self, digest: str) -> Blob | None:
        row = self.conn.execute(
            select(t.blob).where(t.blob.c.digest == digest, SERVED_BLOB)
        ).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        row = self.conn.execute(
            select(t.blob)
            .join(t.image_blob, t.image_blob.c.digest == t.blob.c.digest)
            .where(t.image_blob.c.image_id == image_id, t.blob.c.digest == digest, SERVED_BLOB)
        ).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        row = self.conn.execute(
            select(t.blob.c.size, t.blob.c.status).where(t.blob.c.digest == digest)
        ).first()
        if row is None:
            # Committed concurrently by another upload of the same content: same row.
            with contextlib.suppress(Conflict):
                insert_unique(
                    self.conn,
                    insert(t.blob).values(
                        digest=digest, size=size, created_at=now, status=BlobStatus.LIVE.value
                    ),
                    "blob",
                )
        elif row.status == BlobStatus.DELETING.value:
            raise BlobBeingCollected(digest)
        elif row.status != BlobStatus.LIVE.value or row.size != size:
            # Verified bytes replaced a quarantined (or mis-sized) object, or a marked blob
            # is pushed again: live. The sweeper moves only marked rows (compare-and-set), so
            # whichever of the two updates comes second finds the row changed.
            result = self.conn.execute(
                update(t.blob)
                .where(t.blob.c.digest == digest, t.blob.c.status != BlobStatus.DELETING.value)
                .values(size=size, status=BlobStatus.LIVE.value, marked_at=None)
            )
            if not result.rowcount:
                raise BlobBeingCollected(digest)

    def blob_status(self, digest: str) -> BlobStatus | None:
        found = self.conn.execute(
            select(t.blob.c.status).where(t.blob.c.digest == digest)
        ).scalar_one_or_none()
        return BlobStatus(found) if found is not None else None

    def take_back(self, digests: Sequence[str]) -> set[str]:
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        live: set[str] = set()
        postgres = is_postgres(self.conn)
        for _ in range(3):
            wanted_marked = (
                t.blob.c.digest.in_(wanted),
                t.blob.c.status == BlobStatus.MARKED.value,
            )
            if postgres:
                # Row locks in digest order, as garbage collection takes them: two pushes
                # sharing layers (or a push and a run) never wait on each other in a cycle.
                lock = select(t.blob.c.digest).where(*wanted_marked).order_by(t.blob.c.digest)
                self.conn.execute(lock.with_for_update(of=t.blob))
            self.conn.execute(
                update(t.blob)
                .where(*wanted_marked)
                .values(status=BlobStatus.LIVE.value, marked_at=None)
            )
            query = (
                select(t.blob.c.digest)
                .where(t.blob.c.digest.in_(wanted), t.blob.c.status == BlobStatus.LIVE.value)
                .order_by(t.blob.c.digest)
            )
            if postgres:
                # Held until commit: the mark phase cannot turn these rows to marked (nor the
                # sweeper then to deleting) before this transaction's references are visible.
                query = query.with_for_update(read=True, of=t.blob)
            live = {row.digest for row in self.conn.execute(query)}
            # A row marked by a transaction that committed while this one waited for its
            # lock is missed by the UPDATE's snapshot: take it back on the next pass.
            marked = select(t.blob.c.digest).where(
                t.blob.c.digest.in_(sorted(set(wanted) - live)),
                t.blob.c.status == BlobStatus.MARKED.value,
            )
            if live == set(wanted) or self.conn.execute(marked).first() is None:
                break
        return live

    def quarantine_blob(self, digest: str) -> bool:
        result = self.conn.execute(
            update(t.blob)
            .where(t.blob.c.digest == digest, SERVED_BLOB)
            .values(status=BlobStatus.QUARANTINED.value)
        )
        return bool(result.rowcount)

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        linked = exists().where(
            t.image_blob.c.image_id == image_id, t.image_blob.c.digest == digest
        )
        if self.conn.execute(select(linked)).scalar():
            return
        with contextlib.suppress(Conflict):
            insert_unique(
                self.conn,
                insert(t.image_blob).values(image_id=image_id, digest=digest, created_at=now),
                "blob link",
            )

    def unlink_blob(self, image_id: int, digest: str) -> bool:
        result = self.conn.execute(
            delete(t.image_blob).where(
                t.image_blob.c.image_id == image_id, t.image_blob.c.digest == digest
            )
        )
        return bool(result.rowcount)

    def linked_digests(self, image_id: int, digests: Sequence[str]) -> set[str]:
        if not digests:
            return set()
        rows = self.conn.execute(
            select(t.image_blob.c.digest)
            .join(t.blob, t.blob.c.digest == t.image_blob.c.digest)
            .where(
                t.image_blob.c.image_id == image_id,
                t.image_blob.c.digest.in_(list(digests)),
                SERVED_BLOB,
            )
        )
        return {row.digest for row in rows}
