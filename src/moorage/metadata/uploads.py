"""Upload sessions and the claim of their one writer: `UploadStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update

from moorage.domain.kernel.model import DriverState, UploadSession
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared

# Built once at import, and run on SQLite's own cursor (`Prepared`): every PATCH of a
# chunked push looks its upload up, claims it and releases it.
_UPLOAD_IN_IMAGE = Prepared(
    select(t.upload)
    .join(t.image, t.image.c.id == t.upload.c.image_id)
    .join(t.registry, t.registry.c.id == t.image.c.registry_id)
    .where(
        t.upload.c.id == bindparam("id"),
        t.registry.c.name == bindparam("registry"),
        t.image.c.name == bindparam("image"),
    )
)
_UPLOAD = Prepared(select(t.upload).where(t.upload.c.id == bindparam("id")))


_INSERT_UPLOAD = insert(t.upload)
# A claim is a compare-and-set on the size and the writer (see `claim_upload`); bind names
# differ from the columns an UPDATE sets.
_CLAIM_UPLOAD = Prepared(
    update(t.upload)
    .where(
        t.upload.c.id == bindparam("b_id"),
        t.upload.c.size == bindparam("b_size"),
        or_(t.upload.c.writer.is_(None), t.upload.c.updated_at < bindparam("b_stale_before")),
    )
    .values(writer=bindparam("b_writer"), updated_at=bindparam("b_now"))
)
_HELD_BY = (t.upload.c.id == bindparam("b_id"), t.upload.c.writer == bindparam("b_writer"))
_RENEW_UPLOAD = Prepared(update(t.upload).where(*_HELD_BY).values(updated_at=bindparam("b_now")))
_RELEASE_UPLOAD = Prepared(
    update(t.upload).where(*_HELD_BY).values(writer=None, updated_at=bindparam("b_now"))
)
_RELEASE_GROWN_UPLOAD = Prepared(
    update(t.upload)
    .where(*_HELD_BY)
    .values(
        writer=None,
        updated_at=bindparam("b_now"),
        size=bindparam("b_size"),
        driver_state=bindparam("b_state", type_=t.upload.c.driver_state.type),
    )
)
_DELETE_UPLOAD = Prepared(delete(t.upload).where(t.upload.c.id == bindparam("b_id")))
_DELETE_CLAIMED_UPLOAD = Prepared(delete(t.upload).where(*_HELD_BY))


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
        row = _UPLOAD.first(self.conn, {"id": upload_id})
        return _upload(row) if row else None

    def get_upload_in(self, registry: str, image: str, upload_id: str) -> UploadSession | None:
        row = _UPLOAD_IN_IMAGE.first(
            self.conn, {"registry": registry, "image": image, "id": upload_id}
        )
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
            return bool(_CLAIM_UPLOAD.run(self.conn, params | {"b_writer": writer, "b_now": now}))
        unclaimed = or_(t.upload.c.writer.is_(None), t.upload.c.updated_at < stale_before)
        unclaimed = or_(unclaimed, t.upload.c.writer == dead_writer)
        result = self.conn.execute(
            update(t.upload)
            .where(t.upload.c.id == upload_id, t.upload.c.size == size, unclaimed)
            .values(writer=writer, updated_at=now)
        )
        return bool(result.rowcount)

    def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        params = {"b_id": upload_id, "b_writer": writer, "b_now": now}
        return bool(_RENEW_UPLOAD.run(self.conn, params))

    def release_upload(
        self,
        upload_id: str,
        writer: str,
        size: int | None,
        driver_state: DriverState | None,
        now: datetime,
    ) -> bool:
        params: dict[str, Any] = {"b_id": upload_id, "b_writer": writer, "b_now": now}
        if size is None:
            return bool(_RELEASE_UPLOAD.run(self.conn, params))
        params.update(b_size=size, b_state=driver_state)
        return bool(_RELEASE_GROWN_UPLOAD.run(self.conn, params))

    def delete_upload(self, upload_id: str, writer: str | None = None) -> bool:
        if writer is None:
            return bool(_DELETE_UPLOAD.run(self.conn, {"b_id": upload_id}))
        return bool(_DELETE_CLAIMED_UPLOAD.run(self.conn, {"b_id": upload_id, "b_writer": writer}))

    def expired_uploads(self, before: datetime, limit: int) -> list[UploadSession]:
        rows = self.conn.execute(
            select(t.upload).where(t.upload.c.updated_at < before).limit(limit)
        )
        return [_upload(row) for row in rows]
