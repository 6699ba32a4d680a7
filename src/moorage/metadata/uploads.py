"""Upload sessions and the claim of their one writer: `UploadStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update

from moorage.domain.kernel.model import DriverState, UploadSession
from moorage.metadata import tables as t

# Built once at import: on the push path of every chunk.
_UPLOAD_IN_IMAGE = (
    select(t.upload)
    .join(t.image, t.image.c.id == t.upload.c.image_id)
    .join(t.registry, t.registry.c.id == t.image.c.registry_id)
    .where(
        t.upload.c.id == bindparam("id"),
        t.registry.c.name == bindparam("registry"),
        t.image.c.name == bindparam("image"),
    )
)


_INSERT_UPLOAD = insert(t.upload)
# A claim is a compare-and-set on the size and the writer (see `claim_upload`); bind names
# differ from the columns an UPDATE sets.
_CLAIM_UPLOAD = (
    update(t.upload)
    .where(
        t.upload.c.id == bindparam("b_id"),
        t.upload.c.size == bindparam("b_size"),
        or_(t.upload.c.writer.is_(None), t.upload.c.updated_at < bindparam("b_stale_before")),
    )
    .values(writer=bindparam("b_writer"), updated_at=bindparam("b_now"))
)
_DELETE_UPLOAD = delete(t.upload).where(t.upload.c.id == bindparam("b_id"))
_DELETE_CLAIMED_UPLOAD = _DELETE_UPLOAD.where(t.upload.c.writer == bindparam("b_writer"))


def _upload(row: Any) -> UploadSession:
    return UploadSession(
        row.id,
        row.image_id,
        row.size,
        row.driver_state,
        row.started_at,
        row.updated_at,
        row.writer,
    )


class SqlUploadStore:
    """`UploadStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_upload(self, session: UploadSession) -> None:
        self.conn.execute(
            _INSERT_UPLOAD,
            {
                "id": session.id,
                "image_id": session.image_id,
                "size": session.size,
                "driver_state": session.driver_state,
                "started_at": session.started_at,
                "updated_at": session.updated_at,
            },
        )

    def get_upload(self, upload_id: str) -> UploadSession | None:
        row = self.conn.execute(select(t.upload).where(t.upload.c.id == upload_id)).first()
        return _upload(row) if row else None

    def get_upload_in(self, registry: str, image: str, upload_id: str) -> UploadSession | None:
        row = self.conn.execute(
            _UPLOAD_IN_IMAGE, {"registry": registry, "image": image, "id": upload_id}
        ).first()
        return _upload(row) if row else None

    def claim_upload(
        self,
        upload_id: str,
        size: int,
        writer: str,
        now: datetime,
        stale_before: datetime,
        dead_writer: str | None = None,
    ) -> bool:
        # Compare-and-set: PostgreSQL re-evaluates the WHERE clause after waiting for a
        # concurrent claim's row lock, SQLite serialises writers, so exactly one wins.
        if dead_writer is None:
            params = {"b_id": upload_id, "b_size": size, "b_stale_before": stale_before}
            found = self.conn.execute(_CLAIM_UPLOAD, params | {"b_writer": writer, "b_now": now})
            return bool(found.rowcount)
        unclaimed = or_(t.upload.c.writer.is_(None), t.upload.c.updated_at < stale_before)
        unclaimed = or_(unclaimed, t.upload.c.writer == dead_writer)
        result = self.conn.execute(
            update(t.upload)
            .where(t.upload.c.id == upload_id, t.upload.c.size == size, unclaimed)
            .values(writer=writer, updated_at=now)
        )
        return bool(result.rowcount)

    def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.upload)
            .where(t.upload.c.id == upload_id, t.upload.c.writer == writer)
            .values(updated_at=now)
        )
        return bool(result.rowcount)

    def release_upload(
        self,
        upload_id: str,
        writer: str,
        size: int | None,
        driver_state: DriverState | None,
        now: datetime,
    ) -> bool:
        values: dict[str, Any] = {"writer": None, "updated_at": now}
        if size is not None:
            values.update(size=size, driver_state=driver_state)
        result = self.conn.execute(
            update(t.upload)
            .where(t.upload.c.id == upload_id, t.upload.c.writer == writer)
            .values(**values)
        )
        return bool(result.rowcount)

    def delete_upload(self, upload_id: str, writer: str | None = None) -> bool:
        if writer is None:
            return bool(self.conn.execute(_DELETE_UPLOAD, {"b_id": upload_id}).rowcount)
        params = {"b_id": upload_id, "b_writer": writer}
        return bool(self.conn.execute(_DELETE_CLAIMED_UPLOAD, params).rowcount)

    def expired_uploads(self, before: datetime, limit: int) -> list[UploadSession]:
        rows = self.conn.execute(
            select(t.upload).where(t.upload.c.updated_at < before).limit(limit)
        )
        return [_upload(row) for row in rows]
