"""The protocol in proxy-cache registries (docs/proxy-cache.md): pulls go through the
proxy-cache service before the ordinary handlers serve them from the store; everything that
would change the registry through the protocol is refused.

A manifest answer says how the cache answered in `Moorage-Cache` (`hit`, `miss`,
`revalidated`, or `stale; upstream unreachable`). A blob not cached streams to the client
as it arrives from upstream and goes into the store at the same time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moorage.api.oci import blobs, discovery, manifests
from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError
from moorage.domain.kernel.errors import BlobNotFound, ImageNotFound
from moorage.domain.proxycache.errors import PushRefused, UpstreamUnavailable
from moorage.domain.proxycache.model import Upstream
from moorage.oci import errors as oci

Handler = Callable[..., Awaitable[Response]]
CACHE_HEADER = "Moorage-Cache"
_MANIFEST_READS = frozenset({manifests.get, manifests.head})
_LISTS = frozenset({discovery.tags, discovery.referrers})  # answered from what is cached


async def serve(
    ctx: OciContext, request: Request, handler: Handler, params: dict[str, Any]
) -> Response:
    """`handler`'s answer, through the proxy cache when the registry is one."""
    registry = params["name"].partition("/")[0]
    upstream = await ctx.proxy_cache.upstream_of(registry)
    if upstream is None:
        return await handler(ctx, request, **params)
    try:
        if handler in _MANIFEST_READS:
            return await _manifest(ctx, request, handler, upstream, params)
        if handler is blobs.get or handler is blobs.head:
            return await _blob(ctx, request, handler, upstream, params)
        if handler in _LISTS:
            return await handler(ctx, request, **params)
    except UpstreamUnavailable as exc:
        raise OciError(oci.UNAVAILABLE, str(exc), status=502) from None
    raise OciError(oci.DENIED, str(PushRefused(registry, upstream.url)))


async def _manifest(
    ctx: OciContext, request: Request, handler: Handler, upstream: Upstream, params: dict[str, Any]
) -> Response:
    how = await ctx.proxy_cache.refresh_manifest(upstream, params["name"], params["reference"])
    response = await handler(ctx, request, **params)
    response.headers[CACHE_HEADER] = how
    return response


async def _blob(
    ctx: OciContext, request: Request, handler: Handler, upstream: Upstream, params: dict[str, Any]
) -> Response:
    name, digest = params["name"], params["digest"]
    try:
        response = await handler(ctx, request, **params)
        ctx.proxy_cache.served_from_store()
        return response
    except (BlobNotFound, ImageNotFound):
        pass  # not cached (yet)
    if handler is blobs.head:
        size = await ctx.proxy_cache.blob_size(upstream, name, digest)
        return Response(None, headers=blobs.blob_headers(digest, size), media_type=blobs.OCTET)
    fetched = await ctx.proxy_cache.fetch_blob(upstream, name, digest)
    if fetched is None:  # another request's fetch stored it meanwhile
        return await handler(ctx, request, **params)
    headers = blobs.blob_headers(fetched.digest, fetched.size)
    headers[CACHE_HEADER] = "miss"
    return StreamingResponse(fetched.chunks, headers=headers, media_type=blobs.OCTET)
