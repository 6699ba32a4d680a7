"""Upstream registries of proxy caches (`moorage.domain.proxycache.ports.UpstreamRegistry`)
over the replication OCI client: the same token flow, redirects pinned by the address guard,
and resumed downloads, with what a pull-through cache asks besides (a blob's size) and fewer
retries (a pull waits for them; a dead upstream must be noticed within seconds, so that the
cached copy is served instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from moorage.domain.replication.endpoints import BlobRef
from moorage.outbound.oci_client import Backoff, OciRegistry, _scope

UPSTREAM_BACKOFF = Backoff(attempts=2, first=0.2, longest=1.0)
UPSTREAM_TIMEOUT = httpx.Timeout(30.0, connect=3.0)


class ProxyUpstream(OciRegistry):
    """One upstream registry (or a namespace of one) as a proxy cache reads it."""

    async def blob_size(self, repository: str, digest: str) -> int | None:
        name = self._name(repository)
        url = self._url(f"/v2/{name}/blobs/{digest}")
        response = await self._send("HEAD", url, [_scope(name, "pull")])
        await response.aclose()
        if response.status_code == 404:
            return None
        length = response.headers.get("content-length", "")
        if response.status_code == 200 and length.isdigit():
            return int(length)
        if response.is_redirect:  # the size is where the blob is
            return await self._size_at(url.join(response.headers["location"]))
        raise self._fail(response, f"asking for blob {digest}")

    async def _size_at(self, url: httpx.URL) -> int | None:
        response = await self._retrying(lambda: self._dial("HEAD", url, {}))
        length = response.headers.get("content-length", "")
        if response.status_code == 200 and length.isdigit():
            return int(length)
        raise self._fail(response, f"asking {url.host} for a blob's size")

    def read_blob(self, repository: str, digest: str, size: int) -> AsyncIterator[bytes]:
        return self.open_blob(repository, BlobRef(digest, size))(0)
