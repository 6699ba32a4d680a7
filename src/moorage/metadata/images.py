"""Images (repositories) inside registries, the catalog and the image listing: `ImageStore`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
)

from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import Image, ImageSummary, Page, PageRequest, Registry
from moorage.metadata import tables as t
from moorage.metadata.artifacts import top_level
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import (
    HAS_ARTIFACTS,
    insert_unique,
    is_postgres,
    like_pattern,
    new_id,
    page_order,
)

IMAGE_SORTS = {"name": t.image.c.name, "created_at": t.image.c.created_at}

# Built once at import: every push and pull
# looks its image up, and building a statement costs several times executing it.
_IMAGE_BY_NAME = Prepared(
    select(t.image, t.registry.c.name.label("registry_name"))
    .join(t.registry, t.registry.c.id == t.image.c.registry_id)
    .where(t.registry.c.name == bindparam("registry"), t.image.c.name == bindparam("name"))
)


class SqlImageStore:
    """`ImageStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_image(self, registry: str, name: str) -> Image | None:
        row = _IMAGE_BY_NAME.first(self.conn, {"registry": registry, "name": name})
        if row is None:
            return None
        return Image(row.id, row.registry_id, row.registry_name, row.name, row.created_at)

    def ensure_image(self, registry: Registry, name: str, now: datetime) -> Image:
        found = self.get_image(registry.name, name)
        if found is not None:
            return found
        try:
            result = insert_unique(
                self.conn,
                insert(t.image).values(registry_id=registry.id, name=name, created_at=now),
                "image",
            )
        except Conflict:  # created concurrently by another push
            found = self.get_image(registry.name, name)
            assert found is not None
            return found
        return Image(new_id(result), registry.id, registry.name, name, now)

    def lock_image(self, image_id: int) -> None:
        # SQLite serialises writers with BEGIN IMMEDIATE (see uow.py); PostgreSQL locks the row.
        if is_postgres(self.conn):
            self.conn.execute(
                select(t.image.c.id).where(t.image.c.id == image_id).with_for_update()
            )

    def _repository_expr(self) -> ColumnElement[str]:
        expr = t.registry.c.name + literal("/") + t.image.c.name
        return expr.collate("C") if is_postgres(self.conn) else expr

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        name = self._repository_expr()
        # An image whose artifacts were all deleted keeps its blob links but is not listed.
        query = (
            select(name.label("repository"))
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .where(HAS_ARTIFACTS)
            .order_by(name)
            .limit(limit)
        )
        if last:
            query = query.where(name > last)
        if registries is not None:
            query = query.where(t.registry.c.name.in_(sorted(registries)))
        return [row.repository for row in self.conn.execute(query)]

    def delete_image_if_empty(self, image_id: int) -> bool:
        has_artifacts = exists().where(t.artifact.c.image_id == image_id)
        if self.conn.execute(select(has_artifacts)).scalar():
            return False
        self.conn.execute(delete(t.image_blob).where(t.image_blob.c.image_id == image_id))
        self.conn.execute(delete(t.upload).where(t.upload.c.image_id == image_id))
        self.conn.execute(delete(t.image).where(t.image.c.id == image_id))
        return True

    def list_images(self, registry_id: int, page: PageRequest) -> Page[ImageSummary]:
        # Counted as the artifact list pages them: top-level artifacts only.
        listed = case((top_level(), 1), else_=0)
        artifacts = (
            select(
                t.artifact.c.image_id,
                func.sum(listed).label("artifacts"),
                func.max(t.artifact.c.pushed_at).label("pushed_at"),
                func.max(t.artifact.c.pulled_at).label("pulled_at"),
            )
            .group_by(t.artifact.c.image_id)
            .subquery()
        )
        tags = (
            select(t.tag.c.image_id, func.count().label("tags"))
            .group_by(t.tag.c.image_id)
            .subquery()
        )
        query = (
            select(
                t.image,
                artifacts.c.artifacts,
                artifacts.c.pushed_at,
                artifacts.c.pulled_at,
                tags.c.tags,
            )
            .join(artifacts, artifacts.c.image_id == t.image.c.id)
            .outerjoin(tags, tags.c.image_id == t.image.c.id)
            .where(t.image.c.registry_id == registry_id)
        )
        if page.search:
            query = query.where(t.image.c.name.like(like_pattern(page.search), escape="\\"))
        total = self.conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = self.conn.execute(
            query.order_by(*page_order(IMAGE_SORTS, page.sort, "name"))
            .offset(page.offset)
            .limit(page.page_size)
        )
        items = [
            ImageSummary(
                r.name, int(r.artifacts), r.tags or 0, r.pushed_at, r.pulled_at, r.created_at
            )
            for r in rows
        ]
        return Page(items, int(total))

    def image_artifact_ids(self, image_id: int) -> list[int]:
        query = (
            select(t.artifact.c.id)
            .where(t.artifact.c.image_id == image_id)
            .order_by(t.artifact.c.id)
        )
        return list(self.conn.execute(query).scalars())
