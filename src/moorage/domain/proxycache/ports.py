"""Role ports of proxy caches: the store of upstreams and cache marks, the upstream registry
itself, and the box that seals upstream passwords at rest (the same sealing replication
uses for its remote passwords)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from moorage.domain.kernel.ports import RegistryTx

if TYPE_CHECKING:
    from moorage.domain.proxycache.model import CachedTag, CacheMark, Upstream


class ProxyCacheStore(Protocol):
    """Upstreams of proxy-cache registries (one per registry, with its sealed password) and
    the marks on what they cached.

    `values` of an upstream: url, namespace, username, secret (sealed bytes or None),
    verify_tls, revalidate_seconds."""

    def add_upstream(self, registry_id: int, values: dict[str, Any], now: datetime) -> None:
        """Make the registry a proxy cache of the upstream `values` describe."""

    def list_upstreams(self) -> list[Upstream]:
        """Every proxy-cache registry's upstream, by registry name."""

    def upstream_secret(self, registry_id: int) -> bytes | None:
        """The sealed upstream password, or None when there is none."""

    def tag_state(self, registry: str, image: str, tag: str) -> CachedTag | None:
        """The tag as stored, with its last revalidation; None when there is no such tag."""

    def mark(
        self, image_id: int, digest: str, upstream: str, tag: str | None, now: datetime
    ) -> None:
        """Note that the artifact `digest` of the image came from `upstream` and was
        confirmed by it now (and so was `tag`, when given, which names it)."""

    def marks(self, artifact_ids: Sequence[int]) -> dict[int, CacheMark]:
        """The marks of those of the artifacts that came from an upstream."""


class ProxyCacheRoles(Protocol):
    """Proxy caches' own role, as the whole transaction offers it."""

    @property
    def proxy_cache(self) -> ProxyCacheStore: ...


class ProxyCacheTx(ProxyCacheRoles, RegistryTx, Protocol):
    """What the proxy-cache service uses in its own transactions."""


class UpstreamManifest(Protocol):
    """A manifest as upstream stores it: its exact bytes, media type and digest."""

    @property
    def digest(self) -> str: ...

    @property
    def media_type(self) -> str: ...

    @property
    def body(self) -> bytes: ...


class UpstreamRegistry(Protocol):
    """The registry a proxy cache reads from (names relative to its namespace). Every method
    raises some exception when the upstream cannot answer; absent content is None."""

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """What a tag (or digest) names upstream: a HEAD request."""

    async def get_manifest(self, repository: str, reference: str) -> UpstreamManifest | None:
        """A manifest by digest (verified against it) or tag."""

    async def blob_size(self, repository: str, digest: str) -> int | None:
        """The blob's size (a HEAD request); None when upstream does not have it."""

    def read_blob(self, repository: str, digest: str, size: int) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive (a broken download goes on with a Range request)."""

    async def close(self) -> None:
        """Let go of the connections."""


class UpstreamFactory(Protocol):
    """Builds upstream clients; the composition root knows the adapter and the address guard."""

    def check_url(self, url: str) -> None:
        """Raise `RefusedAddress` for an address moorage does not call (a private one the
        operator did not allow)."""

    def open(self, upstream: Upstream, password: str | None) -> UpstreamRegistry: ...


class SecretBox(Protocol):
    """Seals secrets stored at rest with the deployment's key."""

    def seal(self, secret: str) -> bytes: ...

    def open(self, sealed: bytes) -> str: ...
