"""Paged listings for the console and the REST API: images, artifacts, tags.

Every list counts its total and pages with LIMIT/OFFSET on indexed columns, so a page of an
image with 100,000 tags costs one indexed range scan and one count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql import ColumnElement

from moorage.domain.kernel.model import ArtifactSummary, ImageSummary, Page, PageRequest, Tag
from moorage.metadata import tables as t

IMAGE_SORTS = {"name": t.image.c.name, "created_at": t.image.c.created_at}
ARTIFACT_SORTS = {
    "pushed_at": t.artifact.c.pushed_at,
    "pulled_at": t.artifact.c.pulled_at,
    "size": t.artifact.c.size,
    "digest": t.artifact.c.digest,
}
TAG_SORTS = {"name": t.tag.c.name, "pushed_at": t.tag.c.pushed_at, "pulled_at": t.tag.c.pulled_at}


def _order(sorts: dict[str, Any], sort: str | None, default: str) -> list[ColumnElement[Any]]:
    """ORDER BY for `field` or `-field`; unknown fields were refused by the caller."""
    name = sort or default
    column = sorts[name.lstrip("-")]
    first = column.desc() if name.startswith("-") else column.asc()
    return [first, t.tag.c.id if column.table is t.tag else column.table.c.id]


def _like(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class BrowseQueries:
    conn: Connection

    def list_images(self, registry_id: int, page: PageRequest) -> Page[ImageSummary]:
        artifacts = (
            select(
                t.artifact.c.image_id,
                func.count().label("artifacts"),
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
            query = query.where(t.image.c.name.like(_like(page.search), escape="\\"))
        total = self.conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = self.conn.execute(
            query.order_by(*_order(IMAGE_SORTS, page.sort, "name"))
            .offset(page.offset)
            .limit(page.page_size)
        )
        items = [
            ImageSummary(r.name, r.artifacts, r.tags or 0, r.pushed_at, r.pulled_at, r.created_at)
            for r in rows
        ]
        return Page(items, int(total))

    def list_artifacts(self, image_id: int, page: PageRequest) -> Page[ArtifactSummary]:
        # Top-level artifacts only, as in Harbor: an index's children are shown in the
        # index's detail (its `children`), not as untagged artifacts of their own.
        parent = t.artifact.alias("parent")
        listed_by_index = (
            select(t.artifact_child.c.digest)
            .join(parent, parent.c.id == t.artifact_child.c.artifact_id)
            .where(parent.c.image_id == image_id)
        )
        query = select(t.artifact.c.id).where(
            t.artifact.c.image_id == image_id, t.artifact.c.digest.not_in(listed_by_index)
        )
        if page.search:  # a digest prefix or a tag
            like = _like(page.search)
            tagged = select(t.tag.c.artifact_id).where(
                t.tag.c.image_id == image_id, t.tag.c.name.like(like, escape="\\")
            )
            query = query.where(
                t.artifact.c.digest.like(like, escape="\\") | t.artifact.c.id.in_(tagged)
            )
        total = self.conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        ids = list(
            self.conn.execute(
                query.order_by(*_order(ARTIFACT_SORTS, page.sort, "-pushed_at"))
                .offset(page.offset)
                .limit(page.page_size)
            ).scalars()
        )
        summaries = {s.id: s for s in self.artifact_summaries(image_id, ids)}
        return Page([summaries[i] for i in ids], int(total))

    def artifact_summaries(self, image_id: int, ids: Sequence[int]) -> list[ArtifactSummary]:
        """Summaries with sizes and tags for these artifacts of one image."""
        if not ids:
            return []
        rows = list(self.conn.execute(select(t.artifact).where(t.artifact.c.id.in_(ids))))
        tags: dict[int, list[str]] = defaultdict(list)
        for row in self.conn.execute(
            select(t.tag.c.artifact_id, t.tag.c.name)
            .where(t.tag.c.artifact_id.in_(ids))
            .order_by(t.tag.c.name)
        ):
            tags[row.artifact_id].append(row.name)
        sizes = self._artifact_sizes(image_id, rows)
        return [
            ArtifactSummary(
                id=r.id,
                digest=r.digest,
                media_type=r.media_type,
                artifact_type=r.artifact_type,
                size=sizes[r.id],
                platforms=tuple(r.platforms or ()),
                pushed_at=r.pushed_at,
                pulled_at=r.pulled_at,
                tags=tuple(tags[r.id]),
            )
            for r in rows
        ]

    def _blob_bytes(self, artifact_ids: Sequence[int]) -> dict[int, int]:
        rows = self.conn.execute(
            select(t.artifact_blob.c.artifact_id, func.sum(t.blob.c.size).label("bytes"))
            .join(t.blob, t.blob.c.digest == t.artifact_blob.c.digest)
            .where(t.artifact_blob.c.artifact_id.in_(list(artifact_ids)))
            .group_by(t.artifact_blob.c.artifact_id)
        )
        return {r.artifact_id: int(r.bytes or 0) for r in rows}

    def _artifact_sizes(self, image_id: int, rows: Sequence[Any]) -> dict[int, int]:
        own = self._blob_bytes([r.id for r in rows])
        sizes = {r.id: r.size + own.get(r.id, 0) for r in rows}
        children = list(
            self.conn.execute(
                select(
                    t.artifact_child.c.artifact_id,
                    t.artifact.c.id.label("child"),
                    t.artifact.c.size,
                )
                .join(t.artifact, t.artifact.c.digest == t.artifact_child.c.digest)
                .where(
                    t.artifact_child.c.artifact_id.in_(list(sizes)),
                    t.artifact.c.image_id == image_id,
                )
            )
        )
        child_blobs = self._blob_bytes([c.child for c in children])
        for child in children:
            sizes[child.artifact_id] += child.size + child_blobs.get(child.child, 0)
        return sizes

    def list_tag_page(self, image_id: int, artifact_id: int | None, page: PageRequest) -> Page[Tag]:
        # Page over the tag table alone (an index range scan, even deep into 100,000 tags),
        # then join the page's rows to their artifacts.
        tags = select(t.tag.c.id).where(t.tag.c.image_id == image_id)
        if artifact_id is not None:
            tags = tags.where(t.tag.c.artifact_id == artifact_id)
        if page.search:
            tags = tags.where(t.tag.c.name.like(_like(page.search), escape="\\"))
        total = self.conn.execute(select(func.count()).select_from(tags.subquery())).scalar_one()
        order = _order(TAG_SORTS, page.sort, "name")
        ids = list(
            self.conn.execute(
                tags.order_by(*order).offset(page.offset).limit(page.page_size)
            ).scalars()
        )
        rows = self.conn.execute(
            select(t.tag, t.artifact.c.digest)
            .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
            .where(t.tag.c.id.in_(ids))
            .order_by(*order)
        )
        items = [Tag(r.name, r.artifact_id, r.digest, r.pushed_at, r.pulled_at) for r in rows]
        return Page(items, int(total))

    def image_artifact_ids(self, image_id: int) -> list[int]:
        query = (
            select(t.artifact.c.id)
            .where(t.artifact.c.image_id == image_id)
            .order_by(t.artifact.c.id)
        )
        return list(self.conn.execute(query).scalars())
