"""Registries (namespaces): `RegistryStore`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from moorage.domain.kernel.model import Project, Registry, RegistryUsage
from moorage.metadata import tables as t
from moorage.metadata.sql import HAS_ARTIFACTS, insert_unique, new_id


class SqlRegistryStore:
    """`RegistryStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_registry(self, name: str, project: Project, now: datetime) -> Registry:
        result = insert_unique(
            self.conn,
            insert(t.registry).values(name=name, project_id=project.id, created_at=now),
            f"registry {name!r}",
        )
        return Registry(new_id(result), name, now, project.name)

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
            .where(HAS_ARTIFACTS)
            .group_by(t.image.c.registry_id)
            .subquery()
        )
        # Stored bytes: the distinct blobs the registry's artifacts reference, each once
        # (image links are permissions, not storage: an unreferenced blob is GC's to free).
        linked = (
            select(t.image.c.registry_id, t.artifact_blob.c.digest)
            .select_from(t.artifact_blob)
            .join(t.artifact, t.artifact.c.id == t.artifact_blob.c.artifact_id)
            .join(t.image, t.image.c.id == t.artifact.c.image_id)
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
        query = select(func.count()).where(t.image.c.registry_id == registry_id, HAS_ARTIFACTS)
        return int(self.conn.execute(query).scalar_one())

    def registry_tags(self, registry_id: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(t.image.c.name, t.tag.c.name.label("tag"))
            .join(t.tag, t.tag.c.image_id == t.image.c.id)
            .where(t.image.c.registry_id == registry_id)
        )
        return [(r.name, r.tag) for r in rows]
