"""Queries and writes of the metadata store; every function returns domain records."""

from __future__ import annotations

import contextlib
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
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from moorage.domain.content.ports import (
    ArtifactStore,
    BlobIndex,
    ImageStore,
    PullRecord,
    TagStore,
    UploadStore,
)
from moorage.domain.identity.ports import AccessKeyStore, ProjectStore, UserStore
from moorage.domain.jobs.ports import ExecutionStore, JobQueue, ScheduleStore
from moorage.domain.kernel.errors import Conflict
from moorage.domain.kernel.model import (
    AccessKey,
    Artifact,
    ArtifactHead,
    Blob,
    DriverState,
    Image,
    Member,
    NewArtifact,
    Project,
    Referrer,
    Registry,
    RegistryUsage,
    Role,
    Tag,
    UploadSession,
    User,
)
from moorage.domain.kernel.ports import RegistryStore
from moorage.domain.policies.ports import PolicyStore
from moorage.domain.webhooks.ports import WebhookOutbox, WebhookStore
from moorage.metadata import tables as t
from moorage.metadata.browse import BrowseQueries
from moorage.metadata.policies import PolicyQueries
from moorage.metadata.queue import QueueQueries
from moorage.metadata.tables import BLOB_LIVE, BLOB_QUARANTINED
from moorage.metadata.webhooks import WebhookQueries


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


_ARTIFACT_BY_DIGEST = _resolve_statement(by_digest=True)
_ARTIFACT_BY_TAG = _resolve_statement(by_digest=False)
_ROLE_IN_REGISTRY = (
    select(t.project_member.c.role)
    .join(t.registry, t.registry.c.project_id == t.project_member.c.project_id)
    .where(
        t.project_member.c.user_id == bindparam("user_id"),
        t.registry.c.name == bindparam("registry"),
    )
)
# Images count and list only while they hold artifacts (their blob links outlive them).
_HAS_ARTIFACTS = exists().where(t.artifact.c.image_id == t.image.c.id)
_LIVE_BLOB = t.blob.c.status == BLOB_LIVE

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
_MANIFEST_BODY = select(t.artifact.c.manifest).where(t.artifact.c.id == bindparam("id"))


def _earlier(column: Any, at: datetime) -> ColumnElement[bool]:
    return or_(column.is_(None), column < at)


def _is_unique_violation(exc: IntegrityError) -> bool:
    """A duplicate key, as opposed to a NOT NULL or foreign-key failure (a bug, not a clash)."""
    if getattr(exc.orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        return True
    return "UNIQUE constraint failed" in str(exc.orig)  # SQLite


class SqlMetadataStore(BrowseQueries, QueueQueries, PolicyQueries, WebhookQueries):
    """`Transaction` over one SQLAlchemy connection inside an open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._postgres = conn.dialect.name == "postgresql"

    def _insert_unique(self, stmt: Any, what: str) -> Any:
        """Run an INSERT; a unique violation becomes Conflict without spoiling the transaction."""
        savepoint = self.conn.begin_nested()
        try:
            result = self.conn.execute(stmt)
        except IntegrityError as exc:
            savepoint.rollback()
            if not _is_unique_violation(exc):
                raise
            raise Conflict(f"{what} already exists") from None
        savepoint.commit()
        return result

    # the roles (each a view of this one transaction) ----------------------------------

    @property
    def registries(self) -> RegistryStore:
        return self

    @property
    def images(self) -> ImageStore:
        return self

    @property
    def blobs(self) -> BlobIndex:
        return self

    @property
    def uploads(self) -> UploadStore:
        return self

    @property
    def artifacts(self) -> ArtifactStore:
        return self

    @property
    def tags(self) -> TagStore:
        return self

    @property
    def policies(self) -> PolicyStore:
        return self

    @property
    def jobs(self) -> JobQueue:
        return self

    @property
    def schedules(self) -> ScheduleStore:
        return self

    @property
    def executions(self) -> ExecutionStore:
        return self

    @property
    def webhooks(self) -> WebhookStore:
        return self

    @property
    def outbox(self) -> WebhookOutbox:
        return self

    @property
    def users(self) -> UserStore:
        return self

    @property
    def projects(self) -> ProjectStore:
        return self

    @property
    def access_keys(self) -> AccessKeyStore:
        return self

    # registries -----------------------------------------------------------------------

    def create_registry(self, name: str, project: Project, now: datetime) -> Registry:
        result = self._insert_unique(
            insert(t.registry).values(name=name, project_id=project.id, created_at=now),
            f"registry {name!r}",
        )
        return Registry(int(result.inserted_primary_key[0]), name, now, project.name)

    def get_registry(self, name: str) -> Registry | None:
        row = self.conn.execute(
            select(t.registry, t.project.c.name.label("project"))
            .join(t.project, t.project.c.id == t.registry.c.project_id)
            .where(t.registry.c.name == name)
        ).first()
        return Registry(row.id, row.name, row.created_at, row.project) if row else None

    def list_registries(self) -> list[RegistryUsage]:
        return self._registry_usages(None)

    def registry_usage(self, registry_id: int) -> RegistryUsage | None:
        found = self._registry_usages(registry_id)
        return found[0] if found else None

    def _registry_usages(self, registry_id: int | None) -> list[RegistryUsage]:
        images = (
            select(t.image.c.registry_id, func.count().label("n"))
            .where(_HAS_ARTIFACTS)
            .group_by(t.image.c.registry_id)
            .subquery()
        )
        linked = (
            select(t.image.c.registry_id, t.image_blob.c.digest)
            .join(t.image, t.image.c.id == t.image_blob.c.image_id)
            .distinct()
            .subquery()
        )
        blob_bytes = (
            select(linked.c.registry_id, func.sum(t.blob.c.size).label("bytes"))
            .join(t.blob, t.blob.c.digest == linked.c.digest)
            .group_by(linked.c.registry_id)
            .subquery()
        )
        query = (
            select(t.registry, t.project.c.name.label("project"), images.c.n, blob_bytes.c.bytes)
            .join(t.project, t.project.c.id == t.registry.c.project_id)
            .outerjoin(images, images.c.registry_id == t.registry.c.id)
            .outerjoin(blob_bytes, blob_bytes.c.registry_id == t.registry.c.id)
            .order_by(t.registry.c.name)
        )
        if registry_id is not None:
            query = query.where(t.registry.c.id == registry_id)
        rows = self.conn.execute(query)
        return [
            RegistryUsage(
                Registry(r.id, r.name, r.created_at, r.project), int(r.n or 0), int(r.bytes or 0)
            )
            for r in rows
        ]

    def delete_registry(self, registry_id: int) -> None:
        image_ids = select(t.image.c.id).where(t.image.c.registry_id == registry_id)
        for table in (t.tag, t.upload, t.image_blob):
            self.conn.execute(delete(table).where(table.c.image_id.in_(image_ids)))
        artifact_ids = select(t.artifact.c.id).where(t.artifact.c.image_id.in_(image_ids))
        for table in (t.artifact_blob, t.artifact_child):
            self.conn.execute(delete(table).where(table.c.artifact_id.in_(artifact_ids)))
        self.conn.execute(delete(t.artifact).where(t.artifact.c.image_id.in_(image_ids)))
        self.conn.execute(delete(t.image).where(t.image.c.registry_id == registry_id))
        self.conn.execute(delete(t.registry).where(t.registry.c.id == registry_id))

    def registry_image_count(self, registry_id: int) -> int:
        query = select(func.count()).where(t.image.c.registry_id == registry_id, _HAS_ARTIFACTS)
        return int(self.conn.execute(query).scalar_one())

    # images ---------------------------------------------------------------------------

    def get_image(self, registry: str, name: str) -> Image | None:
        row = self.conn.execute(
            select(t.image, t.registry.c.name.label("registry_name"))
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .where(t.registry.c.name == registry, t.image.c.name == name)
        ).first()
        if row is None:
            return None
        return Image(row.id, row.registry_id, row.registry_name, row.name, row.created_at)

    def ensure_image(self, registry: Registry, name: str, now: datetime) -> Image:
        found = self.get_image(registry.name, name)
        if found is not None:
            return found
        try:
            result = self._insert_unique(
                insert(t.image).values(registry_id=registry.id, name=name, created_at=now),
                "image",
            )
        except Conflict:  # created concurrently by another push
            found = self.get_image(registry.name, name)
            assert found is not None
            return found
        return Image(int(result.inserted_primary_key[0]), registry.id, registry.name, name, now)

    def lock_image(self, image_id: int) -> None:
        # SQLite serialises writers with BEGIN IMMEDIATE (see uow.py); PostgreSQL locks the row.
        if self._postgres:
            self.conn.execute(
                select(t.image.c.id).where(t.image.c.id == image_id).with_for_update()
            )

    def _repository_expr(self) -> ColumnElement[str]:
        expr = t.registry.c.name + literal("/") + t.image.c.name
        return expr.collate("C") if self._postgres else expr

    def catalog(self, last: str | None, limit: int, registries: set[str] | None) -> list[str]:
        name = self._repository_expr()
        # An image whose artifacts were all deleted keeps its blob links but is not listed.
        query = (
            select(name.label("repository"))
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .where(_HAS_ARTIFACTS)
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

    # blobs ----------------------------------------------------------------------------

    def get_blob(self, digest: str) -> Blob | None:
        row = self.conn.execute(select(t.blob).where(t.blob.c.digest == digest, _LIVE_BLOB)).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def get_linked_blob(self, image_id: int, digest: str) -> Blob | None:
        row = self.conn.execute(
            select(t.blob)
            .join(t.image_blob, t.image_blob.c.digest == t.blob.c.digest)
            .where(t.image_blob.c.image_id == image_id, t.blob.c.digest == digest, _LIVE_BLOB)
        ).first()
        return Blob(row.digest, row.size, row.created_at) if row else None

    def add_blob(self, digest: str, size: int, now: datetime) -> None:
        row = self.conn.execute(
            select(t.blob.c.size, t.blob.c.status).where(t.blob.c.digest == digest)
        ).first()
        if row is None:
            # Committed concurrently by another upload of the same content: same row.
            with contextlib.suppress(Conflict):
                self._insert_unique(
                    insert(t.blob).values(
                        digest=digest, size=size, created_at=now, status=BLOB_LIVE
                    ),
                    "blob",
                )
        elif row.status != BLOB_LIVE or row.size != size:
            # Verified bytes replaced a quarantined (or mis-sized) object: live again.
            self.conn.execute(
                update(t.blob).where(t.blob.c.digest == digest).values(size=size, status=BLOB_LIVE)
            )

    def quarantine_blob(self, digest: str) -> bool:
        result = self.conn.execute(
            update(t.blob)
            .where(t.blob.c.digest == digest, _LIVE_BLOB)
            .values(status=BLOB_QUARANTINED)
        )
        return bool(result.rowcount)

    def link_blob(self, image_id: int, digest: str, now: datetime) -> None:
        linked = exists().where(
            t.image_blob.c.image_id == image_id, t.image_blob.c.digest == digest
        )
        if self.conn.execute(select(linked)).scalar():
            return
        with contextlib.suppress(Conflict):
            self._insert_unique(
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
                _LIVE_BLOB,
            )
        )
        return {row.digest for row in rows}

    # uploads --------------------------------------------------------------------------

    def create_upload(self, session: UploadSession) -> None:
        self.conn.execute(
            insert(t.upload).values(
                id=session.id,
                image_id=session.image_id,
                size=session.size,
                driver_state=session.driver_state,
                started_at=session.started_at,
                updated_at=session.updated_at,
            )
        )

    @staticmethod
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

    def get_upload(self, upload_id: str) -> UploadSession | None:
        row = self.conn.execute(select(t.upload).where(t.upload.c.id == upload_id)).first()
        return self._upload(row) if row else None

    def get_upload_in(self, registry: str, image: str, upload_id: str) -> UploadSession | None:
        row = self.conn.execute(
            _UPLOAD_IN_IMAGE, {"registry": registry, "image": image, "id": upload_id}
        ).first()
        return self._upload(row) if row else None

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
        unclaimed = or_(t.upload.c.writer.is_(None), t.upload.c.updated_at < stale_before)
        if dead_writer is not None:
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
        stmt = delete(t.upload).where(t.upload.c.id == upload_id)
        if writer is not None:
            stmt = stmt.where(t.upload.c.writer == writer)
        return bool(self.conn.execute(stmt).rowcount)

    def expired_uploads(self, before: datetime, limit: int) -> list[UploadSession]:
        rows = self.conn.execute(
            select(t.upload).where(t.upload.c.updated_at < before).limit(limit)
        )
        return [self._upload(row) for row in rows]

    # artifacts and tags -----------------------------------------------------------------

    def resolve_artifact(
        self, registry: str, image: str, reference: str, by_digest: bool
    ) -> tuple[int, ArtifactHead] | None:
        statement = _ARTIFACT_BY_DIGEST if by_digest else _ARTIFACT_BY_TAG
        row = self.conn.execute(
            statement, {"registry": registry, "image": image, "reference": reference}
        ).first()
        if row is None:
            return None
        return row.image_id, ArtifactHead(row.id, row.digest, row.media_type, row.size)

    def manifest_body(self, artifact_id: int) -> bytes:
        return bytes(self.conn.execute(_MANIFEST_BODY, {"id": artifact_id}).scalar_one())

    def get_artifact(self, image_id: int, digest: str) -> Artifact | None:
        row = self.conn.execute(
            select(t.artifact).where(
                t.artifact.c.image_id == image_id, t.artifact.c.digest == digest
            )
        ).first()
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
        result = self._insert_unique(
            insert(t.artifact).values(
                image_id=image_id,
                digest=artifact.digest,
                media_type=artifact.media_type,
                artifact_type=artifact.artifact_type,
                size=len(artifact.body),
                manifest=artifact.body,
                subject_digest=artifact.subject_digest,
                annotations=artifact.annotations,
                platforms=list(artifact.platforms),
                pushed_at=now,
                created_at=now,
            ),
            f"artifact {artifact.digest}",
        )
        artifact_id = int(result.inserted_primary_key[0])
        if artifact.blob_digests:
            self.conn.execute(
                insert(t.artifact_blob),
                [{"artifact_id": artifact_id, "digest": d} for d in artifact.blob_digests],
            )
        if artifact.child_digests:
            self.conn.execute(
                insert(t.artifact_child),
                [{"artifact_id": artifact_id, "digest": d} for d in set(artifact.child_digests)],
            )
        return artifact_id

    def touch_artifact_push(self, artifact_id: int, now: datetime) -> None:
        self.conn.execute(
            update(t.artifact).where(t.artifact.c.id == artifact_id).values(pushed_at=now)
        )

    def get_tag(self, image_id: int, name: str) -> Tag | None:
        row = self.conn.execute(
            select(t.tag, t.artifact.c.digest)
            .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
            .where(t.tag.c.image_id == image_id, t.tag.c.name == name)
        ).first()
        if row is None:
            return None
        return Tag(row.name, row.artifact_id, row.digest, row.pushed_at, row.pulled_at)

    def put_tag(self, image_id: int, name: str, artifact_id: int, now: datetime) -> None:
        moved = self.conn.execute(
            update(t.tag)
            .where(t.tag.c.image_id == image_id, t.tag.c.name == name)
            .values(artifact_id=artifact_id, pushed_at=now)
        )
        if not moved.rowcount:
            self.conn.execute(
                insert(t.tag).values(
                    image_id=image_id, name=name, artifact_id=artifact_id, pushed_at=now
                )
            )

    def delete_tag(self, image_id: int, name: str) -> bool:
        result = self.conn.execute(
            delete(t.tag).where(t.tag.c.image_id == image_id, t.tag.c.name == name)
        )
        return bool(result.rowcount)

    def delete_artifact(self, artifact_id: int) -> None:
        if self._postgres:  # the artifact row first, then its tags: see record_pulls
            self.conn.execute(
                select(t.artifact.c.id).where(t.artifact.c.id == artifact_id).with_for_update()
            )
        for table in (t.tag, t.artifact_blob, t.artifact_child):
            self.conn.execute(delete(table).where(table.c.artifact_id == artifact_id))
        self.conn.execute(delete(t.artifact).where(t.artifact.c.id == artifact_id))

    def artifact_tags(self, artifact_id: int) -> list[str]:
        query = select(t.tag.c.name).where(t.tag.c.artifact_id == artifact_id)
        return sorted(self.conn.execute(query).scalars())

    def registry_tags(self, registry_id: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(t.image.c.name, t.tag.c.name.label("tag"))
            .join(t.tag, t.tag.c.image_id == t.image.c.id)
            .where(t.image.c.registry_id == registry_id)
        )
        return [(r.name, r.tag) for r in rows]

    def artifact_parents(self, image_id: int, digest: str) -> list[str]:
        rows = self.conn.execute(
            select(t.artifact.c.digest)
            .join(t.artifact_child, t.artifact_child.c.artifact_id == t.artifact.c.id)
            .where(t.artifact.c.image_id == image_id, t.artifact_child.c.digest == digest)
        )
        return [row.digest for row in rows]

    def list_tags(self, image_id: int, last: str | None, limit: int | None) -> list[str]:
        query = select(t.tag.c.name).where(t.tag.c.image_id == image_id).order_by(t.tag.c.name)
        if last:
            query = query.where(t.tag.c.name > last)
        if limit is not None:
            query = query.limit(limit)
        return list(self.conn.execute(query).scalars())

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
                .where(_earlier(t.artifact.c.pulled_at, pull.at))
                .values(pulled_at=pull.at)
            )
        tagged = sorted((p for p in pulls if p.tag), key=lambda p: (p.artifact_id, p.tag, p.at))
        for pull in tagged:
            self.conn.execute(
                update(t.tag)
                .where(t.tag.c.image_id == pull.image_id, t.tag.c.name == pull.tag)
                .where(_earlier(t.tag.c.pulled_at, pull.at))
                .values(pulled_at=pull.at)
            )

    # users ----------------------------------------------------------------------------

    def get_user(self, username: str) -> User | None:
        row = self.conn.execute(select(t.user).where(t.user.c.username == username)).first()
        if row is None:
            return None
        return User(row.id, row.username, row.password_hash, row.is_admin, row.created_at)

    def create_user(self, username: str, password_hash: str, is_admin: bool, now: datetime) -> User:
        result = self._insert_unique(
            insert(t.user).values(
                username=username, password_hash=password_hash, is_admin=is_admin, created_at=now
            ),
            f"user {username!r}",
        )
        return User(int(result.inserted_primary_key[0]), username, password_hash, is_admin, now)

    def count_users(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.user)).scalar_one())

    def list_users(self) -> list[User]:
        rows = self.conn.execute(select(t.user).order_by(t.user.c.username))
        return [User(r.id, r.username, r.password_hash, r.is_admin, r.created_at) for r in rows]

    def get_user_by_id(self, user_id: int) -> User | None:
        row = self.conn.execute(select(t.user).where(t.user.c.id == user_id)).first()
        if row is None:
            return None
        return User(row.id, row.username, row.password_hash, row.is_admin, row.created_at)

    def delete_user(self, user_id: int) -> None:
        for table in (t.project_member, t.access_key):
            self.conn.execute(delete(table).where(table.c.user_id == user_id))
        self.conn.execute(delete(t.user).where(t.user.c.id == user_id))

    def set_password(self, user_id: int, password_hash: str) -> None:
        self.conn.execute(
            update(t.user).where(t.user.c.id == user_id).values(password_hash=password_hash)
        )

    # projects and members ---------------------------------------------------------------

    def create_project(self, name: str, now: datetime) -> Project:
        result = self._insert_unique(
            insert(t.project).values(name=name, created_at=now), f"project {name!r}"
        )
        return Project(int(result.inserted_primary_key[0]), name, now)

    def get_project(self, name: str) -> Project | None:
        row = self.conn.execute(select(t.project).where(t.project.c.name == name)).first()
        return Project(row.id, row.name, row.created_at) if row else None

    def list_projects(self) -> list[Project]:
        rows = self.conn.execute(select(t.project).order_by(t.project.c.name))
        return [Project(r.id, r.name, r.created_at) for r in rows]

    def set_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        changed = self.conn.execute(
            update(t.project_member)
            .where(t.project_member.c.project_id == project_id)
            .where(t.project_member.c.user_id == user_id)
            .values(role=role.value)
        )
        if not changed.rowcount:
            self.conn.execute(
                insert(t.project_member).values(
                    project_id=project_id, user_id=user_id, role=role.value, created_at=now
                )
            )

    def remove_member(self, project_id: int, user_id: int) -> bool:
        result = self.conn.execute(
            delete(t.project_member).where(
                t.project_member.c.project_id == project_id,
                t.project_member.c.user_id == user_id,
            )
        )
        return bool(result.rowcount)

    def list_members(self, project_id: int) -> list[Member]:
        rows = self.conn.execute(
            select(t.project_member, t.user.c.username, t.project.c.name.label("project"))
            .join(t.user, t.user.c.id == t.project_member.c.user_id)
            .join(t.project, t.project.c.id == t.project_member.c.project_id)
            .where(t.project_member.c.project_id == project_id)
            .order_by(t.user.c.username)
        )
        return [Member(r.project, r.username, Role(r.role), r.created_at) for r in rows]

    def role_in_registry(self, user_id: int, registry: str) -> Role | None:
        row = self.conn.execute(_ROLE_IN_REGISTRY, {"user_id": user_id, "registry": registry})
        role = row.scalar()
        return Role(role) if role else None

    def role_in_project(self, user_id: int, project_id: int) -> Role | None:
        role = self.conn.execute(
            select(t.project_member.c.role).where(
                t.project_member.c.user_id == user_id,
                t.project_member.c.project_id == project_id,
            )
        ).scalar()
        return Role(role) if role else None

    def memberships(self, user_id: int) -> list[tuple[str, Role]]:
        rows = self.conn.execute(
            select(t.project.c.name, t.project_member.c.role)
            .join(t.project, t.project.c.id == t.project_member.c.project_id)
            .where(t.project_member.c.user_id == user_id)
            .order_by(t.project.c.name)
        )
        return [(r.name, Role(r.role)) for r in rows]

    def readable_registries(self, user_id: int) -> set[str]:
        rows = self.conn.execute(
            select(t.registry.c.name)
            .join(t.project_member, t.project_member.c.project_id == t.registry.c.project_id)
            .where(t.project_member.c.user_id == user_id)
        )
        return set(rows.scalars())

    # access keys ------------------------------------------------------------------------

    @staticmethod
    def _key(row: Any) -> AccessKey:
        return AccessKey(
            row.id,
            row.user_id,
            row.key_id,
            row.secret_hash,
            row.enabled,
            row.created_at,
            row.last_used_at,
        )

    def create_access_key(
        self, user_id: int, key_id: str, secret_hash: str, now: datetime
    ) -> AccessKey:
        result = self._insert_unique(
            insert(t.access_key).values(
                user_id=user_id,
                key_id=key_id,
                secret_hash=secret_hash,
                enabled=True,
                created_at=now,
            ),
            "access key",
        )
        return AccessKey(
            int(result.inserted_primary_key[0]), user_id, key_id, secret_hash, True, now, None
        )

    def get_access_key(self, key_id: str) -> AccessKey | None:
        row = self.conn.execute(select(t.access_key).where(t.access_key.c.key_id == key_id)).first()
        return self._key(row) if row else None

    def list_access_keys(self, user_id: int) -> list[AccessKey]:
        rows = self.conn.execute(
            select(t.access_key)
            .where(t.access_key.c.user_id == user_id)
            .order_by(t.access_key.c.created_at)
        )
        return [self._key(r) for r in rows]

    def set_access_key_enabled(self, key_id: str, enabled: bool) -> bool:
        result = self.conn.execute(
            update(t.access_key).where(t.access_key.c.key_id == key_id).values(enabled=enabled)
        )
        return bool(result.rowcount)

    def delete_access_key(self, key_id: str) -> bool:
        result = self.conn.execute(delete(t.access_key).where(t.access_key.c.key_id == key_id))
        return bool(result.rowcount)

    def touch_access_key(self, key_id: str, now: datetime) -> None:
        self.conn.execute(
            update(t.access_key).where(t.access_key.c.key_id == key_id).values(last_used_at=now)
        )
