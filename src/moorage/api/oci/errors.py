"""Domain and protocol failures → `{"errors": [{code, message, detail}]}`, in one place."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from moorage.domain.content.errors import InvalidDigest, InvalidManifest, InvalidName, InvalidTag
from moorage.domain.kernel import errors as d
from moorage.oci import errors as oci

log = logging.getLogger("moorage.api.oci")


class OciError(Exception):
    """An error answered straight from the HTTP layer (bad headers, unknown endpoint)."""

    def __init__(
        self,
        code: oci.ErrorCode,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.status = status or code.status
        self.headers = headers or {}
        self.detail = detail


# Most specific first: the first matching class wins.
_DOMAIN_CODES: tuple[tuple[type[Exception], oci.ErrorCode, int | None], ...] = (
    (d.RegistryNotFound, oci.NAME_UNKNOWN, None),
    (d.ImageNotFound, oci.NAME_UNKNOWN, None),
    (d.ManifestNotFound, oci.MANIFEST_UNKNOWN, None),
    (d.BlobNotFound, oci.BLOB_UNKNOWN, None),
    (d.UploadNotFound, oci.BLOB_UPLOAD_UNKNOWN, None),
    (InvalidName, oci.NAME_INVALID, None),
    (InvalidTag, oci.TAG_INVALID, None),
    (InvalidDigest, oci.DIGEST_INVALID, None),
    (d.DigestMismatch, oci.DIGEST_INVALID, None),
    (InvalidManifest, oci.MANIFEST_INVALID, None),
    (d.ManifestBlobUnknown, oci.MANIFEST_BLOB_UNKNOWN, None),
    (d.RangeInvalid, oci.RANGE_INVALID, None),
    (d.SizeMismatch, oci.SIZE_INVALID, None),
    (d.TooLarge, oci.SIZE_INVALID, 413),
    (d.Protected, oci.DENIED, 412),
    (d.Conflict, oci.DENIED, 409),
    (d.Unsupported, oci.UNSUPPORTED, None),
    (d.InvalidInput, oci.BLOB_UPLOAD_INVALID, None),
)


def error_response(
    code: oci.ErrorCode,
    message: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    detail: Any = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code.code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(
        {"errors": [body]}, status_code=status or code.status, headers=headers or {}
    )


def to_response(exc: Exception) -> JSONResponse:
    """The protocol's answer for any exception; unexpected ones are logged and become 500."""
    if isinstance(exc, OciError):
        return error_response(
            exc.code, str(exc), status=exc.status, headers=exc.headers, detail=exc.detail
        )
    for cls, code, status in _DOMAIN_CODES:
        if isinstance(exc, cls):
            return error_response(code, str(exc), status=status)
    if isinstance(exc, ClientDisconnect):
        # The client went away or its body stalled: logged and counted once where that was
        # noticed (`api.app.ClientWatch`). The answer reaches a stalled client, if anyone.
        return error_response(
            oci.BLOB_UPLOAD_INVALID, "the request body was not completed", status=400
        )
    if isinstance(exc, d.OutOfSpace):
        log.error("out of space: %s", exc)
        return error_response(
            oci.UNAVAILABLE,
            f"the registry's {exc.store} is full; retry once space is freed",
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, d.Busy):
        log.warning("database busy: %s", exc)
        return error_response(
            oci.TOO_MANY_REQUESTS, "busy, retry shortly", status=503, headers={"Retry-After": "1"}
        )
    if isinstance(exc, d.StorageFailure):
        log.error("storage failure", exc_info=exc)
        return error_response(oci.UNAVAILABLE, "storage failure")
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(
        {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}, status_code=500
    )
