"""Content discovery: tag listing, the referrers API and the catalog."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError
from moorage.oci import errors as oci
from moorage.oci.limits import NumberError, parse_count
from moorage.oci.mediatypes import OCI_INDEX

MAX_PAGE = 10_000


def _page_size(request: Request, default: int | None) -> int | None:
    value = request.query_params.get("n")
    if value is None or value == "":
        return default
    try:
        return min(parse_count(value, "n"), MAX_PAGE)
    except NumberError as exc:
        raise OciError(oci.PAGINATION_NUMBER_INVALID, str(exc)) from None


def _paged(
    path: str, key: str, items: list[str], limit: int | None, extra: dict[str, Any]
) -> Response:
    headers = {}
    if limit is not None and len(items) > limit:
        items = items[:limit]
        query = urlencode({"n": limit, "last": items[-1]})
        headers["Link"] = f'<{path}?{query}>; rel="next"'
    return JSONResponse({**extra, key: items}, headers=headers)


async def tags(ctx: OciContext, request: Request, name: str) -> Response:
    limit = _page_size(request, None)
    last = request.query_params.get("last") or None
    if limit == 0:
        return JSONResponse({"name": name, "tags": []})
    fetch = None if limit is None else limit + 1  # one more tells whether a next page exists
    found = await ctx.read(ctx.artifacts.list_tags, name, last, fetch)
    return _paged(f"/v2/{name}/tags/list", "tags", found, limit, {"name": name})


async def catalog(ctx: OciContext, request: Request) -> Response:
    limit = _page_size(request, 1000)
    assert limit is not None
    last = request.query_params.get("last") or None
    if limit == 0:
        return JSONResponse({"repositories": []})
    registries = await ctx.authorizer.readable_registries(request.state.identity)
    found = await ctx.read(ctx.artifacts.catalog, last, limit + 1, registries)
    return _paged("/v2/_catalog", "repositories", found, limit, {})


async def referrers(ctx: OciContext, request: Request, name: str, digest: str) -> Response:
    artifact_type = request.query_params.get("artifactType") or None
    found = await ctx.read(ctx.artifacts.referrers, name, digest, artifact_type)
    manifests = []
    for ref in found:
        desc: dict[str, Any] = {"mediaType": ref.media_type, "digest": ref.digest, "size": ref.size}
        if ref.artifact_type:
            desc["artifactType"] = ref.artifact_type
        if ref.annotations:
            desc["annotations"] = ref.annotations
        manifests.append(desc)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return JSONResponse(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
        headers=headers,
        media_type=OCI_INDEX,
    )
