"""The single /v2 route table. Repository names contain '/', so routes match from the end."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from moorage.api.access import Action
from moorage.api.oci import blobs, discovery, manifests, proxy, uploads
from moorage.api.oci.audit import ManifestChange, manifest_change, refused
from moorage.api.oci.context import OciContext
from moorage.api.oci.errors import OciError, to_response
from moorage.oci import errors as oci
from moorage.oci import names

Handler = Callable[..., Awaitable[Response]]
PULL, PUSH, DELETE = (frozenset({a}) for a in (Action.PULL, Action.PUSH, Action.DELETE))

ROUTES: tuple[tuple[re.Pattern[str], dict[str, tuple[Handler, frozenset[Action]]]], ...] = (
    (
        re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": (manifests.get, PULL),
            "HEAD": (manifests.head, PULL),
            "PUT": (manifests.put, PUSH),
            "DELETE": (manifests.delete, DELETE),
        },
    ),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), {"POST": (uploads.start, PUSH)}),
    (
        re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "GET": (uploads.status, PUSH),
            "PATCH": (uploads.patch, PUSH),
            "PUT": (uploads.finish, PUSH),
            "DELETE": (uploads.cancel, PUSH),
        },
    ),
    (
        re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"),
        {
            "GET": (blobs.get, PULL),
            "HEAD": (blobs.head, PULL),
            "DELETE": (blobs.delete, DELETE),
        },
    ),
    (re.compile(r"^(?P<name>.+)/tags/list$"), {"GET": (discovery.tags, PULL)}),
    (
        re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"),
        {"GET": (discovery.referrers, PULL)},
    ),
)

# The protocol's changes the audit log records (`moorage.api.oci.audit`).
AUDITED: frozenset[Handler] = frozenset({manifests.put, manifests.delete})

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


def _match(raw_path: str, method: str) -> tuple[Handler, frozenset[Action], dict[str, Any]]:
    """Match the still percent-encoded path, so an encoded '/' inside a component (say an
    upload id of `..%2F..`) stays inside that component; then decode each part."""
    for pattern, methods in ROUTES:
        found = pattern.match(raw_path)
        if found is None:
            continue
        if method not in methods:
            raise OciError(oci.UNSUPPORTED, f"{method} is not supported here")
        handler, actions = methods[method]
        return handler, actions, {k: unquote(v) for k, v in found.groupdict().items()}
    raise OciError(oci.NAME_UNKNOWN, "unknown endpoint", status=404)


def _raw_path(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    return raw.decode("latin-1").split("?", 1)[0].removeprefix("/v2/")


def _check_name(name: str, host: str) -> None:
    try:
        names.check_repository_name(name, host)
        names.split_repository(name)
    except names.InvalidNameError as exc:
        raise OciError(oci.NAME_INVALID, str(exc)) from None


async def dispatch(ctx: OciContext, request: Request) -> Response:
    """Every request under /v2/."""
    path: str = request.path_params.get("path", "")
    method = request.method
    change: ManifestChange | None = None  # a manifest push or delete, for the audit log
    try:
        if path in ("", "/"):
            await ctx.authorizer.authorize(request, None, frozenset())
            return JSONResponse({}, headers=API_VERSION)
        if path == "_catalog":
            if method != "GET":
                raise OciError(oci.UNSUPPORTED, f"{method} is not supported here")
            request.state.identity = await ctx.authorizer.authorize(request, None, frozenset())
            response = await discovery.catalog(ctx, request)
        else:
            handler, actions, params = _match(_raw_path(request), method)
            if handler in AUDITED:
                change = manifest_change(method, params["name"], params["reference"])
            _check_name(params["name"], request.headers.get("host", ""))
            request.state.identity = await ctx.authorizer.authorize(
                request, params["name"], actions
            )
            response = await proxy.serve(ctx, request, handler, params)
    except Exception as exc:
        response = to_response(exc)
        if change is not None:
            await refused(ctx, request, change, response.status_code, exc)
    response.headers.update(API_VERSION)
    return response
