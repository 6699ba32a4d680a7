"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from moorage.api.oci.audit import manifest_change, recorded
from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError
from moorage.domain.content.artifacts import helm_chart_of_config, is_digest, parse_manifest
from moorage.domain.kernel.model import HelmChart
from moorage.oci import errors as oci
from moorage.oci.limits import NumberError, parse_count
from moorage.oci.manifests import (
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    ParsedManifest,
    helm_config,
    platform_of_config,
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


async def _from_config(
    ctx: OciContext, name: str, parsed: ParsedManifest
) -> tuple[str | None, HelmChart | None]:
    """What lists show of an artifact that its config blob says: an image's
    `os/arch[/variant]`, or a Helm chart's name and versions."""
    config = ctx.artifacts.config_to_read(parsed)
    if config is None:
        return None, None
    # Straight from the store: the push's transaction checks the config is the image's.
    data = await ctx.uploads.peek_small(config, MAX_CONFIG_BYTES)
    if not data:
        return None, None
    if helm_config(parsed) is not None:
        return None, helm_chart_of_config(data)
    return platform_of_config(data), None


async def put(ctx: OciContext, request: Request, name: str, reference: str) -> Response:
    body = await _read_capped(request, MAX_MANIFEST_BYTES)
    content_type = request.headers.get("content-type", "")
    parsed = await ctx.blocking.compute(len(body), parse_manifest, body, content_type)
    platform, helm_chart = await _from_config(ctx, name, parsed)
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
