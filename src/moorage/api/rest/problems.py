"""Errors as RFC 9457 problem details (`application/problem+json`), mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from moorage.domain.kernel import errors as d

log = logging.getLogger("moorage.api.rest")
PROBLEM_JSON = "application/problem+json"

# Most specific first.
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (d.NotFound, 404, "not-found"),
    (d.Protected, 412, "protected"),
    (d.Conflict, 409, "conflict"),
    (d.TooLarge, 413, "too-large"),
    (d.InvalidInput, 400, "invalid-input"),
    (d.Unsupported, 400, "unsupported"),
)


class ApiError(Exception):
    """An error the HTTP layer answers itself (authentication, permission)."""

    def __init__(
        self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.headers = status, kind, detail, headers or {}


def problem(
    status: int,
    kind: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://moorage.dev/problems/{kind}",
        "title": kind.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _domain_error(request: Request, exc: Exception) -> Response:
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return problem(status, kind, str(exc), instance=request.url.path)
    if isinstance(exc, d.Busy):
        log.warning("database busy: %s", exc)
        return problem(
            503,
            "busy",
            "busy, retry shortly",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, d.StorageFailure):
        log.error("storage failure", exc_info=exc)
        return problem(503, "storage-unavailable", "storage failure", instance=request.url.path)
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "internal-error", "internal server error", instance=request.url.path)


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.kind, exc.detail, instance=request.url.path, headers=exc.headers)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(x['location'])}: {x['message']}" for x in errors)
    return problem(
        422, "validation-failed", detail, instance=request.url.path, extra={"errors": errors}
    )


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem(exc.status_code, kind, str(exc.detail), instance=request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(d.DomainError, _domain_error)
    app.add_exception_handler(Exception, _domain_error)
