"""Tags, the names that point at artifacts, and their listing: `TagStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
)

from moorage.domain.content.ports import TagCursor
from moorage.domain.content.tag_globs import glob_regex
from moorage.domain.kernel.model import Page, PageRequest, Tag
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import (
    dialect_insert,
    first_column,
    is_postgres,
    like_pattern,
    nearer_end,
    page_order,
)

TAG_SORTS = {"name": t.tag.c.name, "pushed_at": t.tag.c.pushed_at, "pulled_at": t.tag.c.pulled_at}


# Built once at import: every push by tag reads the tag it moves.
_TAG = Prepared(
    select(t.tag, t.artifact.c.digest)
    .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
    .where(t.tag.c.image_id == bindparam("image_id"), t.tag.c.name == bindparam("name"))
)
# The protocol's tag list, in name order: whole, or a page after `last`.
_TAGS = select(t.tag.c.name).where(t.tag.c.image_id == bindparam("image_id")).order_by(t.tag.c.name)
_TAGS_AFTER = _TAGS.where(t.tag.c.name > bindparam("last"))
_TAG_LISTS = {
    (False, False): _TAGS,
    (True, False): _TAGS_AFTER,
    (False, True): _TAGS.limit(bindparam("limit")),
    (True, True): _TAGS_AFTER.limit(bindparam("limit")),
}


@cache
def _put_tag(dialect: str) -> Prepared:
    """Point the tag at the artifact: one upsert, whether the tag is new or moves (its id
    and pull time stay)."""
    columns = ("image_id", "name", "artifact_id", "pushed_at")
    statement = dialect_insert(dialect)(t.tag).values({c: bindparam(c) for c in columns})
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[t.tag.c.image_id, t.tag.c.name],
            set_={
                "artifact_id": statement.excluded.artifact_id,
                "pushed_at": statement.excluded.pushed_at,
            },
        )
    )


class SqlTagStore:
    """`TagStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get_tag(self, image_id: int, name: str) -> Tag | None:
        row = _TAG.first(self.conn, {"image_id": image_id, "name": name})
        if row is None:
            return None
        return Tag(row.name, row.artifact_id, row.digest, row.pushed_at, row.pulled_at)

    def put_tag(self, image_id: int, name: str, artifact_id: int, now: datetime) -> None:
        _put_tag(self.conn.dialect.name).run(
            self.conn,
            {"image_id": image_id, "name": name, "artifact_id": artifact_id, "pushed_at": now},
        )

    def delete_tag(self, image_id: int, name: str) -> bool:
        result = self.conn.execute(
            delete(t.tag).where(t.tag.c.image_id == image_id, t.tag.c.name == name)
        )
        return bool(result.rowcount)

    def artifact_tags(self, artifact_id: int) -> list[str]:
        query = select(t.tag.c.name).where(t.tag.c.artifact_id == artifact_id)
        return sorted(self.conn.execute(query).scalars())

    def artifact_has_tag_like(self, artifact_id: int, globs: Sequence[str], matching: bool) -> bool:
        # One EXISTS over the artifact's index range: it stops at the first tag that answers.
        if not globs:
            return not matching and self._has_tags(artifact_id)
        matches = or_(*(self._glob(glob) for glob in globs))
        query = exists().where(
            t.tag.c.artifact_id == artifact_id, matches if matching else ~matches
        )
        return bool(self.conn.execute(select(query)).scalar())

    def _has_tags(self, artifact_id: int) -> bool:
        return bool(
            self.conn.execute(select(exists().where(t.tag.c.artifact_id == artifact_id))).scalar()
        )

    def _glob(self, glob: str) -> ColumnElement[bool]:
        """Case-sensitive on both: SQLite's LIKE ignores ASCII case, its GLOB does not. On
        PostgreSQL, LIKE (which knows `_`) unless a class needs an anchored `~`: a simple
        glob lists a class's characters, so no range depends on the collation."""
        if not is_postgres(self.conn):
            return t.tag.c.name.op("GLOB", is_comparison=True)(glob)
        if "[" in glob:
            return t.tag.c.name.regexp_match(f"^{glob_regex(glob)}$")
        like = glob.replace("_", "\\_").replace("*", "%").replace("?", "_")
        return t.tag.c.name.like(like, escape="\\")

    def artifact_tag_batch(
        self, artifact_id: int, after: TagCursor | None, limit: int
    ) -> tuple[list[str], TagCursor | None]:
        # Keyset over ix_tag_artifact_pushed, newest first: each batch is one index range.
        position = tuple_(t.tag.c.pushed_at, t.tag.c.id)
        query = select(t.tag.c.name, t.tag.c.pushed_at, t.tag.c.id).where(
            t.tag.c.artifact_id == artifact_id
        )
        if after is not None:
            query = query.where(position < tuple_(after.pushed_at, after.tag_id))
        rows = list(
            self.conn.execute(
                query.order_by(t.tag.c.pushed_at.desc(), t.tag.c.id.desc()).limit(limit)
            )
        )
        if len(rows) < limit:
            return [r.name for r in rows], None
        return [r.name for r in rows], TagCursor(rows[-1].pushed_at, rows[-1].id)

    def list_tags(self, image_id: int, last: str | None, limit: int | None) -> list[str]:
        query = _TAG_LISTS[bool(last), limit is not None]
        params = {"image_id": image_id, "last": last, "limit": limit}
        return first_column(self.conn, query, params)

    def list_tag_page(self, image_id: int, artifact_id: int | None, page: PageRequest) -> Page[Tag]:
        # Page over the tag table alone (an index range scan, even deep into 100,000 tags),
        # then join the page's rows to their artifacts.
        tags = select(t.tag.c.id).where(t.tag.c.image_id == image_id)
        if artifact_id is not None:
            tags = tags.where(t.tag.c.artifact_id == artifact_id)
        if page.search:
            tags = tags.where(t.tag.c.name.like(like_pattern(page.search), escape="\\"))
        total = self.conn.execute(select(func.count()).select_from(tags.subquery())).scalar_one()
        order = page_order(TAG_SORTS, page.sort, "name")
        reverse, offset, limit = nearer_end(page.offset, page.page_size, int(total))
        scan = page_order(TAG_SORTS, page.sort, "name", reverse=reverse)
        ids = list(self.conn.execute(tags.order_by(*scan).offset(offset).limit(limit)).scalars())
        rows = self.conn.execute(
            select(t.tag, t.artifact.c.digest)
            .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
            .where(t.tag.c.id.in_(ids))
            .order_by(*order)
        )
        items = [Tag(r.name, r.artifact_id, r.digest, r.pushed_at, r.pulled_at) for r in rows]
        return Page(items, int(total))
