"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>: from the local file when the store has one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from moorage.api.oci.blob_file import BlobFileResponse
from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError
from moorage.oci import errors as oci
from moorage.oci.ranges import RangeError, parse_range

OCTET = "application/octet-stream"


def blob_headers(digest: str, size: int) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "Content-Length": str(size),
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }


async def head(ctx: OciContext, request: Request, name: str, digest: str) -> Response:
    blob = await ctx.uploads.stat_blob(name, digest)
    return Response(None, headers=blob_headers(blob.digest, blob.size), media_type=OCTET)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range, or None for the whole blob."""
    try:
        return parse_range(header, size)
    except RangeError:
        raise OciError(
            oci.RANGE_INVALID,
            "requested range not satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None


async def get(ctx: OciContext, request: Request, name: str, digest: str) -> Response:
    blob = await ctx.uploads.stat_blob(name, digest)
    source = await ctx.uploads.blob_source(blob.digest, private=request.state.private_host)
    if source.redirect_url is not None:
        return RedirectResponse(source.redirect_url, status_code=307)
    headers = blob_headers(blob.digest, blob.size)
    path = source.local_path
    if path is not None:
        del headers["Content-Length"]  # BlobFileResponse sets it (and handles Range)
        return BlobFileResponse(path, headers=headers, media_type=OCTET)
    byte_range = _byte_range(request.headers.get("range"), blob.size)
    if byte_range is None:
        chunks = ctx.uploads.read_verified(blob.digest, blob.size)
        return StreamingResponse(chunks, headers=headers, media_type=OCTET)
    start, end = byte_range
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    return StreamingResponse(
        ctx.uploads.read_range(blob.digest, start, end - start + 1),
        status_code=206,
        headers=headers,
        media_type=OCTET,
    )


async def delete(ctx: OciContext, request: Request, name: str, digest: str) -> Response:
    await ctx.uploads.delete_blob(name, digest)
    return Response(None, status_code=202)
