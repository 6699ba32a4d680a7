"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from moorage.api.oci.audit import manifest_change, recorded
from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError
from moorage.domain.content.artifacts import is_digest, parse_manifest
from moorage.domain.content.configs import config_facts
from moorage.oci import errors as oci
from moorage.oci.limits import NumberError, parse_count
from moorage.oci.manifests import (
    MAX_MANIFEST_BYTES,
)


def _operator(request: Request) -> str | None:
    """Who is calling, for events (None without authentication)."""
    identity = getattr(request.state, "identity", None)
    return identity.username if identity is not None else None


async def get(ctx: OciContext, request: Request, name: str, reference: str) -> Response:
    return await _fetch(ctx, name, reference, with_body=True, operator=_operator(request))


async def head(ctx: OciContext, request: Request, name: str, reference: str) -> Response:
    return await _fetch(ctx, name, reference, with_body=False)


async def _fetch(
    ctx: OciContext, name: str, reference: str, *, with_body: bool, operator: str | None = None
) -> Response:
    found = await ctx.read(ctx.artifacts.get_manifest, name, reference, with_body=with_body)
    headers = {
        "Docker-Content-Digest": found.head.digest,
        "Content-Length": str(found.head.size),
        "ETag": f'"{found.head.digest}"',
    }
    if found.body is None:
        return Response(None, headers=headers, media_type=found.head.media_type)
    tag = None if is_digest(reference) else reference
    ctx.pulls.record(
        found.image_id,
        found.head.id,
        tag,
        repository=name,
        digest=found.head.digest,
        operator=operator,
    )
    return Response(found.body, headers=headers, media_type=found.head.media_type)


async def _read_capped(request: Request, limit: int) -> bytes:
    try:
        declared = parse_count(request.headers.get("content-length", "").strip())
    except NumberError:  # absent or malformed: the body is capped as it streams anyway
        declared = 0
    if declared > limit:
        raise OciError(oci.SIZE_INVALID, f"manifest is larger than {limit} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise OciError(oci.SIZE_INVALID, f"manifest is larger than {limit} bytes", status=413)
    return bytes(body)


async def put(ctx: OciContext, request: Request, name: str, reference: str) -> Response:
    body = await _read_capped(request, MAX_MANIFEST_BYTES)
    content_type = request.headers.get("content-type", "")
    parsed = await ctx.blocking.compute(len(body), parse_manifest, body, content_type)
    platform, helm_chart = await config_facts(ctx.uploads, parsed)
    write = partial(
        ctx.artifacts.put_manifest,
        name,
        reference,
        content_type,
        body,
        _operator(request),
        platform,
        parsed,
        helm_chart=helm_chart,
    )
    change = manifest_change("PUT", name, reference)
    # A push by tag notes the digest the tag now points at.
    pushed = await recorded(ctx, request, change, write, 201, lambda p: p.digest)
    headers = {
        "Location": f"/v2/{name}/manifests/{pushed.digest}",
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.subject_digest:
        headers["OCI-Subject"] = pushed.subject_digest
    return Response(None, status_code=201, headers=headers)


async def delete(ctx: OciContext, request: Request, name: str, reference: str) -> Response:
    write = partial(ctx.artifacts.delete_manifest, name, reference, _operator(request))
    await recorded(ctx, request, manifest_change("DELETE", name, reference), write, 202)
    return Response(None, status_code=202)
