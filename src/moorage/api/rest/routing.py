"""One REST request, one transaction: the route class every router of the API uses.

A plain (`def`) endpoint runs in one worker thread, inside one scope of the unit of work:
the permission checks and every service it calls join a single transaction, opened on
first use and committed before the response is sent. A request that fails half-way leaves
nothing behind, and what it reads is one consistent snapshot. Safe methods (GET, HEAD)
read; the others write (on SQLite they take the write lock at their first database access
and hold it to the end of the endpoint, never across the network).

The few endpoints that wait on something slow that is not the database — a password check
with its throttling delay, a webhook test that calls out — are `async def`: they run on the
event loop, and each service call they make goes through `Blocking` as its own transaction.

Every write is recorded in the audit log (`moorage.api.rest.auditing`): a plain endpoint's
success in its own transaction, a refusal or an `async` endpoint's outcome after it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute, APIRouter

from moorage.api.rest.auditing import RequestAudit
from moorage.domain.kernel.ports import UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class _RequestUnit:
    unit: UnitOfWork[Any]
    write: bool
    audit: RequestAudit | None  # a write's record in the audit log


_REQUEST_UNIT: ContextVar[_RequestUnit | None] = ContextVar("moorage_rest_unit", default=None)


class RequestRoute(APIRoute):
    """An `APIRoute` whose plain endpoints run as one transaction (see the module)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_one_transaction(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def with_unit(request: Request) -> Response:
            write = request.method not in SAFE_METHODS
            audit = RequestAudit.of(request, self) if write else None
            unit = _RequestUnit(request.app.state.services.uow, write, audit)
            token = _REQUEST_UNIT.set(unit)  # copied into the worker thread with the context
            try:
                if audit is None:
                    return await handle(request)
                return await audit.around(handle(request))
            finally:
                _REQUEST_UNIT.reset(token)

        return with_unit


def in_one_transaction(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, run inside the scope of the request's unit of work."""
    if getattr(endpoint, "in_one_transaction", False):
        return endpoint  # already wrapped (a router included into another copies its routes)

    @functools.wraps(endpoint)  # FastAPI reads the parameters through __wrapped__
    def run(*args: Any, **kwargs: Any) -> Any:
        request = _REQUEST_UNIT.get()
        if request is None:
            raise RuntimeError(f"{endpoint.__name__} was called outside a RequestRoute")
        with request.unit.scope(write=request.write):
            result = endpoint(*args, **kwargs)
            if request.audit is not None:
                request.audit.done(kwargs, result)  # in the same transaction as the change
            return result

    run.in_one_transaction = True  # type: ignore[attr-defined]
    return run


def api_router(**kwargs: Any) -> APIRouter:
    """A router of the API: its routes are `RequestRoute`s."""
    return APIRouter(route_class=RequestRoute, **kwargs)
