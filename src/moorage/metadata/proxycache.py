"""Proxy caches in the metadata store: `ProxyCacheStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.proxycache.model import CachedTag, CacheMark, Upstream
from moorage.metadata import tables as t
from moorage.metadata.sql import insert_unique

_UP = t.proxy_cache
_ART = t.cached_artifact
_TAG = t.cached_tag


class SqlProxyCacheStore:
    """`ProxyCacheStore` in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_upstream(self, registry_id: int, values: dict[str, Any], now: datetime) -> None:
        insert_unique(
            self.conn,
            insert(_UP).values(registry_id=registry_id, created_at=now, **values),
            "proxy cache",
        )

    def list_upstreams(self) -> list[Upstream]:
        rows = self.conn.execute(
            select(
                *[c for c in _UP.c if c.name != "secret"],
                _UP.c.secret.is_not(None).label("has_password"),
                t.registry.c.name.label("registry"),
            )
            .join(t.registry, t.registry.c.id == _UP.c.registry_id)
            .order_by(t.registry.c.name)
        )
        return [
            Upstream(
                registry_id=r.registry_id,
                registry=r.registry,
                url=r.url,
                namespace=r.namespace,
                username=r.username,
                has_password=bool(r.has_password),
                verify_tls=r.verify_tls,
                revalidate_seconds=r.revalidate_seconds,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def upstream_secret(self, registry_id: int) -> bytes | None:
        found = self.conn.execute(
            select(_UP.c.secret).where(_UP.c.registry_id == registry_id)
        ).scalar()
        return bytes(found) if found is not None else None

    def tag_state(self, registry: str, image: str, tag: str) -> CachedTag | None:
        row = self.conn.execute(
            select(t.tag.c.image_id, t.artifact.c.digest, _TAG.c.revalidated_at)
            .select_from(t.tag)
            .join(t.image, t.image.c.id == t.tag.c.image_id)
            .join(t.registry, t.registry.c.id == t.image.c.registry_id)
            .join(t.artifact, t.artifact.c.id == t.tag.c.artifact_id)
            .outerjoin(_TAG, _TAG.c.tag_id == t.tag.c.id)
            .where(t.registry.c.name == registry, t.image.c.name == image, t.tag.c.name == tag)
        ).first()
        return CachedTag(row.image_id, row.digest, row.revalidated_at) if row else None

    def mark(
        self, image_id: int, digest: str, upstream: str, tag: str | None, now: datetime
    ) -> None:
        artifact_id = self.conn.execute(
            select(t.artifact.c.id).where(
                t.artifact.c.image_id == image_id, t.artifact.c.digest == digest
            )
        ).scalar()
        if artifact_id is None:
            return
        self._upsert(
            _ART,
            _ART.c.artifact_id == artifact_id,
            {"upstream": upstream, "revalidated_at": now},
            {"artifact_id": artifact_id, "cached_at": now},
        )
        if tag is None:
            return
        tag_id = self.conn.execute(
            select(t.tag.c.id).where(t.tag.c.image_id == image_id, t.tag.c.name == tag)
        ).scalar()
        if tag_id is not None:
            self._upsert(_TAG, _TAG.c.tag_id == tag_id, {"revalidated_at": now}, {"tag_id": tag_id})

    def _upsert(self, table: Any, where: Any, values: dict[str, Any], key: dict[str, Any]) -> None:
        """Update the row, or insert it; a row inserted meanwhile by another transaction is
        updated after all."""
        if self.conn.execute(update(table).where(where).values(**values)).rowcount:
            return
        try:
            insert_unique(self.conn, insert(table).values(**key, **values), table.name)
        except AlreadyExists:
            self.conn.execute(update(table).where(where).values(**values))

    def marks(self, artifact_ids: Sequence[int]) -> dict[int, CacheMark]:
        rows = self.conn.execute(select(_ART).where(_ART.c.artifact_id.in_(list(artifact_ids))))
        return {
            r.artifact_id: CacheMark(r.artifact_id, r.upstream, r.cached_at, r.revalidated_at)
            for r in rows
        }
