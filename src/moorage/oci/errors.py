"""The registry protocol's error codes: one registry, the only place they are defined."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    message: str
    status: int


_REGISTRY: dict[str, ErrorCode] = {}


def register(code: str, message: str, status: int) -> ErrorCode:
    if code in _REGISTRY:
        raise ValueError(f"error code {code} registered twice")
    _REGISTRY[code] = entry = ErrorCode(code, message, status)
    return entry


def lookup(code: str) -> ErrorCode:
    return _REGISTRY[code]


BLOB_UNKNOWN = register("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = register("BLOB_UPLOAD_INVALID", "blob upload invalid", 400)
BLOB_UPLOAD_UNKNOWN = register("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)
DIGEST_INVALID = register("DIGEST_INVALID", "provided digest did not match uploaded content", 400)
MANIFEST_BLOB_UNKNOWN = register(
    "MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400
)
MANIFEST_INVALID = register("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = register("MANIFEST_UNKNOWN", "manifest unknown to registry", 404)
NAME_INVALID = register("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = register("NAME_UNKNOWN", "repository name not known to registry", 404)
SIZE_INVALID = register("SIZE_INVALID", "provided length did not match content length", 400)
TAG_INVALID = register("TAG_INVALID", "manifest tag did not match URI", 400)
UNAUTHORIZED = register("UNAUTHORIZED", "authentication required", 401)
DENIED = register("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = register("UNSUPPORTED", "the operation is unsupported", 405)
TOO_MANY_REQUESTS = register("TOOMANYREQUESTS", "too many requests", 429)
# Distribution's code for a registry that cannot serve for now (its storage is full or failing).
UNAVAILABLE = register("UNAVAILABLE", "service unavailable", 503)
RANGE_INVALID = register("RANGE_INVALID", "requested range not satisfiable", 416)
PAGINATION_NUMBER_INVALID = register(
    "PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400
)
