"""create_rest_app: the /api/v1 FastAPI application (mounted by `moorage.api.app`)."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from moorage import __version__
from moorage.api.rest import identity, images, policies, problems, registries
from moorage.api.rest.deps import RestServices
from moorage.api.rest.security import RestSecurity

DESCRIPTION = """The management API of moorage: registries, images, artifacts, tags, projects,
members, users and access keys. Authenticate with HTTP Basic (user name and password, or
access key ID and secret), or with the console's session cookie plus `X-CSRF-Token`.
Errors are RFC 9457 problem details. Lists are paged (`page`, `page_size` ≤ 100) and report
their `total`. Image names go into paths percent-encoded (`/` as `%2F`)."""


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
    for module in (registries, images, policies, identity):
        app.include_router(module.router)
    problems.install(app)
    return app


class EncodedSlashes:
    """Keeps `%2F` inside one path segment for the REST API (`images/team%2Fapp/artifacts`).

    ASGI servers decode the path before routing, which would turn an encoded image name into
    several segments; this rebuilds the path from `raw_path`, decoding all but `%2F`.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and scope["path"].startswith(self.prefix):
            segments = raw.decode("latin-1").split("?", 1)[0].split("/")
            scope = {
                **scope,
                "path": "/".join(unquote(s).replace("/", "%2F") for s in segments),
            }
        await self.app(scope, receive, send)
