"""Which blobs exist, their state, and which image may read which blob: `BlobIndex`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, delete, select, update

from moorage.domain.content.errors import BlobBeingCollected
from moorage.domain.kernel.model import Blob, BlobStatus
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import SERVED_BLOB, in_json_array, insert_new, is_postgres

# Built once at import: the statements every blob push and manifest push runs (building a
# statement costs several times executing it).
_LINKED_BLOB = (
    select(t.blob)
    .join(t.image_blob, t.image_blob.c.digest == t.blob.c.digest)
    .where(
        t.image_blob.c.image_id == bindparam("image_id"),
        t.blob.c.digest == bindparam("digest"),
        SERVED_BLOB,
    )
)
_BLOB_STATE = select(t.blob.c.size, t.blob.c.status).where(t.blob.c.digest == bindparam("digest"))


def _linked_among(digests: ColumnElement[bool]) -> Select[Any]:
    return (
        select(t.image_blob.c.digest, t.blob.c.size)
        .join(t.blob, t.blob.c.digest == t.image_blob.c.digest)
        .where(t.image_blob.c.image_id == bindparam("image_id"), digests, SERVED_BLOB)
    )


_LINKED_AMONG = _linked_among(t.image_blob.c.digest.in_(bindparam("digests", expanding=True)))
# SQLite: the digests as one JSON array, so the statements are fixed (see prepared.py).
_LINKED_AMONG_ALONE = Prepared(_linked_among(in_json_array(t.image_blob.c.digest, "digests")))


_MARKED = (
    t.blob.c.digest.in_(bindparam("digests", expanding=True)),
    t.blob.c.status == BlobStatus.MARKED.value,
)
_TAKE_BACK = update(t.blob).where(*_MARKED).values(status=BlobStatus.LIVE.value, marked_at=None)
# On PostgreSQL a push locks every served blob it names in one statement, in digest order,
# FOR KEY SHARE: pushes sharing layers do not wait on one another, while garbage collection,
# which changes a blob's state only on rows it has locked FOR UPDATE (in digest order too),
# waits for the push to commit its references. The marked ones are then locked FOR NO KEY
# UPDATE (compatible with KEY SHARE, so no push waits to upgrade on another's share), again
# in digest order, and turned live.
_LOCK_SERVED_AMONG = (
    select(t.blob.c.digest, t.blob.c.status)
    .where(t.blob.c.digest.in_(bindparam("digests", expanding=True)), SERVED_BLOB)
    .order_by(t.blob.c.digest)
    .with_for_update(read=True, key_share=True, of=t.blob)
)
_LOCK_MARKED_AMONG = (
    select(t.blob.c.digest)
    .where(*_MARKED)
    .order_by(t.blob.c.digest)
    .with_for_update(key_share=True, of=t.blob)
)
_STATUS_AMONG_ALONE = Prepared(
    select(t.blob.c.digest, t.blob.c.status).where(in_json_array(t.blob.c.digest, "digests"))
)
_SERVED_STATES = frozenset({BlobStatus.LIVE.value, BlobStatus.MARKED.value})


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
        row = self.conn.execute(_LINKED_BLOB, {"image_id": image_id, "digest": digest}).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        new = {"digest": digest, "size": size, "created_at": now, "status": BlobStatus.LIVE.value}
        if insert_new(self.conn, t.blob, new) is not None:
            return
        # Known already, or committed concurrently by another upload of the same content.
        row = self.conn.execute(_BLOB_STATE, {"digest": digest}).first()
        if row is None or row.status == BlobStatus.DELETING.value:  # swept meanwhile, or now
            raise BlobBeingCollected(digest)
        if row.status != BlobStatus.LIVE.value or row.size != size:
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
        row = self.conn.execute(_BLOB_STATE, {"digest": digest}).first()
        return BlobStatus(row.status) if row is not None else None

    def take_back(self, digests: Sequence[str]) -> set[str]:
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        if not is_postgres(self.conn):
            return self._take_back_alone(wanted)
        # Every blob row this transaction locks, it locks here, in digest order, before
        # any other: a later statement locking a smaller digest than one already held is
        # what let two pushes (or a push and a run) wait on each other in a cycle. A row
        # locked after a wait is read as last committed, so the states are current; and
        # while the locks are held garbage collection can neither mark nor sweep the rows.
        states = {
            row.digest: row.status
            for row in self.conn.execute(_LOCK_SERVED_AMONG, {"digests": wanted})
        }
        marked = sorted(d for d, status in states.items() if status == BlobStatus.MARKED.value)
        if marked:
            # A row another push is taking back reads as marked until it commits: its lock
            # is waited for, and the UPDATE then finds the row live (compare-and-set).
            self.conn.execute(_LOCK_MARKED_AMONG, {"digests": marked})
            self.conn.execute(_TAKE_BACK, {"digests": marked})
        return set(states)

    def _take_back_alone(self, wanted: list[str]) -> set[str]:
        """`take_back` where writers exclude one another (SQLite: this transaction holds the
        database's write lock), so the states one read finds hold until commit: the UPDATE
        runs only when some blob is marked, which is seldom (one statement, not two)."""
        states = {
            row.digest: row.status
            for row in _STATUS_AMONG_ALONE.rows(self.conn, {"digests": wanted})
        }
        marked = sorted(d for d, status in states.items() if status == BlobStatus.MARKED.value)
        if marked:
            self.conn.execute(_TAKE_BACK, {"digests": marked})
        return {d for d, status in states.items() if status in _SERVED_STATES}

    def quarantine_blob(self, digest: str) -> bool:
        result = self.conn.execute(
            update(t.blob)
            .where(t.blob.c.digest == digest, SERVED_BLOB)
            .values(status=BlobStatus.QUARANTINED.value)
        )
        return bool(result.rowcount)

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        insert_new(
            self.conn, t.image_blob, {"image_id": image_id, "digest": digest, "created_at": now}
        )

    def unlink_blob(self, image_id: int, digest: str) -> bool:
        result = self.conn.execute(
            delete(t.image_blob).where(
                t.image_blob.c.image_id == image_id, t.image_blob.c.digest == digest
            )
        )
        return bool(result.rowcount)

    def linked_sizes(self, image_id: int, digests: Sequence[str]) -> dict[str, int]:
        if not digests:
            return {}
        params = {"image_id": image_id, "digests": list(digests)}
        rows: Iterable[Any] = (
            self.conn.execute(_LINKED_AMONG, params)
            if is_postgres(self.conn)
            else _LINKED_AMONG_ALONE.rows(self.conn, params)
        )
        return {row.digest: row.size for row in rows}
