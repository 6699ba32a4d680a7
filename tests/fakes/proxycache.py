"""Proxy caches in memory: the store over `proxy_cache`, `cached_artifact` and `cached_tag`
rows, and an upstream registry in memory that counts what it is asked and can go down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moorage.domain.kernel.errors import AlreadyExists
from moorage.domain.proxycache.model import CachedTag, CacheMark, Upstream
from moorage.domain.proxycache.ports import ProxyCacheStore
from tests.fakes.rows import UniqueViolation, find_row, insert_row, update_row
from tests.fakes.state import MemoryState

UPSTREAM, ART, TAG = "proxy_cache", "cached_artifact", "cached_tag"


class MemoryProxyCacheStore:
    """`ProxyCacheStore` over rows shaped like the SQL tables."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def add_upstream(self, registry_id: int, values: dict[str, Any], now: datetime) -> None:
        row = {"registry_id": registry_id, "created_at": now, **values}
        try:
            insert_row(self.state, UPSTREAM, row)
        except UniqueViolation:
            raise AlreadyExists("proxy cache already exists") from None

    def list_upstreams(self) -> list[Upstream]:
        registries = self.state.table("registry")
        found = [
            Upstream(
                registry_id=row["registry_id"],
                registry=registries[row["registry_id"]]["name"],
                url=row["url"],
                namespace=row["namespace"],
                username=row["username"],
                has_password=row["secret"] is not None,
                verify_tls=row["verify_tls"],
                revalidate_seconds=row["revalidate_seconds"],
                created_at=row["created_at"],
            )
            for row in self.state.table(UPSTREAM).values()
        ]
        return sorted(found, key=lambda u: u.registry)

    def upstream_secret(self, registry_id: int) -> bytes | None:
        row = self.state.table(UPSTREAM).get(registry_id)
        return row["secret"] if row else None

    def tag_state(self, registry: str, image: str, tag: str) -> CachedTag | None:
        reg = find_row(self.state, "registry", name=registry)
        img = reg and find_row(self.state, "image", registry_id=reg["id"], name=image)
        row = img and find_row(self.state, "tag", image_id=img["id"], name=tag)
        if not row:
            return None
        digest = self.state.table("artifact")[row["artifact_id"]]["digest"]
        mark = self.state.table(TAG).get(row["id"])
        return CachedTag(row["image_id"], digest, mark["revalidated_at"] if mark else None)

    def mark(
        self, image_id: int, digest: str, upstream: str, tag: str | None, now: datetime
    ) -> None:
        artifact = find_row(self.state, "artifact", image_id=image_id, digest=digest)
        if artifact is None:
            return
        values = {"upstream": upstream, "revalidated_at": now}
        if not update_row(self.state, ART, artifact["id"], values):
            insert_row(self.state, ART, {"artifact_id": artifact["id"], "cached_at": now, **values})
        row = tag and find_row(self.state, "tag", image_id=image_id, name=tag)
        if row and not update_row(self.state, TAG, row["id"], {"revalidated_at": now}):
            insert_row(self.state, TAG, {"tag_id": row["id"], "revalidated_at": now})

    def marks(self, artifact_ids: Sequence[int]) -> dict[int, CacheMark]:
        rows = self.state.table(ART)
        return {
            i: CacheMark(i, rows[i]["upstream"], rows[i]["cached_at"], rows[i]["revalidated_at"])
            for i in artifact_ids
            if i in rows
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes


@dataclass
class MemoryUpstream:
    """An upstream registry in memory: manifests by tag and digest, blobs by digest (for any
    repository), what was asked of it, and a switch that makes every call fail."""

    manifests: dict[str, Manifest] = field(default_factory=dict)  # "repo:ref" -> manifest
    blobs: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    calls: list[str] = field(default_factory=list)
    chunk: int = 4
    closed: bool = False

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise ConnectionError("upstream is down")

    def put(self, repository: str, tag: str, manifest: Manifest) -> None:
        self.manifests[f"{repository}:{tag}"] = manifest
        self.manifests[f"{repository}:{manifest.digest}"] = manifest

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        await asyncio.sleep(0)  # a network round trip: other requests go on meanwhile
        self._call(f"HEAD manifest {repository}:{reference}")
        found = self.manifests.get(f"{repository}:{reference}")
        return found.digest if found else None

    async def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        await asyncio.sleep(0)
        self._call(f"GET manifest {repository}:{reference}")
        return self.manifests.get(f"{repository}:{reference}")

    async def blob_size(self, repository: str, digest: str) -> int | None:
        self._call(f"HEAD blob {digest}")
        data = self.blobs.get(digest)
        return len(data) if data is not None else None

    async def read_blob(self, repository: str, digest: str, size: int) -> AsyncIterator[bytes]:
        self._call(f"GET blob {digest}")
        data = self.blobs[digest]
        for start in range(0, len(data), self.chunk):
            if self.down:
                raise ConnectionError("upstream went down")
            yield data[start : start + self.chunk]

    async def close(self) -> None:
        self.closed = True


@dataclass
class MemoryUpstreams:
    """`UpstreamFactory` handing out one `MemoryUpstream`; refuses URLs containing "10."."""

    upstream: MemoryUpstream = field(default_factory=MemoryUpstream)
    opened: list[tuple[str, str | None]] = field(default_factory=list)

    def check_url(self, url: str) -> None:
        from moorage.domain.kernel.errors import RefusedAddress

        if "//10." in url:
            raise RefusedAddress(f"{url} is inside the network")

    def open(self, upstream: Upstream, password: str | None) -> MemoryUpstream:
        self.opened.append((upstream.url, password))
        return self.upstream


if __debug__:  # the fake is a ProxyCacheStore (checked by mypy)

    def _is_a_store(store: MemoryProxyCacheStore) -> ProxyCacheStore:
        return store
