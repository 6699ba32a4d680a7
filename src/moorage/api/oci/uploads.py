"""POST/PATCH/PUT/GET/DELETE /v2/<name>/blobs/uploads/…: every upload style of the spec."""

from __future__ import annotations

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from moorage.api.oci.context import OciContext, body_chunks, has_body
from moorage.api.oci.errors import OciError
from moorage.domain.content.uploads import UploadStatus
from moorage.domain.identity.access import Action
from moorage.domain.kernel.errors import RangeInvalid
from moorage.oci import errors as oci
from moorage.oci.limits import NumberError, parse_count
from moorage.oci.ranges import RangeError, parse_content_range

_DRAIN_BYTES = 64 * 1024 * 1024
_DRAIN_SECONDS = 30.0


def _upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def _progress(name: str, status: UploadStatus, code: int) -> Response:
    end = status.size - 1 if status.size > 0 else 0
    return Response(
        None,
        status_code=code,
        headers={
            "Location": _upload_location(name, status.id),
            "Range": f"0-{end}",
            "Docker-Upload-UUID": status.id,
            "Content-Length": "0",
        },
    )


def _created(name: str, digest: str) -> Response:
    return Response(
        None,
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return parse_count(value.strip(), "Content-Length")
    except NumberError as exc:
        raise OciError(oci.SIZE_INVALID, str(exc)) from None


async def start(ctx: OciContext, request: Request, name: str) -> Response:
    params = request.query_params
    mount, source = params.get("mount"), params.get("from")
    if mount and source and await _may_read(ctx, request, source):
        blob = await ctx.uploads.mount(name, mount, source)
        if blob is not None:
            return _created(name, blob.digest)
    digest = params.get("digest")
    if digest:  # monolithic: POST ?digest= with the whole blob as the body
        blob = await ctx.uploads.upload_whole(name, digest, body_chunks(request))
        return _created(name, blob.digest)
    return _progress(name, await ctx.uploads.start(name), 202)


async def _may_read(ctx: OciContext, request: Request, repository: str) -> bool:
    """Whether the caller may pull from a mount's source; if not, the mount just falls back
    to a normal upload, as when the blob is not there (nothing leaks either way)."""
    identity = request.state.identity
    return await ctx.authorizer.permits(identity, repository, frozenset({Action.PULL}))


def _range(request: Request) -> tuple[int, int] | None:
    header = request.headers.get("content-range")
    if header is None:
        return None
    try:
        return parse_content_range(header)
    except RangeError as exc:
        raise OciError(oci.RANGE_INVALID, str(exc)) from None


async def _discard_body(request: Request) -> None:
    """Read what is left of a refused request's body (bounded in bytes and time), so the
    client, still sending, receives the error instead of a reset connection."""
    if not has_body(request):
        return
    drained = 0
    with anyio.move_on_after(_DRAIN_SECONDS):
        try:
            async for chunk in request.stream():
                drained += len(chunk)
                if drained > _DRAIN_BYTES:
                    return
        except (RuntimeError, ClientDisconnect):  # already read, or the client left
            return


async def _out_of_order(
    ctx: OciContext, request: Request, name: str, upload_id: str, exc: RangeInvalid
) -> Response:
    await _discard_body(request)
    status = UploadStatus(upload_id, exc.offset)
    headers = dict(_progress(name, status, 416).headers)
    headers.pop("content-length", None)
    raise OciError(oci.RANGE_INVALID, str(exc), headers=headers)


async def patch(ctx: OciContext, request: Request, name: str, upload_id: str) -> Response:
    content_range = _range(request)
    length = _content_length(request)
    if content_range is not None:
        span = content_range[1] - content_range[0] + 1
        if length is not None and length != span:
            raise OciError(
                oci.RANGE_INVALID, f"Content-Range covers {span} bytes, Content-Length is {length}"
            )
        length = span
    try:
        status = await ctx.uploads.append(
            name,
            upload_id,
            body_chunks(request),
            start=content_range[0] if content_range else None,
            length=length,
        )
    except RangeInvalid as exc:
        return await _out_of_order(ctx, request, name, upload_id, exc)
    return _progress(name, status, 202)


async def finish(ctx: OciContext, request: Request, name: str, upload_id: str) -> Response:
    digest = request.query_params.get("digest")
    if not digest:
        raise OciError(oci.DIGEST_INVALID, "the digest query parameter is required")
    chunks = body_chunks(request) if has_body(request) else None
    content_range = _range(request)
    try:
        if content_range is not None and chunks is not None:
            await ctx.uploads.append(name, upload_id, chunks, start=content_range[0])
            chunks = None
        blob = await ctx.uploads.finish(name, upload_id, digest, chunks)
    except RangeInvalid as exc:  # out of order, or another request is writing to it
        return await _out_of_order(ctx, request, name, upload_id, exc)
    return _created(name, blob.digest)


async def status(ctx: OciContext, request: Request, name: str, upload_id: str) -> Response:
    return _progress(name, await ctx.uploads.status(name, upload_id), 204)


async def cancel(ctx: OciContext, request: Request, name: str, upload_id: str) -> Response:
    try:
        await ctx.uploads.cancel(name, upload_id)
    except RangeInvalid as exc:  # another request is writing to it
        return await _out_of_order(ctx, request, name, upload_id, exc)
    return Response(None, status_code=204)
