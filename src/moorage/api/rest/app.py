"""create_rest_app: the /api/v1 FastAPI application (mounted by `moorage.api.app`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from moorage import __version__
from moorage.api.rest import (
    audit,
    deployment,
    gc,
    identity,
    images,
    policies,
    problems,
    registries,
    replication,
    webhooks,
)
from moorage.api.rest.security import RestSecurity
from moorage.api.rest.services import RestServices

DESCRIPTION = """The management API of moorage: registries, images, artifacts, tags, protection,
cleanup, webhooks, replication, projects, members, users, access keys, garbage collection and
a summary of the deployment.
Authenticate with HTTP Basic (user name and password, or access key ID and secret), or with
the console's session cookie plus `X-CSRF-Token`. Errors are RFC 9457 problem details whose
`type` ends in the kind of failure (`not-found`, `already-exists`, `limit-reached`, `conflict`,
`protected`, `invalid-input`, `validation-failed`…); a parameter at fault is named in `errors`
(`field`, `detail`). Lists are paged (`page`, `page_size` ≤ 100) and report their `total`.
Image names go into paths percent-encoded (`/` as `%2F`). Each request is one transaction."""


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "limit": {"type": "integer", "description": "limit-reached: the most allowed"},
        "tag": {"type": "string", "description": "already-exists for a tag: its name"},
        "digest": {
            "type": "string",
            "description": "already-exists for a tag: the artifact it points at",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "the parameter at fault, dotted for a member of the "
                        "body (`rule.count`)",
                    },
                    "detail": {"type": "string"},
                    "location": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "schema errors (422): where, as FastAPI names it",
                    },
                    "message": {"type": "string", "description": "schema errors (422)"},
                },
            },
        },
    },
}
ERROR_RESPONSES = {
    "400": "invalid input (a rule of moorage's)",
    "401": "no or wrong credentials",
    "403": "the caller's role does not allow this",
    "404": "not found",
    "409": "conflicts with the current state: `already-exists`, `limit-reached` or "
    "`conflict` (anything else, such as a run still in progress)",
    "412": "refused by a protection policy",
    "422": "the request does not match the schema",
    "429": "too many failed sign-ins for the account (or from the address): try again after "
    "`Retry-After` seconds",
}


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, with the errors as served: problem details, and the schemes."""

    def document() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["Problem"] = PROBLEM_SCHEMA
        components["securitySchemes"] = {
            "basic": {"type": "http", "scheme": "basic", "description": _BASIC},
            "session": {"type": "apiKey", "in": "cookie", "name": "moorage_session"},
        }
        doc["security"] = [{"basic": []}, {"session": []}]
        reference = {"$ref": "#/components/schemas/Problem"}
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, text in ERROR_RESPONSES.items():
                    responses[status] = {
                        "description": text,
                        "content": {"application/problem+json": {"schema": reference}},
                    }
        app.openapi_schema = doc
        return doc

    return document


_BASIC = "user name and password, or access key ID and secret"
# each module's `router`
ROUTERS = (registries, images, policies, webhooks, replication, identity, gc, deployment, audit)


def _operation_id(route: APIRoute) -> str:
    return route.name  # stable ids: the console and generated clients rely on them


def create_rest_app(services: RestServices, security: RestSecurity) -> FastAPI:
    app = FastAPI(
        title="moorage",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.services = services
    app.state.security = security
    for module in ROUTERS:
        app.include_router(module.router)
    problems.install(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
