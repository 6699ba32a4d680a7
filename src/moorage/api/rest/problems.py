"""Errors as RFC 9457 problem details (`application/problem+json`), mapped in one place."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from moorage.domain.content.errors import TagPointsElsewhere
from moorage.domain.kernel import errors as d
from moorage.domain.policies.errors import InvalidCron

log = logging.getLogger("moorage.api.rest")
PROBLEM_JSON = "application/problem+json"

# Most specific first.
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (d.NotFound, 404, "not-found"),
    (d.Protected, 412, "protected"),
    (d.LimitReached, 409, "limit-reached"),
    (d.AlreadyExists, 409, "already-exists"),
    (d.Conflict, 409, "conflict"),
    (d.TooLarge, 413, "too-large"),
    (d.InvalidInput, 400, "invalid-input"),
    (d.Unsupported, 400, "unsupported"),
)


# Every schedule the API takes is a body member named `cron`.
CRON_FIELD = "cron"


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


@contextmanager
def in_field(name: str) -> Iterator[None]:
    """Invalid input raised inside is blamed on the request's parameter `name` (dotted for
    a member of the body: `image.pattern`), which the problem's `errors` then names."""
    try:
        yield
    except d.InvalidParameter:
        raise
    except d.InvalidInput as exc:
        raise d.InvalidParameter(name, str(exc)) from exc


def field_error(field: str, detail: str) -> dict[str, Any]:
    """An item of a problem's `errors`: the parameter at fault (dotted for a member of the
    body, `image.pattern`) and what is wrong with it."""
    return {"field": field, "detail": detail}


def _members(exc: Exception) -> dict[str, Any]:
    """The problem's members beyond RFC 9457's, from what the domain error carries."""
    if isinstance(exc, d.InvalidParameter):
        return {"errors": [field_error(exc.parameter, str(exc))]}
    if isinstance(exc, InvalidCron):
        return {"errors": [field_error(CRON_FIELD, str(exc))]}
    if isinstance(exc, d.LimitReached):
        return {"limit": exc.limit}
    if isinstance(exc, TagPointsElsewhere):
        return {"tag": exc.tag, "digest": exc.digest}
    return {}


def _domain_error(request: Request, exc: Exception) -> Response:
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            path = request.url.path
            return problem(status, kind, str(exc), instance=path, extra=_members(exc))
    if isinstance(exc, d.OutOfSpace):
        log.error("out of space: %s", exc)
        return problem(
            503,
            "out-of-space",
            f"the registry's {exc.store} is full; retry once space is freed",
            instance=request.url.path,
            headers={"Retry-After": str(exc.retry_after)},
        )
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
    errors = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ())]
        # body.rule.count → rule.count; query.page_size → page_size; the body itself → body
        field = ".".join(location[1:]) or ".".join(location)
        message = str(error.get("msg", ""))
        errors.append({**field_error(field, message), "location": location, "message": message})
    detail = "; ".join(f"{'.'.join(x['location'])}: {x['message']}" for x in errors)
    return problem(
        422, "validation-failed", detail, instance=request.url.path, extra={"errors": errors}
    )


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem(exc.status_code, kind, str(exc.detail), instance=request.url.path)


def status_of(exc: BaseException) -> int:
    """The status the handlers below answer `exc` with (for the audit log of a refusal)."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    found = next((status for cls, status, _ in _STATUS if isinstance(exc, cls)), None)
    if found is not None:
        return found
    return 503 if isinstance(exc, d.Busy | d.StorageFailure) else 500


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(d.DomainError, _domain_error)
    app.add_exception_handler(Exception, _domain_error)
