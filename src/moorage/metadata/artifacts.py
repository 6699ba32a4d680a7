"""Artifacts (manifests) of images, what they reference, who refers to them, their listing
and their pull times: `ArtifactStore`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    union_all,
    update,
)

from moorage.domain.content.ports import RECENT_TAGS, PullRecord
from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.kernel.model import (
    Artifact,
    ArtifactHead,
    ArtifactSummary,
    HelmChart,
    NewArtifact,
    Page,
    PageRequest,
    Referrer,
)
from moorage.metadata import tables as t
from moorage.metadata.prepared import Prepared
from moorage.metadata.sql import (
    earlier,
    insert_new,
    is_postgres,
    like_pattern,
    page_order,
)


def _resolve_statement(by_digest: bool) -> Select[Any]:
    """Registry + image + tag or digest → artifact, in one query: the manifest GET hot path.

    Built once at import: constructing SQLAlchemy expressions costs more than running them.
    """
    query = (
        select(
            t.image.c.id.label("image_id"),
            t.artifact.c.id,
            t.artifact.c.digest,
            t.artifact.c.media_type,
            t.artifact.c.size,
        )
        .join(t.registry, t.registry.c.id == t.image.c.registry_id)
        .where(t.registry.c.name == bindparam("registry"), t.image.c.name == bindparam("image"))
    )
    if by_digest:
        return query.join(t.artifact, t.artifact.c.image_id == t.image.c.id).where(
            t.artifact.c.digest == bindparam("reference")
        )
    return (
        query.join(t.tag, t.tag.c.image_id == t.image.c.id)
        .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
        .where(t.tag.c.name == bindparam("reference"))
    )


_ARTIFACT_BY_DIGEST = Prepared(_resolve_statement(by_digest=True))
_ARTIFACT_BY_TAG = Prepared(_resolve_statement(by_digest=False))
_MANIFEST_BODY = select(t.artifact.c.manifest).where(t.artifact.c.id == bindparam("id"))


def top_level(artifact: Any = t.artifact) -> ColumnElement[bool]:
    """`artifact` is listed on its own: no index of its image lists it as a child, and it
    refers to no artifact of its image (a referrer whose subject is absent is listed)."""
    parent = t.artifact.alias("parent")
    subject = t.artifact.alias("subject")
    listed_by_index = (
        exists()
        .where(t.artifact_child.c.digest == artifact.c.digest)
        .where(parent.c.id == t.artifact_child.c.artifact_id)
        .where(parent.c.image_id == artifact.c.image_id)
    )
    refers = exists().where(
        subject.c.image_id == artifact.c.image_id,
        subject.c.digest == artifact.c.subject_digest,
    )
    return ~listed_by_index & ~refers


ARTIFACT_SORTS = {
    "pushed_at": t.artifact.c.pushed_at,
    "pulled_at": t.artifact.c.pulled_at,
    "size": t.artifact.c.size,
    "digest": t.artifact.c.digest,
}


# Built once at import: every manifest push looks its artifact (and its children) up.
_ARTIFACT = Prepared(
    select(t.artifact).where(
        t.artifact.c.image_id == bindparam("image_id"), t.artifact.c.digest == bindparam("digest")
    )
)
_INSERT_BLOB_LINK = Prepared(
    insert(t.artifact_blob).values(artifact_id=bindparam("artifact_id"), digest=bindparam("digest"))
)
_INSERT_CHILD_LINK = Prepared(
    insert(t.artifact_child).values(
        artifact_id=bindparam("artifact_id"), digest=bindparam("digest")
    )
)


class SqlArtifactStore:
    """`ArtifactStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def resolve_artifact(
        self, registry: str, image: str, reference: str, by_digest: bool
    ) -> tuple[int, ArtifactHead] | None:
        statement = _ARTIFACT_BY_DIGEST if by_digest else _ARTIFACT_BY_TAG
        row = statement.first(
            self.conn, {"registry": registry, "image": image, "reference": reference}
        )
        if row is None:
            return None
        return row.image_id, ArtifactHead(row.id, row.digest, row.media_type, row.size)

    def manifest_body(self, artifact_id: int) -> bytes:
        return bytes(self.conn.execute(_MANIFEST_BODY, {"id": artifact_id}).scalar_one())

    def get_artifact(self, image_id: int, digest: str) -> Artifact | None:
        row = _ARTIFACT.first(self.conn, {"image_id": image_id, "digest": digest})
        if row is None:
            return None
        return Artifact(
            id=row.id,
            image_id=row.image_id,
            digest=row.digest,
            media_type=row.media_type,
            artifact_type=row.artifact_type,
            size=row.size,
            subject_digest=row.subject_digest,
            pushed_at=row.pushed_at,
            pulled_at=row.pulled_at,
            created_at=row.created_at,
            annotations=dict(row.annotations or {}),
        )

    def artifact_digests_present(self, image_id: int, digests: Sequence[str]) -> set[str]:
        if not digests:
            return set()
        rows = self.conn.execute(
            select(t.artifact.c.digest).where(
                t.artifact.c.image_id == image_id, t.artifact.c.digest.in_(list(digests))
            )
        )
        return {row.digest for row in rows}

    def insert_artifact(self, image_id: int, artifact: NewArtifact, now: datetime) -> int:
        row = {
            "image_id": image_id,
            "digest": artifact.digest,
            "media_type": artifact.media_type,
            "artifact_type": artifact.artifact_type,
            "size": len(artifact.body),
            "manifest": artifact.body,
            "subject_digest": artifact.subject_digest,
            "annotations": artifact.annotations,
            "platforms": list(artifact.platforms),
            "helm_chart": artifact.helm_chart.as_json() if artifact.helm_chart else None,
            "pushed_at": now,
            "created_at": now,
        }
        inserted = insert_new(self.conn, t.artifact, row, returning="id")
        if inserted is None:
            raise AlreadyExists(f"artifact {artifact.digest} already exists")
        artifact_id = int(inserted)
        _INSERT_BLOB_LINK.run_many(
            self.conn, [{"artifact_id": artifact_id, "digest": d} for d in artifact.blob_digests]
        )
        _INSERT_CHILD_LINK.run_many(
            self.conn,
            [{"artifact_id": artifact_id, "digest": d} for d in set(artifact.child_digests)],
        )
        return artifact_id

    def touch_artifact_push(self, artifact_id: int, now: datetime) -> None:
        self.conn.execute(
            update(t.artifact).where(t.artifact.c.id == artifact_id).values(pushed_at=now)
        )

    def delete_artifact(self, artifact_id: int) -> None:
        if is_postgres(self.conn):  # the artifact row first, then its tags: see record_pulls
            self.conn.execute(
                select(t.artifact.c.id).where(t.artifact.c.id == artifact_id).with_for_update()
            )
        for table in (t.tag, t.artifact_blob, t.artifact_child):
            self.conn.execute(delete(table).where(table.c.artifact_id == artifact_id))
        self.conn.execute(delete(t.artifact).where(t.artifact.c.id == artifact_id))

    def artifact_parents(self, image_id: int, digest: str) -> list[str]:
        rows = self.conn.execute(
            select(t.artifact.c.digest)
            .join(t.artifact_child, t.artifact_child.c.artifact_id == t.artifact.c.id)
            .where(t.artifact.c.image_id == image_id, t.artifact_child.c.digest == digest)
        )
        return [row.digest for row in rows]

    def referrers(
        self, image_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]:
        conditions = [
            t.artifact.c.image_id == image_id,
            t.artifact.c.subject_digest == subject_digest,
        ]
        if artifact_type is not None:
            conditions.append(t.artifact.c.artifact_type == artifact_type)
        rows = self.conn.execute(
            select(
                t.artifact.c.digest,
                t.artifact.c.media_type,
                t.artifact.c.size,
                t.artifact.c.artifact_type,
                t.artifact.c.annotations,
            )
            .where(and_(*conditions))
            .order_by(t.artifact.c.id)
        )
        return [
            Referrer(r.digest, r.media_type, r.size, r.artifact_type, dict(r.annotations or {}))
            for r in rows
        ]

    def record_pulls(self, pulls: Sequence[PullRecord]) -> None:
        # Never move a pull time backwards: batches from several nodes arrive in any order.
        # Rows are locked in one order everywhere (artifacts by id, then their tags), the
        # order deletes take them in, so a flush and a delete cannot deadlock.
        for pull in sorted(pulls, key=lambda p: (p.artifact_id, p.at)):
            self.conn.execute(
                update(t.artifact)
                .where(t.artifact.c.id == pull.artifact_id)
                .where(earlier(t.artifact.c.pulled_at, pull.at))
                .values(pulled_at=pull.at)
            )
        tagged = sorted((p for p in pulls if p.tag), key=lambda p: (p.artifact_id, p.tag, p.at))
        for pull in tagged:
            self.conn.execute(
                update(t.tag)
                .where(t.tag.c.image_id == pull.image_id, t.tag.c.name == pull.tag)
                .where(earlier(t.tag.c.pulled_at, pull.at))
                .values(pulled_at=pull.at)
            )

    # the listing (console and REST API) ---------------------------------------------------

    def list_artifacts(self, image_id: int, page: PageRequest) -> Page[ArtifactSummary]:
        # Top-level artifacts only, as in Harbor: an index's children are shown in the
        # index's detail (its `children`), referrers under their subject.
        query = select(t.artifact.c.id).where(t.artifact.c.image_id == image_id, top_level())
        if page.search:  # a digest prefix or a tag
            like = like_pattern(page.search)
            tagged = select(t.tag.c.artifact_id).where(
                t.tag.c.image_id == image_id, t.tag.c.name.like(like, escape="\\")
            )
            query = query.where(
                t.artifact.c.digest.like(like, escape="\\") | t.artifact.c.id.in_(tagged)
            )
        total = self.conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        ids = list(
            self.conn.execute(
                query.order_by(*page_order(ARTIFACT_SORTS, page.sort, "-pushed_at"))
                .offset(page.offset)
                .limit(page.page_size)
            ).scalars()
        )
        summaries = {s.id: s for s in self.artifact_summaries(image_id, ids)}
        return Page([summaries[i] for i in ids], int(total))

    def artifact_summaries(self, image_id: int, ids: Sequence[int]) -> list[ArtifactSummary]:
        if not ids:
            return []
        columns = [c for c in t.artifact.c if c.name != "manifest"]
        rows = list(self.conn.execute(select(*columns).where(t.artifact.c.id.in_(ids))))
        recent = self._recent_tags(ids)
        tag_counts = self._tag_counts(ids)
        referrers = self._referrer_counts(image_id, [r.digest for r in rows])
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
                tags=tuple(recent.get(r.id, ())),
                tag_count=tag_counts.get(r.id, 0),
                referrer_count=referrers.get(r.digest, 0) if r.image_id == image_id else 0,
                helm_chart=HelmChart.from_json(r.helm_chart),
            )
            for r in rows
        ]

    def _recent_tags(self, ids: Sequence[int]) -> dict[int, list[str]]:
        """Each artifact's RECENT_TAGS newest tags: one LIMIT per artifact, each read from
        the end of its range of ix_tag_artifact_pushed, in one UNION ALL round trip."""
        newest = (t.tag.c.pushed_at.desc(), t.tag.c.id.desc())
        per_artifact = [
            select(t.tag.c.artifact_id, t.tag.c.name, t.tag.c.pushed_at, t.tag.c.id)
            .where(t.tag.c.artifact_id == artifact_id)
            .order_by(*newest)
            .limit(RECENT_TAGS)
            .subquery()
            for artifact_id in sorted(set(ids))
        ]
        query = union_all(*(select(q) for q in per_artifact))
        rows = sorted(self.conn.execute(query), key=lambda r: (r.pushed_at, r.id), reverse=True)
        recent: dict[int, list[str]] = defaultdict(list)
        for row in rows:
            recent[row.artifact_id].append(row.name)
        return recent

    def _tag_counts(self, ids: Sequence[int]) -> dict[int, int]:
        rows = self.conn.execute(
            select(t.tag.c.artifact_id, func.count().label("tags"))
            .where(t.tag.c.artifact_id.in_(list(ids)))
            .group_by(t.tag.c.artifact_id)
        )
        return {r.artifact_id: int(r.tags) for r in rows}

    def _referrer_counts(self, image_id: int, digests: Sequence[str]) -> dict[str, int]:
        rows = self.conn.execute(
            select(t.artifact.c.subject_digest, func.count().label("referrers"))
            .where(
                t.artifact.c.image_id == image_id, t.artifact.c.subject_digest.in_(list(digests))
            )
            .group_by(t.artifact.c.subject_digest)
        )
        return {r.subject_digest: int(r.referrers) for r in rows}

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
