"""Proxy-cache records: the upstream a registry caches, and the marks on what it cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Upstream:
    """The registry a proxy-cache registry caches. The password is never part of a record
    shown back: `has_password`."""

    registry_id: int
    registry: str
    url: str
    namespace: str
    """A prefix of every repository upstream ("library" for Docker Hub's official images,
    say); "" for none."""
    username: str | None
    has_password: bool
    verify_tls: bool
    revalidate_seconds: int | None
    """How long a cached tag is served without asking upstream; None: the deployment's
    `proxy_cache_revalidate_seconds`."""
    created_at: datetime

    def source(self, image: str) -> str:
        """Where an image of this registry comes from, as the marks show it."""
        path = f"{self.namespace}/{image}" if self.namespace else image
        return f"{self.url.rstrip('/')}/{path}"


@dataclass(frozen=True, slots=True)
class UpstreamDraft:
    """What a caller asks a proxy-cache registry's upstream to be."""

    url: str
    namespace: str = ""
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    revalidate_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class CachedTag:
    """A tag of a proxy-cache registry as stored: the digest it names and when upstream last
    confirmed it (None: never, so it is revalidated at the next pull)."""

    image_id: int
    digest: str
    revalidated_at: datetime | None


@dataclass(frozen=True, slots=True)
class CacheMark:
    """An artifact that came from upstream: from where, when, and when upstream last
    confirmed one of its tags."""

    artifact_id: int
    upstream: str
    cached_at: datetime
    revalidated_at: datetime
