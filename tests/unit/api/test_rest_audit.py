"""Every write route of the REST API says what it changes for the audit log, and each name
it records is filled from something the route has: a path parameter, a body field, a
response field or the caller."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from pydantic import BaseModel

from moorage.api.rest.app import ROUTERS
from moorage.api.rest.auditing import CHANGES, NOT_CHANGES
from moorage.api.rest.routing import SAFE_METHODS


def _write_routes() -> list[APIRoute]:
    routes = [r for module in ROUTERS for r in module.router.routes if isinstance(r, APIRoute)]
    return [r for r in routes if set(r.methods) - SAFE_METHODS]


def _fields(model: object) -> set[str]:
    return (
        set(model.model_fields)
        if isinstance(model, type) and issubclass(model, BaseModel)
        else set()
    )


def test_every_write_route_is_listed() -> None:
    names = {r.name for r in _write_routes()}
    assert names - set(CHANGES) - NOT_CHANGES == set()


def test_every_name_is_filled_from_the_route() -> None:
    for route in _write_routes():
        if route.name in NOT_CHANGES:
            continue
        _, _, template = CHANGES[route.name]
        body = route.body_field.field_info.annotation if route.body_field is not None else None
        known = set(re.findall(r"\{(\w+)\}", route.path_format)) | {"caller"}
        known |= {f"body.{f}" for f in _fields(body)}
        known |= {f"result.{f}" for f in _fields(route.response_model)}
        used = set(re.findall(r"\{([a-z_.]+)\}", template))
        assert used <= known, (route.name, used - known)
