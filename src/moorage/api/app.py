"""create_app(services, settings): the one ASGI application moorage serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from moorage.api.access import Authorizer, OpenAccess
from moorage.api.auth import TOKEN_PATH, SignIn, TokenAuthorizer
from moorage.api.metrics import Metrics
from moorage.api.oci.context import OciContext
from moorage.api.oci.routes import dispatch
from moorage.api.rest.app import EncodedSlashes, create_rest_app
from moorage.api.rest.deps import RestServices
from moorage.api.rest.security import RestSecurity, SessionCodec
from moorage.api.tokens import TokenSigner
from moorage.config import Settings
from moorage.console.app import create_console_app
from moorage.domain.artifacts import ArtifactService, PullRecorder
from moorage.domain.browse import BrowseService
from moorage.domain.cleanup_runs import CleanupRunService
from moorage.domain.identity import IdentityService
from moorage.domain.policies import PolicyService
from moorage.domain.ports import Services
from moorage.domain.registries import RegistryService
from moorage.domain.throttle import LoginThrottle
from moorage.domain.uploads import UploadService
from moorage.domain.webhooks import WebhookService

log = logging.getLogger("moorage.api")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REST_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class AppOptions:
    pull_flush_seconds: float = 1.0
    upload_purge_seconds: float = 3600.0


async def _every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        await anyio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("background %s failed", what)


class HostMarker:
    """Marks requests that came through the private host (SPEC §9)."""

    def __init__(self, app: ASGIApp, private_host: str | None) -> None:
        self.app = app
        self.private_host = private_host.lower() if private_host else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            private = False
            if self.private_host:
                for key, value in scope["headers"]:
                    if key == b"host":
                        private = value.decode("latin-1").lower() == self.private_host
                        break
            scope.setdefault("state", {})["private_host"] = private
        await self.app(scope, receive, send)


def _authorizer(sign_in: SignIn | None, services: Services, settings: Settings) -> Authorizer:
    if sign_in is None:
        return OpenAccess()
    signer = TokenSigner(
        services.token_key, settings.token_service, settings.token_lifetime_minutes * 60
    )
    return TokenAuthorizer(sign_in, signer)


def create_app(
    services: Services, settings: Settings, options: AppOptions | None = None
) -> ASGIApp:
    opts = options or AppOptions()
    identities = IdentityService(services.uow, services.password_hasher)
    sign_in = None if settings.auth == "none" else SignIn(identities, LoginThrottle())
    authorizer = _authorizer(sign_in, services, settings)
    artifacts = ArtifactService(services.uow)
    pulls = PullRecorder(services.uow)
    uploads = UploadService(services.uow, services.blobs, inline_reads=services.local_metadata)
    ctx = OciContext(
        artifacts=artifacts,
        uploads=uploads,
        pulls=pulls,
        authorizer=authorizer,
        inline_reads=services.local_metadata,
    )
    rest = create_rest_app(
        RestServices(
            registries=RegistryService(services.uow),
            browse=BrowseService(services.uow),
            artifacts=artifacts,
            identities=identities,
            policies=PolicyService(services.uow),
            cleanup_runs=CleanupRunService(services.uow, artifacts),
            webhooks=WebhookService(
                services.uow, services.webhook_sender, public_host=services.public_host
            ),
            public_host=services.public_host,
            private_host=services.private_host,
        ),
        RestSecurity(identities, sign_in, SessionCodec(services.token_key or b"open-mode")),
    )

    metrics = Metrics()

    async def v2(request: Request) -> Response:
        return await metrics.observe("registry", request.method, lambda: dispatch(ctx, request))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        def ping() -> None:
            with services.uow() as store:
                store.count_users()

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                _every, opts.pull_flush_seconds, lambda: run_in_threadpool(pulls.flush), "pulls"
            )
            expiry = timedelta(hours=settings.upload_expiry_hours)
            tasks.start_soon(
                _every, opts.upload_purge_seconds, partial(uploads.purge_expired, expiry), "purge"
            )
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                await run_in_threadpool(pulls.flush)

    routes = [
        Route("/v2/{path:path}", v2, methods=ALL_METHODS),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.endpoint),
        Mount(REST_PREFIX, app=rest),
    ]
    if isinstance(authorizer, TokenAuthorizer):
        routes.append(Route(TOKEN_PATH, authorizer.token_endpoint, methods=["GET", "POST"]))
    routes.append(Mount("/", app=create_console_app()))
    app = Starlette(routes=routes, lifespan=lifespan)
    return HostMarker(EncodedSlashes(app, REST_PREFIX), services.private_host)
