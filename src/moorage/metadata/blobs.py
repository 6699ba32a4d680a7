"""Which blobs exist, their state, and which image may read which blob: `BlobIndex`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, exists, insert, select, update

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import Blob, BlobStatus
from moorage.metadata import tables as t
from moorage.metadata.sql import LIVE_BLOB, insert_unique


class SqlBlobIndex:
    """`BlobIndex` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_blob(self, digest: str) -> Blob | None:
        row = self.conn.execute(select(t.blob).where(t.blob.c.digest == digest, LIVE_BLOB)).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        row = self.conn.execute(
            select(t.blob)
            .join(t.image_blob, t.image_blob.c.digest == t.blob.c.digest)
            .where(t.image_blob.c.image_id == image_id, t.blob.c.digest == digest, LIVE_BLOB)
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
        elif row.status != BlobStatus.LIVE.value or row.size != size:
            # Verified bytes replaced a quarantined (or mis-sized) object: live again.
            self.conn.execute(
                update(t.blob)
                .where(t.blob.c.digest == digest)
                .values(size=size, status=BlobStatus.LIVE.value)
            )

    def quarantine_blob(self, digest: str) -> bool:
        result = self.conn.execute(
            update(t.blob)
            .where(t.blob.c.digest == digest, LIVE_BLOB)
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
                LIVE_BLOB,
            )
        )
        return {row.digest for row in rows}
