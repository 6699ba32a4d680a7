"""Upstream registries of proxy caches (`moorage.domain.proxycache.ports.UpstreamRegistry`)
over the replication OCI client: the same token flow, redirects pinned by the address guard,
and resumed downloads, with fewer retries (a pull waits for them; a dead upstream must be
noticed within seconds, so that the cached copy is served instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from moorage.domain.replication.endpoints import BlobRef
from moorage.outbound.oci_client import Backoff, OciRegistry

UPSTREAM_BACKOFF = Backoff(attempts=2, first=0.2, longest=1.0)
UPSTREAM_TIMEOUT = httpx.Timeout(30.0, connect=3.0)


class ProxyUpstream(OciRegistry):
    """One upstream registry (or a namespace of one) as a proxy cache reads it."""

    def read_blob(self, repository: str, digest: str, size: int) -> AsyncIterator[bytes]:
        return self.open_blob(repository, BlobRef(digest, size))(0)
